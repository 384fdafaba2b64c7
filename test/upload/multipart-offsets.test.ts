import { execFile, spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import busboy from 'busboy';
import { MultipartOffsets } from '../../src/upload/multipart-offsets';

/** One part of a test body: a text field, or a file when `fileName` is set. */
interface TestPart {
  name: string;
  fileName?: string;
  contentType?: string;
  content: Buffer;
}

/** A multipart body with the offsets where each part's content starts and ends. */
interface TestBody {
  body: Buffer;
  boundary: string;
  contentStarts: number[];
  contentEnds: number[];
}

/** A part as busboy reports it. */
interface ParsedPart {
  kind: 'field' | 'file';
  name: string;
  content: Buffer;
}

const BOUNDARIES: [string, string][] = [
  ['curl', '------------------------d74496d66958873e'],
  ['Chrome', '----WebKitFormBoundary7MA4YWxkTrZu0gW'],
  ['Firefox', '---------------------------974767299852498929531610575'],
  ['one character', 'x'],
  ['RFC 2046 special characters', "a'()+_,-./:=? b"],
];

/** Deterministic pseudo-random numbers (mulberry32), so a failing case can be rerun. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic random bytes: an AES-CTR keystream keyed by the seed. */
function randomBytes(length: number, seed: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32BE(seed);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

function field(name: string, value: string): TestPart {
  return { name, content: Buffer.from(value, 'utf8') };
}

function file(content: Buffer | string, fileName = 'upload.bin', contentType?: string): TestPart {
  return {
    name: 'file',
    fileName,
    contentType,
    content: typeof content === 'string' ? Buffer.from(content, 'latin1') : content,
  };
}

/**
 * Writes a multipart/form-data body the way curl and browsers do, closing delimiter and its
 * CRLF included, and records where each part's content lies.
 */
function buildBody(parts: TestPart[], boundary: string, preamble = ''): TestBody {
  const pieces: Buffer[] = [];
  const contentStarts: number[] = [];
  const contentEnds: number[] = [];
  let length = 0;
  const write = (piece: Buffer) => {
    pieces.push(piece);
    length += piece.length;
  };

  if (preamble !== '') write(Buffer.from(`${preamble}\r\n`, 'latin1'));
  for (const part of parts) {
    let headers = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.fileName !== undefined) headers += `; filename="${part.fileName}"`;
    if (part.contentType !== undefined) headers += `\r\nContent-Type: ${part.contentType}`;
    write(Buffer.from(`${headers}\r\n\r\n`, 'latin1'));
    contentStarts.push(length);
    write(part.content);
    contentEnds.push(length);
    write(Buffer.from('\r\n', 'latin1'));
  }
  write(Buffer.from(`--${boundary}--\r\n`, 'latin1'));

  const body = Buffer.concat(pieces);
  const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  for (const part of parts) {
    // Senders pick a boundary that no content contains, because the delimiter ends a part.
    const opensWithBoundary = part.content
      .subarray(0, delimiter.length - 2)
      .equals(delimiter.subarray(2));
    if (part.content.includes(delimiter) || opensWithBoundary) {
      throw new Error(`the content of part "${part.name}" contains the delimiter`);
    }
  }
  return { body, boundary, contentStarts, contentEnds };
}

function scanChunks(boundary: string, chunks: Buffer[]): MultipartOffsets {
  const offsets = new MultipartOffsets(boundary);
  for (const chunk of chunks) offsets.scan(chunk);
  return offsets;
}

function splitAt(body: Buffer, positions: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let start = 0;
  for (const position of positions) {
    chunks.push(body.subarray(start, position));
    start = position;
  }
  chunks.push(body.subarray(start));
  return chunks;
}

function bytesOf(body: Buffer): Buffer[] {
  return Array.from({ length: body.length }, (_, i) => body.subarray(i, i + 1));
}

function randomChunks(body: Buffer, random: () => number, maxChunk: number): Buffer[] {
  const chunks: Buffer[] = [];
  let start = 0;
  while (start < body.length) {
    const size = 1 + Math.floor(random() * maxChunk);
    chunks.push(body.subarray(start, start + size));
    start += size;
  }
  return chunks;
}

/** A chunking whose scan found the wrong content starts. */
interface WrongSplit {
  cuts: number[];
  starts: number[];
}

function sameNumbers(actual: number[], expected: number[]): boolean {
  return actual.length === expected.length && actual.every((value, i) => value === expected[i]);
}

function contentTypeOf(boundary: string): string {
  return `multipart/form-data; boundary="${boundary}"`;
}

function parseWithBusboy(contentType: string, chunks: Buffer[]): Promise<ParsedPart[]> {
  return new Promise((resolve, reject) => {
    const parts: ParsedPart[] = [];
    const parser = busboy({ headers: { 'content-type': contentType } });
    parser.on('field', (name, value) => {
      parts.push({ kind: 'field', name, content: Buffer.from(value, 'utf8') });
    });
    parser.on('file', (name, stream) => {
      // Files and fields can finish in a different order, so keep the slot of the part.
      const part: ParsedPart = { kind: 'file', name, content: Buffer.alloc(0) };
      parts.push(part);
      const received: Buffer[] = [];
      stream.on('data', (data: Buffer) => received.push(data));
      stream.on('end', () => (part.content = Buffer.concat(received)));
    });
    parser.on('close', () => resolve(parts));
    parser.on('error', reject);
    for (const chunk of chunks) parser.write(chunk);
    parser.end();
  });
}

/** Strings that start like the delimiter but are not it. */
function nearMisses(boundary: string): string[] {
  return [
    `\r\n--${boundary.slice(0, -1)}`,
    `\r\n--${boundary.slice(0, Math.floor(boundary.length / 2))}`,
    '\r\n--',
    '\r\n-',
    '\r\n',
    '\r',
  ];
}

/** Bodies that exercise the scanner's states; each is built once per boundary. */
const CASES: [string, (boundary: string) => TestPart[]][] = [
  ['a field and a file', () => [field('featureType', 'chat'), file('hello world', 'a.txt')]],
  ['a file alone', () => [file('%PDF-1.7 body', 'report.pdf', 'application/pdf')]],
  ['an empty file', () => [field('featureType', 'chat'), file('')]],
  ['an empty field last', () => [file('abc'), field('note', '')]],
  ['a field last', () => [field('featureType', 'users'), file('abc'), field('note', 'done')]],
  [
    'line breaks and blank lines in a file',
    () => [file('line 1\r\nline 2\r\n\r\nline 3\r\n\r\n\r\nend')],
  ],
  ['a file that is one blank line', () => [file('\r\n\r\n')]],
  ['a file that starts with a line break', () => [file('\r\nafter'), file('\nlf first')]],
  [
    'dashes and the boundary inside a file',
    (boundary) => [file(`--\r\n--!--${boundary}--\r\nx--${boundary}\r\n-- ${boundary}`)],
  ],
  [
    'near-boundary strings inside files',
    (boundary) =>
      nearMisses(boundary).map((nearMiss, i) =>
        file(`#${nearMiss}#${nearMiss}${nearMiss}#`, `${i}`),
      ),
  ],
  [
    'near-boundary strings at the end of files',
    (boundary) => nearMisses(boundary).map((nearMiss, i) => file(`data${nearMiss}`, `${i}`)),
  ],
  [
    'near-boundary strings filling a file',
    (boundary) => [file(`\r\n--${boundary.slice(0, -1)}`.repeat(40))],
  ],
  [
    'random bytes in several files',
    () => [
      field('featureType', 'chat'),
      file(randomBytes(1500, 1), 'one.bin'),
      field('fileName', 'two.bin'),
      file(randomBytes(700, 2), 'two.bin'),
      file(randomBytes(1, 3), 'three.bin'),
    ],
  ],
  [
    'extra part headers',
    () => [
      {
        name: 'file',
        fileName: 'a.csv',
        contentType: 'text/csv; charset=utf-8\r\nContent-Transfer-Encoding: binary',
        content: Buffer.from('a,b\r\n1,2\r\n'),
      },
    ],
  ],
];

/** Every case with every boundary, as [case, boundary name, body]. */
const BODIES: [string, string, TestBody][] = CASES.flatMap(([caseName, parts]) =>
  BOUNDARIES.map(([boundaryName, boundary]): [string, string, TestBody] => [
    caseName,
    boundaryName,
    buildBody(parts(boundary), boundary),
  ]),
);

describe('MultipartOffsets', () => {
  describe.each(BODIES)('with %s and the %s boundary', (_case, _boundaryName, test) => {
    const { body, boundary, contentStarts, contentEnds } = test;
    const lastIndex = contentStarts.length - 1;

    it('finds every content start in the whole body', () => {
      expect(scanChunks(boundary, [body]).contentStarts).toEqual(contentStarts);
    });

    it('finds every content start fed byte by byte', () => {
      expect(scanChunks(boundary, bytesOf(body)).contentStarts).toEqual(contentStarts);
    });

    it('finds every content start split at any one position', () => {
      const wrong: WrongSplit[] = [];
      for (let position = 1; position < body.length; position += 1) {
        const offsets = scanChunks(boundary, splitAt(body, [position]));
        if (!sameNumbers(offsets.contentStarts, contentStarts)) {
          wrong.push({ cuts: [position], starts: offsets.contentStarts });
        }
      }

      expect(wrong).toEqual([]);
    });

    it('finds every content start with the framing cut in three', () => {
      // Pairs of cuts up to 8 bytes apart within each delimiter with its CRLF, and within each
      // blank line that ends a part's headers, one byte of margin either side.
      const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
      const regions: [number, number][] = [[0, delimiter.length + 1]];
      for (let at = body.indexOf(delimiter); at !== -1; at = body.indexOf(delimiter, at + 1)) {
        regions.push([at - 1, at + delimiter.length + 3]);
      }
      for (const start of contentStarts) regions.push([start - 5, start + 1]);

      const wrong: WrongSplit[] = [];
      for (const [from, to] of regions) {
        for (let first = Math.max(1, from); first < Math.min(to, body.length); first += 1) {
          const last = Math.min(to, body.length, first + 9);
          for (let second = first + 1; second < last; second += 1) {
            const offsets = scanChunks(boundary, splitAt(body, [first, second]));
            if (!sameNumbers(offsets.contentStarts, contentStarts)) {
              wrong.push({ cuts: [first, second], starts: offsets.contentStarts });
            }
          }
        }
      }

      expect(wrong).toEqual([]);
    });

    it('finds every content start in random chunks', () => {
      const random = seededRandom(body.length);
      const wrong: { round: number; starts: number[] }[] = [];
      for (let round = 0; round < 30; round += 1) {
        const maxChunk = 1 + (round % 10) * 7;
        const offsets = scanChunks(boundary, randomChunks(body, random, maxChunk));
        if (!sameNumbers(offsets.contentStarts, contentStarts)) {
          wrong.push({ round, starts: offsets.contentStarts });
        }
      }

      expect(wrong).toEqual([]);
    });

    it('knows a content start as soon as its headers are scanned', () => {
      const offsets = new MultipartOffsets(boundary);
      const known: number[] = [];
      const expected: number[] = [];
      for (let end = 1; end <= body.length; end += 1) {
        offsets.scan(body.subarray(end - 1, end));
        known.push(offsets.contentStarts.length);
        expected.push(contentStarts.filter((start) => start <= end).length);
      }

      expect(known).toEqual(expected);
    });

    it('sizes the last part exactly from the Content-Length', () => {
      const offsets = scanChunks(boundary, [body]);

      expect(offsets.sizeIfLast(lastIndex, body.length)).toBe(
        contentEnds[lastIndex]! - contentStarts[lastIndex]!,
      );
    });

    it('oversizes every earlier part, so the guess fails verification', () => {
      const offsets = scanChunks(boundary, [body]);
      for (let index = 0; index < lastIndex; index += 1) {
        const size = contentEnds[index]! - contentStarts[index]!;

        expect({ index, larger: offsets.sizeIfLast(index, body.length)! > size }).toEqual({
          index,
          larger: true,
        });
      }
    });

    it('agrees with busboy on every part', async () => {
      const parts = await parseWithBusboy(contentTypeOf(boundary), [body]);
      const offsets = scanChunks(boundary, [body]);

      expect(parts).toHaveLength(contentStarts.length);
      parts.forEach((part, index) => {
        const start = offsets.contentStarts[index]!;

        expect(body.subarray(start, start + part.content.length)).toEqual(part.content);
        expect(start + part.content.length).toBe(contentEnds[index]);
      });
    });
  });

  describe('with a preamble before the first boundary', () => {
    const boundary = 'frontier';
    const preamble = `This is a preamble.\r\n\r\nIt mentions x--${boundary} and \r\n--${boundary.slice(0, 4)}`;
    const test = buildBody([field('featureType', 'chat'), file('data\r\n')], boundary, preamble);

    it('skips the preamble', () => {
      expect(scanChunks(boundary, [test.body]).contentStarts).toEqual(test.contentStarts);
      expect(scanChunks(boundary, bytesOf(test.body)).contentStarts).toEqual(test.contentStarts);
    });

    it('agrees with busboy', async () => {
      const parts = await parseWithBusboy(contentTypeOf(boundary), [test.body]);

      expect(parts.map((part) => part.content.toString())).toEqual(['chat', 'data\r\n']);
    });
  });

  describe('with a large file in socket-sized chunks', () => {
    const boundary = BOUNDARIES[1]![1];
    const content = randomBytes(4 * 1024 * 1024, 7);
    const test = buildBody([field('featureType', 'chat'), file(content, 'big.bin')], boundary);

    it('finds the content start and sizes the file exactly', () => {
      const chunks = randomChunks(test.body, seededRandom(11), 64 * 1024);
      const offsets = scanChunks(boundary, chunks);

      expect(offsets.contentStarts).toEqual(test.contentStarts);
      expect(offsets.sizeIfLast(1, test.body.length)).toBe(content.length);
    });
  });

  describe('sizeIfLast', () => {
    const boundary = 'xyz';
    const test = buildBody([field('featureType', 'chat'), file('abc')], boundary);

    it('returns undefined before the part is found', () => {
      const offsets = new MultipartOffsets(boundary);

      expect(offsets.sizeIfLast(0, test.body.length)).toBeUndefined();
    });

    it('returns undefined while the part headers are still arriving', () => {
      const offsets = new MultipartOffsets(boundary);
      offsets.scan(test.body.subarray(0, test.contentStarts[1]! - 1));

      expect(offsets.sizeIfLast(0, test.body.length)).toBe(
        test.body.length - test.contentStarts[0]! - '\r\n--xyz--\r\n'.length,
      );
      expect(offsets.sizeIfLast(1, test.body.length)).toBeUndefined();
    });

    it('returns undefined past the last part', () => {
      const offsets = scanChunks(boundary, [test.body]);

      expect(offsets.sizeIfLast(2, test.body.length)).toBeUndefined();
    });

    it('never returns a negative size', () => {
      const offsets = scanChunks(boundary, [test.body]);

      expect(offsets.sizeIfLast(1, 10)).toBe(0);
    });

    it('assumes the closing CRLF that curl and browsers send', () => {
      // A body that ends right after "--boundary--" is two bytes shorter, so the guess falls
      // two bytes short and the upload must detect it.
      const withoutCrlf = test.body.subarray(0, test.body.length - 2);
      const offsets = scanChunks(boundary, [withoutCrlf]);

      expect(offsets.sizeIfLast(1, withoutCrlf.length)).toBe(1);
    });
  });

  describe('with a body that FormData writes, as browsers do', () => {
    it('sizes the last file exactly and agrees with busboy', async () => {
      const files = [randomBytes(3000, 21), Buffer.from('a\r\n--b\r\n\r\n'), randomBytes(900, 22)];
      const form = new FormData();
      form.append('featureType', 'chat');
      files.forEach((content, i) => form.append(`file${i}`, new Blob([content]), `f${i}.bin`));
      const response = new Response(form);
      const contentType = response.headers.get('content-type')!;
      const body = Buffer.from(await response.arrayBuffer());
      const boundary = /boundary=(.+)$/.exec(contentType)![1]!;

      const offsets = scanChunks(boundary, randomChunks(body, seededRandom(5), 100));
      const parts = await parseWithBusboy(contentType, [body]);

      expect(parts.map((part) => part.content)).toEqual([Buffer.from('chat'), ...files]);
      expect(offsets.contentStarts).toHaveLength(4);
      parts.forEach((part, index) => {
        const start = offsets.contentStarts[index]!;

        expect(body.subarray(start, start + part.content.length)).toEqual(part.content);
      });
      expect(offsets.sizeIfLast(3, body.length)).toBe(files[2]!.length);
      expect(offsets.sizeIfLast(1, body.length)).toBeGreaterThan(files[0]!.length);
      expect(offsets.sizeIfLast(2, body.length)).toBeGreaterThan(files[1]!.length);
    });
  });

  describe('with a body that curl writes', () => {
    const hasCurl = spawnSync('curl', ['--version']).status === 0;
    let server: Server;
    let url: string;
    let directory: string;
    const received: { contentType: string; body: Buffer }[] = [];

    beforeAll(async () => {
      directory = mkdtempSync(join(tmpdir(), 'multipart-offsets-'));
      server = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          received.push({
            contentType: request.headers['content-type']!,
            body: Buffer.concat(chunks),
          });
          response.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    });

    afterAll(async () => {
      await new Promise((resolve) => server.close(resolve));
      rmSync(directory, { recursive: true, force: true });
    });

    (hasCurl ? it : it.skip)('sizes the last file exactly and agrees with busboy', async () => {
      const first = randomBytes(5000, 31);
      const last = Buffer.concat([randomBytes(2000, 32), Buffer.from('\r\n--\r\n\r\n')]);
      writeFileSync(join(directory, 'first.bin'), first);
      writeFileSync(join(directory, 'last.bin'), last);

      await promisify(execFile)('curl', [
        '--silent',
        '--show-error',
        '--noproxy',
        '*',
        '-H',
        'Expect:',
        '-F',
        'featureType=chat',
        '-F',
        `first=@${join(directory, 'first.bin')}`,
        '-F',
        `last=@${join(directory, 'last.bin')};type=application/pdf`,
        url,
      ]);
      const { contentType, body } = received.at(-1)!;
      const boundary = /boundary=(.+)$/.exec(contentType)![1]!;

      const offsets = scanChunks(boundary, randomChunks(body, seededRandom(9), 300));
      const parts = await parseWithBusboy(contentType, [body]);

      expect(parts.map((part) => part.content)).toEqual([Buffer.from('chat'), first, last]);
      expect(offsets.sizeIfLast(2, body.length)).toBe(last.length);
      expect(offsets.sizeIfLast(1, body.length)).toBeGreaterThan(first.length);
      expect(body.subarray(offsets.contentStarts[1]!, offsets.contentStarts[1]! + 5000)).toEqual(
        first,
      );
    });
  });
});
