import fc from 'fast-check';
import { ProxyError } from '../../src/errors';
import { cleanFileName } from '../../src/upload/file-name';
import { buildMultipart, MULTIPART_TYPE } from '../support/multipart';
import { send, type SendResult } from '../support/send';
import { AUTH, startStack, type Stack } from '../support/stack';

/** Characters the README promises to remove: controls, NUL and bidirectional marks. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const REMOVED = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;

/**
 * Applies the README's rules: keeps the last path segment, removes the characters above,
 * normalises to NFC and trims. Returns undefined when the result is empty, `.` or `..`, or
 * longer than 255 bytes of UTF-8.
 */
function expectedName(raw: string): string | undefined {
  const segment = raw.split(/[/\\]/).pop() ?? '';
  const cleaned = segment.replace(REMOVED, '').normalize('NFC').trim();
  if (cleaned === '' || cleaned === '.' || cleaned === '..') return undefined;
  return Buffer.byteLength(cleaned, 'utf8') > 255 ? undefined : cleaned;
}

/** Characters that file names from hostile or careless callers are made of. */
const TRICKY = [
  'a',
  'Z',
  '7',
  '.',
  ' ',
  '-',
  '_',
  '/',
  '\\',
  '%',
  '"',
  "'",
  ';',
  '?',
  '#',
  '&',
  '+',
  '=',
  '*',
  'é',
  'e\u0301',
  'A\u030a',
  '\u1100\u1161',
  '€',
  '😀',
  '報',
  '\u00a0',
  '\u3000',
  '\ufeff',
  '\u0000',
  '\u0007',
  '\t',
  '\r',
  '\n',
  '\u001f',
  '\u007f',
  '\u0085',
  '\u009b',
  '\u061c',
  '\u200e',
  '\u200f',
  '\u202a',
  '\u202e',
  '\u2066',
  '\u2069',
];

const fileNames = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(...TRICKY), maxLength: 60 }),
  // Names around the 255-byte limit, with multi-byte characters to land on both sides of it.
  fc
    .tuple(fc.integer({ min: 240, max: 260 }), fc.constantFrom('', '€', 'é', '😀', '\u0007'))
    .map(([length, extra]) => `${'n'.repeat(length - 4)}${extra}.pdf`),
);

describe('cleanFileName', () => {
  it('follows the documented rules for any name', () => {
    fc.assert(
      fc.property(fileNames, (raw) => {
        const expected = expectedName(raw);
        if (expected === undefined) {
          expect(() => cleanFileName(raw)).toThrow(ProxyError);
          return;
        }
        const cleaned = cleanFileName(raw);
        expect(cleaned).toBe(expected);
        expect(cleaned).not.toMatch(REMOVED);
        expect(cleaned).not.toMatch(/[/\\]/);
        expect(cleaned.normalize('NFC')).toBe(cleaned);
        expect(Buffer.byteLength(cleaned, 'utf8')).toBeLessThanOrEqual(255);
      }),
      { numRuns: 2_000 },
    );
  });
});

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ emulator: { minuteLimit: 1_000_000, dayLimit: 10_000_000 } });
});

afterAll(async () => {
  await stack.close();
});

/** Encodes a name as RFC 5987 `filename*`, escaping every byte but letters and digits. */
function encodeExtended(name: string): string {
  const bytes = [...Buffer.from(name, 'utf8')];
  const encoded = bytes.map((byte) =>
    /[A-Za-z0-9]/.test(String.fromCharCode(byte))
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).padStart(2, '0')}`,
  );
  return `UTF-8''${encoded.join('')}`;
}

function expectRoundTrip(response: SendResult, raw: string, emptyCode = 'invalid_file_name'): void {
  const expected = expectedName(raw);
  if (expected === undefined) {
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe(raw === '' ? emptyCode : 'invalid_file_name');
    return;
  }
  expect(response.status).toBe(201);
  expect(response.json.files[0].fileName).toBe(expected);
  expect(stack.emulator.object(response.json.files[0].fileId)?.fileName).toBe(expected);
}

describe('file names over HTTP', () => {
  it('round-trip or fail in multipart filename*', async () => {
    await fc.assert(
      fc.asyncProperty(fileNames, async (raw) => {
        const body = buildMultipart([
          { name: 'featureType', value: 'chat' },
          { name: 'file', filenameStar: encodeExtended(raw), content: Buffer.from('hello') },
        ]);

        const response = await send(`${stack.url}/v1/files`, {
          headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
          body,
        });

        // busboy drops a part whose filename* is empty, so such a request has no file.
        expectRoundTrip(response, raw, 'missing_file');
      }),
      { numRuns: 60 },
    );
  });

  it('round-trip or fail in a raw fileName', async () => {
    await fc.assert(
      fc.asyncProperty(fileNames, async (raw) => {
        const response = await send(
          `${stack.url}/v1/files?featureType=chat&fileName=${encodeURIComponent(raw)}`,
          { headers: { ...AUTH, 'content-type': 'text/plain' }, body: Buffer.from('hello') },
        );

        expectRoundTrip(response, raw);
      }),
      { numRuns: 60 },
    );
  });
});
