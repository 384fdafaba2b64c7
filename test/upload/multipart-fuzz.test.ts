import busboy from 'busboy';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildMultipart, BOUNDARY, MULTIPART_TYPE, type TestPart } from '../support/multipart';
import { randomFile, sha256 } from '../support/files';
import type { SendResult } from '../support/send';
import { AUTH, startStack, type Stack } from '../support/stack';

/**
 * Property-based tests of the multipart intake over HTTP. Run counts are small and each
 * property takes a few seconds, because every run is a full upload through the emulator.
 */

let stack: Stack;

beforeAll(async () => {
  // Hundreds of uploads in a few seconds: a quota this large keeps pacing out of the way.
  stack = await startStack({ emulator: { minuteLimit: 1_000_000, dayLimit: 10_000_000 } });
});

afterAll(async () => {
  await stack.close();
});

/** Sends `body` cut at `cuts`, pausing `pauseMs` after each piece so each is a separate read. */
function sendPieces(body: Buffer, cuts: number[], pauseMs = 1) {
  return new Promise<SendResult>((resolve, reject) => {
    const upload = httpRequest(`${stack.url}/v1/files`, {
      method: 'POST',
      agent: false,
      headers: { ...AUTH, 'content-type': MULTIPART_TYPE, 'content-length': body.length },
    });
    upload.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
      });
    });
    // A body rejected early is drained for a grace period only, so a later write may fail
    // after the response arrived. Such a failure counts only when no response follows.
    upload.on('error', (error) => setTimeout(() => reject(error), 1_000).unref());
    upload.setTimeout(5_000, () => {
      upload.destroy();
      reject(new Error('no response within 5 s'));
    });
    void (async () => {
      let start = 0;
      for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
        if (cut <= start || cut >= body.length) continue;
        upload.write(body.subarray(start, cut));
        start = cut;
        await sleep(pauseMs);
      }
      upload.end(body.subarray(start));
    })();
  });
}

async function waitUntilIdle(): Promise<void> {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const inFlight = (await stack.proxy.metrics.uploadsInFlight.get()).values[0]?.value ?? 0;
    if ((inFlight === 0 && readdirSync(stack.spoolDir).length === 0) || Date.now() > deadline) {
      break;
    }
    await sleep(10);
  }
  expect(readdirSync(stack.spoolDir)).toEqual([]);
}

/** Random file contents; a false 32-byte delimiter in random bytes is vanishingly unlikely. */
const fileContent = fc
  .integer({ min: 0, max: 24 * 1024 })
  .chain((size) => fc.uint8Array({ minLength: size, maxLength: size }))
  .map((bytes) => Buffer.from(bytes));

/** One to three files, each with or without a declared size. */
const upload = fc.array(fc.record({ content: fileContent, declared: fc.boolean() }), {
  minLength: 1,
  maxLength: 3,
});

/** Offsets at which to split a body, taken modulo its length. */
const cuts = fc.array(fc.nat(), { maxLength: 12 });

function partsOf(files: Array<{ content: Buffer; declared: boolean }>): TestPart[] {
  return [
    { name: 'featureType', value: 'chat' },
    ...files.flatMap(({ content, declared }, index) => [
      ...(declared ? [{ name: 'size', value: String(content.length) }] : []),
      { name: 'file', filename: `f${index}.bin`, content },
    ]),
  ];
}

describe('multipart chunk boundaries', () => {
  it('give the same files whatever the split', async () => {
    await fc.assert(
      fc.asyncProperty(upload, cuts, async (files, rawCuts) => {
        const body = buildMultipart(partsOf(files));
        const response = await sendPieces(
          body,
          rawCuts.map((cut) => cut % body.length),
        );

        expect(response.status).toBe(201);
        expect(response.json.files).toHaveLength(files.length);
        files.forEach(({ content }, index) => {
          const result = response.json.files[index];
          expect(result.size).toBe(content.length);
          expect(result.sha256).toBe(sha256(content));
          expect(stack.emulator.object(result.fileId)?.sha256).toBe(sha256(content));
        });
      }),
      { numRuns: 25 },
    );
    await waitUntilIdle();
  });
});

describe('multipart size inference', () => {
  it('stores the whole file when a pause falls where the inferred size ends', async () => {
    const content = randomFile(50_000);
    // Without the CRLF after the closing delimiter, which RFC 2046 allows, the file is two
    // bytes longer than the size inferred from Content-Length.
    const body = buildMultipart([
      { name: 'featureType', value: 'chat' },
      { name: 'file', filename: 'a.bin', content },
    ]).subarray(0, -2);
    const contentStart = body.indexOf(content);

    const response = await sendPieces(body, [contentStart + content.length - 2], 300);

    expect(response.status).toBe(201);
    expect(response.json.files[0].size).toBe(content.length);
    expect(stack.emulator.object(response.json.files[0].fileId)?.sha256).toBe(sha256(content));
  });
});

/** Byte ranges of a body that are multipart framing: delimiters, part headers, the close. */
function framingRanges(body: Buffer): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  const delimiter = Buffer.from(`--${BOUNDARY}`);
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const headersEnd = body.indexOf('\r\n\r\n', at);
    const next = body.indexOf(delimiter, at + delimiter.length);
    const end = headersEnd === -1 || (next !== -1 && headersEnd > next) ? body.length : headersEnd;
    // The CRLF before a delimiter belongs to it, so include the two bytes before it.
    ranges.push([Math.max(0, at - 2), Math.min(end + 4, body.length)]);
    at = next;
  }
  return ranges;
}

type Corruption =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; range: number; offset: number; xor: number }
  | { kind: 'duplicate'; range: number }
  | { kind: 'garbage-header'; range: number; line: Uint8Array }
  | { kind: 'drop'; range: number; offset: number; length: number };

const corruption: fc.Arbitrary<Corruption> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('flip' as const),
    range: fc.nat(),
    offset: fc.nat(),
    xor: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({ kind: fc.constant('duplicate' as const), range: fc.nat() }),
  fc.record({
    kind: fc.constant('garbage-header' as const),
    range: fc.nat(),
    line: fc.uint8Array({ minLength: 1, maxLength: 40 }),
  }),
  fc.record({
    kind: fc.constant('drop' as const),
    range: fc.nat(),
    offset: fc.nat(),
    length: fc.integer({ min: 1, max: 8 }),
  }),
);

function corrupt(body: Buffer, change: Corruption): Buffer {
  const ranges = framingRanges(body);
  if (change.kind === 'truncate') return body.subarray(0, change.at % body.length);
  const [start, end] = ranges[change.range % ranges.length]!;
  const splice = (at: number, remove: number, insert: Buffer) =>
    Buffer.concat([body.subarray(0, at), insert, body.subarray(at + remove)]);
  switch (change.kind) {
    case 'flip': {
      const copy = Buffer.from(body);
      const at = start + (change.offset % (end - start));
      copy[at] = copy[at]! ^ change.xor;
      return copy;
    }
    case 'duplicate':
      return splice(start, 0, body.subarray(start, end));
    case 'garbage-header': {
      // After the delimiter line, so the garbage lands among the part's headers.
      const lineEnd = body.indexOf('\r\n', start + 2) + 2;
      return splice(lineEnd, 0, Buffer.concat([Buffer.from(change.line), Buffer.from('\r\n')]));
    }
    case 'drop':
      return splice(start + (change.offset % (end - start)), change.length, Buffer.alloc(0));
  }
}

/**
 * Digests of the file parts busboy reads to their end from `body`: the only contents a
 * correct proxy may store from it.
 */
function completeParts(body: Buffer): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const digests = new Set<string>();
    const parser = busboy({ headers: { 'content-type': MULTIPART_TYPE } });
    parser.on('file', (_name, stream) => {
      const hash = createHash('sha256');
      stream.on('data', (chunk: Buffer) => hash.update(chunk));
      stream.on('end', () => {
        if (!(stream as { truncated?: boolean }).truncated) digests.add(hash.digest('hex'));
      });
      stream.on('error', () => undefined);
    });
    parser.on('error', () => resolve(digests));
    parser.on('close', () => resolve(digests));
    setTimeout(() => reject(new Error('busboy did not finish the body')), 5_000).unref();
    parser.end(body);
  });
}

/** Returns `201` for 201 and the class, such as `4xx`, for any other status. */
function statusClass(status: number): string {
  return status === 201 ? '201' : `${Math.floor(status / 100)}xx`;
}

describe('corrupted multipart bodies', () => {
  it('never store a partial file or fail with 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(upload, corruption, cuts, async (files, change, rawCuts) => {
        const intact = buildMultipart(partsOf(files));
        const body = corrupt(intact, change);
        const wholeFiles = await completeParts(body);
        const completesBefore = stack.emulator.stats.completes;

        const response = await sendPieces(
          body,
          rawCuts.map((cut) => cut % body.length),
        );

        expect(['201', '4xx']).toContain(statusClass(response.status));
        const landed: Array<{ fileId: string; sha256: string }> =
          response.status === 201 ? response.json.files : (response.json?.files ?? []);
        expect(stack.emulator.stats.completes - completesBefore).toBe(landed.length);
        for (const file of landed) {
          expect(wholeFiles.has(file.sha256)).toBe(true);
          expect(stack.emulator.object(file.fileId)?.sha256).toBe(file.sha256);
        }
      }),
      { numRuns: 60 },
    );
    await waitUntilIdle();
    const afterwards = buildMultipart(partsOf([{ content: Buffer.from('ok'), declared: false }]));
    expect((await sendPieces(afterwards, [])).status).toBe(201);
  });

  it('store a single file whole or not at all', async () => {
    await fc.assert(
      fc.asyncProperty(fileContent, corruption, cuts, async (content, change, rawCuts) => {
        const body = corrupt(buildMultipart(partsOf([{ content, declared: false }])), change);
        const completesBefore = stack.emulator.stats.completes;

        const response = await sendPieces(
          body,
          rawCuts.map((cut) => cut % body.length),
        );

        expect(response.status).toBeLessThan(500);
        const landed: Array<{ size: number; sha256: string }> =
          response.status === 201 ? response.json.files : (response.json?.files ?? []);
        expect(stack.emulator.stats.completes - completesBefore).toBe(landed.length);
        // A duplicated header block makes an extra, empty part: whole, though not the file.
        for (const file of landed.filter((file) => file.size > 0)) {
          expect(file.size).toBe(content.length);
          expect(file.sha256).toBe(sha256(content));
        }
      }),
      { numRuns: 60 },
    );
    await waitUntilIdle();
  });
});
