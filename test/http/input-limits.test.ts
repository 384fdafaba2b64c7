import { connect } from 'node:net';
import { buildMultipart, BOUNDARY, MULTIPART_TYPE, type TestPart } from '../support/multipart';
import { send, type SendResult } from '../support/send';
import { AUTH, startStack, type Stack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { MAX_FILES_PER_REQUEST: '3', MAX_FILE_BYTES: '65536' } });
});

afterAll(async () => {
  await stack.close();
});

beforeEach(() => {
  stack.emulator.stats.reset();
});

function multipart(parts: TestPart[] | Buffer, query = ''): Promise<SendResult> {
  return send(`${stack.url}/v1/files${query}`, {
    headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
    body: Buffer.isBuffer(parts) ? parts : buildMultipart(parts),
  });
}

function raw(query: string, headers: Record<string, string> = {}): Promise<SendResult> {
  return send(`${stack.url}/v1/files${query}`, {
    headers: { ...AUTH, 'content-type': 'text/plain', ...headers },
    body: Buffer.from('hello'),
  });
}

const chat = { name: 'featureType', value: 'chat' };

function file(filename = 'a.txt', content = Buffer.from('hello')): TestPart {
  return { name: 'file', filename, content };
}

/** A file part whose name is sent as RFC 5987 `filename*`, so any byte can be in it. */
function encodedFile(name: string): TestPart {
  return {
    name: 'file',
    filenameStar: `UTF-8''${encodeURIComponent(name)}`,
    content: Buffer.from('hello'),
  };
}

function expectRejected(response: SendResult, status: number, code: string): void {
  expect(response.status).toBe(status);
  expect(response.json?.error?.code).toBe(code);
}

describe('file and part counts', () => {
  it('accepts MAX_FILES_PER_REQUEST files', async () => {
    const sized = [1, 2, 3].flatMap((n) => [{ name: 'size', value: '5' }, file(`${n}.txt`)]);

    const response = await multipart([chat, ...sized]);

    expect(response.status).toBe(201);
    expect(response.json.files).toHaveLength(3);
  });

  it('answers 413 too_many_files for one file more, listing those that landed', async () => {
    const sized = [1, 2, 3, 4].flatMap((n) => [{ name: 'size', value: '5' }, file(`${n}.txt`)]);

    const response = await multipart([chat, ...sized]);

    expectRejected(response, 413, 'too_many_files');
    expect(response.json.error.message).toContain('at most 3 files');
    const landed = response.json.files ?? [];
    expect(landed.length).toBeLessThanOrEqual(3);
    expect(stack.emulator.stats.completes).toBe(landed.length);
  });

  it('accepts 50 fields', async () => {
    const fields = Array.from({ length: 49 }, (_, i) => ({ name: `extra${i}`, value: 'x' }));

    const response = await multipart([chat, ...fields, file()]);

    expect(response.status).toBe(201);
  });

  it('answers 400 too_many_fields for 51 fields', async () => {
    const fields = Array.from({ length: 50 }, (_, i) => ({ name: `extra${i}`, value: 'x' }));

    const response = await multipart([chat, ...fields, file()]);

    expectRejected(response, 400, 'too_many_fields');
    expect(stack.emulator.stats.completes).toBe(0);
  });

  it('accepts the most fields and files together', async () => {
    const fields = Array.from({ length: 49 }, (_, i) => ({ name: `extra${i}`, value: 'x' }));
    const files = [1, 2, 3].map((n) => file(`${n}.txt`));

    const response = await multipart([chat, ...fields, ...files]);

    expect(response.status).toBe(201);
    expect(response.json.files).toHaveLength(3);
  });

  it('answers 400 too_many_parts for a flood of parts without a name', async () => {
    const empty = `--${BOUNDARY}\r\nX-Filler: 1\r\n\r\nx\r\n`.repeat(60);
    const body = Buffer.concat([Buffer.from(empty), buildMultipart([chat, file()])]);

    const response = await multipart(body);

    expectRejected(response, 400, 'too_many_parts');
    expect(response.json.error.message).toContain('at most 53 parts');
    expect(stack.emulator.stats.completes).toBe(0);
  });
});

describe('field and header sizes', () => {
  it('accepts a field of 8 KiB', async () => {
    const response = await multipart([{ name: 'note', value: 'x'.repeat(8192) }, chat, file()]);

    expect(response.status).toBe(201);
  });

  it('answers 400 field_too_long for a field one byte over 8 KiB', async () => {
    const response = await multipart([{ name: 'note', value: 'x'.repeat(8193) }, chat, file()]);

    expectRejected(response, 400, 'field_too_long');
    expect(response.json.error.message).toContain('"note"');
  });

  it.each([
    ['before a file', [chat, file()], 'first'],
    ['after a file', [chat, file()], 'last'],
    ['in a body without a file', [], 'last'],
  ])('answers 400 invalid_multipart for a part header over 16 KiB %s', async (_c, parts, at) => {
    const oversized = Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n` +
        `X-Padding: ${'p'.repeat(17 * 1024)}\r\n\r\nx\r\n`,
    );
    const valid = buildMultipart(parts);
    const body =
      at === 'first' ? Buffer.concat([oversized, valid]) : insertBeforeClose(valid, oversized);

    const response = await multipart(body);

    expectRejected(response, 400, 'invalid_multipart');
  });

  it('answers 431 to request headers over 16 KiB', async () => {
    const status = await rawStatusLine(
      `POST /v1/files HTTP/1.1\r\nHost: proxy\r\nX-Padding: ${'p'.repeat(17 * 1024)}\r\n` +
        'Content-Length: 0\r\n\r\n',
    );

    expect(status).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('answers 413 file_too_large for a declared size over MAX_FILE_BYTES before any upload', async () => {
    const response = await multipart([chat, { name: 'size', value: '65537' }, file()]);

    expectRejected(response, 413, 'file_too_large');
    expect(stack.emulator.stats.calls.generate.total).toBe(0);
  });

  it('answers 413 file_too_large for a raw Content-Length over MAX_FILE_BYTES', async () => {
    const response = await send(`${stack.url}/v1/files?featureType=chat&fileName=big.bin`, {
      headers: { ...AUTH, 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(65537),
    });

    expectRejected(response, 413, 'file_too_large');
    expect(stack.emulator.stats.calls.generate.total).toBe(0);
  });
});

/** Inserts `part` (framing included) before the closing delimiter of `body`. */
function insertBeforeClose(body: Buffer, part: Buffer): Buffer {
  const closing = body.lastIndexOf(`--${BOUNDARY}--`);
  return Buffer.concat([body.subarray(0, closing), part, body.subarray(closing)]);
}

/** Sends raw bytes on a new connection and returns the first line of the answer. */
function rawStatusLine(payload: string): Promise<string> {
  const { port } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('close', () => resolve(answer.split('\r\n')[0] ?? ''));
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? resolve(answer.split('\r\n')[0] ?? '') : reject(error),
    );
    socket.end(payload);
  });
}

describe('file names', () => {
  it('accepts a name of 255 bytes', async () => {
    const name = `${'n'.repeat(251)}.txt`;

    const response = await multipart([chat, file(name)]);

    expect(response.status).toBe(201);
    expect(response.json.files[0].fileName).toBe(name);
  });

  it.each([
    ['256 ASCII bytes', `${'n'.repeat(252)}.txt`],
    ['85 euro signs and one letter (256 bytes)', `${'€'.repeat(85)}a`],
  ])('answers 400 invalid_file_name for %s', async (_case, name) => {
    const response = await multipart([chat, encodedFile(name)]);

    expectRejected(response, 400, 'invalid_file_name');
    expect(response.json.error.message).toContain('255 bytes');
    expect(stack.emulator.stats.calls.generate.total).toBe(0);
  });

  it('counts the length after cleaning', async () => {
    const name = `${'\u0007'.repeat(40)}${'n'.repeat(251)}.txt`;

    const response = await multipart([chat, encodedFile(name)]);

    expect(response.status).toBe(201);
    expect(response.json.files[0].fileName).toBe(name.slice(40));
  });

  it.each([
    ['an empty filename', file('')],
    ['a name of control characters', encodedFile('\u0001\u0002\u0000')],
    ['a name of bidi marks', encodedFile('\u202e\u2066')],
    ['a bare directory', encodedFile('../..')],
    ['a name of spaces', encodedFile('   ')],
  ])('answers 400 for %s', async (_case, part) => {
    const response = await multipart([chat, part]);

    expect(response.status).toBe(400);
    expect(['invalid_file_name', 'missing_file_name']).toContain(response.json.error.code);
    expect(stack.emulator.stats.calls.generate.total).toBe(0);
  });

  it.each([
    ['an empty fileName field', [chat, { name: 'fileName', value: '' }, file()], ''],
    ['an empty fileName query parameter', [chat, file()], '?fileName='],
  ])('answers 400 invalid_file_name for %s', async (_case, parts, query) => {
    const response = await multipart(parts as TestPart[], query);

    expectRejected(response, 400, 'invalid_file_name');
  });

  it('answers 400 invalid_file_name for an empty raw fileName', async () => {
    expectRejected(await raw('?featureType=chat&fileName='), 400, 'invalid_file_name');
  });

  it.each([
    ['NUL and control characters', 'in\u0000vo\u0001ice\u007f.pdf', 'invoice.pdf'],
    ['a right-to-left override', 'invoice\u202efdp.exe', 'invoicefdp.exe'],
    ['isolates and marks', '\u2066re\u200fport\u2069.pdf', 'report.pdf'],
    ['C1 controls', 'a\u0085b\u009b.txt', 'ab.txt'],
    ['a decomposed accent', 'Cafe\u0301.txt', 'Caf\u00e9.txt'],
    ['directories', '../../etc/passwd', 'passwd'],
    ['Windows directories', 'C:\\temp\\report.pdf', 'report.pdf'],
  ])('removes %s from a multipart name', async (_case, name, expected) => {
    const response = await multipart([chat, encodedFile(name)]);

    expect(response.status).toBe(201);
    expect(response.json.files[0].fileName).toBe(expected);
    expect(stack.emulator.object(response.json.files[0].fileId)?.fileName).toBe(expected);
  });

  it('removes the same characters from a raw fileName', async () => {
    const name = encodeURIComponent('in\u0000vo\u202eice\u0301.pdf');

    const response = await raw(`?featureType=chat&fileName=${name}`);

    expect(response.status).toBe(201);
    expect(response.json.files[0].fileName).toBe('invoic\u00e9.pdf');
  });
});

describe('parameter values', () => {
  it.each([
    'pdf',
    'application/',
    '/pdf',
    'application/pdf; charset=utf-8',
    'a/b/c',
    'text/pl ain',
  ])('answers 400 invalid_file_type_hint for %j', async (hint) => {
    const response = await multipart([chat, { name: 'fileTypeHint', value: hint }, file()]);

    expectRejected(response, 400, 'invalid_file_type_hint');
    expect(response.json.error.message).toContain('type/subtype');
  });

  it('lower-cases a valid fileTypeHint', async () => {
    const response = await multipart([chat, { name: 'fileTypeHint', value: 'Text/Plain' }, file()]);

    expect(response.status).toBe(201);
    expect(response.json.files[0].fileTypeHint).toBe('text/plain');
  });

  it.each(['Chat', 'CHAT', 'chats', 'schedule', ''])(
    'answers 400 invalid_feature_type for %j',
    async (featureType) => {
      const response = await multipart([{ name: 'featureType', value: featureType }, file()]);

      expectRejected(response, 400, 'invalid_feature_type');
      expect(response.json.error.message).toContain('chat, shiftscheduler, users, quicktasks');
    },
  );

  it.each(['-1', '1e3', '0x10', '5.0', 'five', '99999999999999999'])(
    'answers 400 invalid_size for %j',
    async (size) => {
      const response = await multipart([chat, { name: 'size', value: size }, file()]);

      expectRejected(response, 400, 'invalid_size');
    },
  );
});

describe('parameters given twice', () => {
  it.each([
    ['featureType', '?featureType=chat&featureType=users&fileName=a.txt'],
    ['fileName', '?featureType=chat&fileName=a.txt&fileName=b.txt'],
    [
      'fileTypeHint',
      '?featureType=chat&fileName=a.txt&fileTypeHint=text/plain&fileTypeHint=text/csv',
    ],
    ['size', '?featureType=chat&fileName=a.txt&size=5&size=5'],
  ])('answers 400 duplicate_parameter for the query parameter %s', async (name, query) => {
    const response = await raw(query);

    expectRejected(response, 400, 'duplicate_parameter');
    expect(response.json.error.message).toContain(name);
  });

  it.each(['featureType', 'fileName', 'fileTypeHint', 'size'])(
    'answers 400 duplicate_parameter for the field %s twice before a file',
    async (name) => {
      const value = {
        featureType: 'chat',
        fileName: 'a.txt',
        fileTypeHint: 'text/plain',
        size: '5',
      }[name]!;
      const response = await multipart([
        ...(name === 'featureType' ? [] : [chat]),
        { name, value },
        { name, value },
        file(),
      ]);

      expectRejected(response, 400, 'duplicate_parameter');
      expect(stack.emulator.stats.completes).toBe(0);
    },
  );

  it('answers 400 conflicting_parameter when X-Feature-Type and the query differ', async () => {
    const response = await raw('?featureType=chat&fileName=a.txt', { 'x-feature-type': 'users' });

    expectRejected(response, 400, 'conflicting_parameter');
  });

  it('answers 400 size_mismatch when the query size and Content-Length differ', async () => {
    const response = await raw('?featureType=chat&fileName=a.txt&size=6');

    expectRejected(response, 400, 'size_mismatch');
  });
});
