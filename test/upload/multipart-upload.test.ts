import { readdirSync } from 'node:fs';
import { BOUNDARY, buildMultipart, MULTIPART_TYPE, type TestPart } from '../support/multipart';
import { makePdf, makePng, makeZip, randomFile, sha256 } from '../support/files';
import { send } from '../support/send';
import { AUTH, startStack, type Stack } from '../support/stack';
import { SMALL_FILE_BYTES } from '../../src/upload/uploader';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack.close();
});

afterEach(() => {
  stack.emulator.faults.reset();
});

function upload(
  parts: TestPart[],
  options: { query?: string; chunkSize?: number; chunked?: boolean } = {},
) {
  return send(`${stack.url}/v1/files${options.query ?? ''}`, {
    headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
    body: buildMultipart(parts),
    chunkSize: options.chunkSize,
    chunked: options.chunked,
  });
}

function completes(): number {
  return stack.emulator.stats.completes;
}

describe('POST /v1/files with multipart/form-data', () => {
  it.each([
    ['report.pdf', makePdf(), 'application/pdf'],
    ['pixel.png', makePng(), 'image/png'],
    ['archive.zip', makeZip(), 'application/zip'],
    ['notes.txt', Buffer.from('plain text\r\n--not a boundary\r\n'), 'text/plain'],
  ])('uploads %s and answers its fileId and sha256', async (fileName, content, type) => {
    const response = await upload([
      { name: 'featureType', value: 'chat' },
      { name: 'file', filename: fileName, content },
    ]);
    expect(response.status).toBe(201);
    const [file] = response.json.files;
    expect(file).toMatchObject({
      fileName,
      featureType: 'chat',
      fileTypeHint: type,
      size: content.length,
    });
    expect(file.sha256).toBe(sha256(content));
    const stored = stack.emulator.object(file.fileId);
    expect(stored?.sha256).toBe(sha256(content));
    expect(stored?.uploadCompleted).toBe(true);
    expect(stored?.contentType).toBe(type);
  });

  it('takes featureType from the query string', async () => {
    const response = await upload(
      [{ name: 'file', filename: 'a.txt', content: Buffer.from('abc') }],
      {
        query: '?featureType=users',
      },
    );
    expect(response.status).toBe(201);
    expect(response.json.files[0].featureType).toBe('users');
  });

  it('keeps UTF-8 file names and prefers filename*', async () => {
    const response = await upload([
      { name: 'featureType', value: 'chat' },
      { name: 'a', filename: 'Überweisung 報告.pdf', content: Buffer.from('%PDF-1.4 a') },
      {
        name: 'b',
        filename: 'fallback.txt',
        filenameStar: "UTF-8''%C3%A9t%C3%A9%20plan.txt",
        content: Buffer.from('b'),
      },
    ]);
    expect(response.status).toBe(201);
    expect(response.json.files.map((file: { fileName: string }) => file.fileName)).toEqual([
      'Überweisung 報告.pdf',
      'été plan.txt',
    ]);
  });

  it.each([
    ['../../etc/passwd', 'passwd'],
    ['C:\\Users\\me\\report.pdf', 'report.pdf'],
    ['dir/sub/na\u0000me\u202e.txt', 'name.txt'],
  ])('strips directories and control characters from %j', async (raw, cleaned) => {
    const response = await upload([
      { name: 'featureType', value: 'chat' },
      { name: 'fileName', value: raw },
      { name: 'file', filename: 'x.bin', content: Buffer.from('data') },
    ]);
    expect(response.status).toBe(201);
    expect(response.json.files[0].fileName).toBe(cleaned);
  });

  it('uploads a 0-byte file', async () => {
    const response = await upload([
      { name: 'featureType', value: 'quicktasks' },
      { name: 'file', filename: 'empty.txt', content: Buffer.alloc(0) },
    ]);
    expect(response.status).toBe(201);
    expect(response.json.files[0].size).toBe(0);
    expect(response.json.files[0].sha256).toBe(sha256(Buffer.alloc(0)));
  });

  it('lands two files without sizes, each with its exact bytes', async () => {
    const first = randomFile(300_000);
    const second = randomFile(120_000);
    const response = await upload([
      { name: 'featureType', value: 'chat' },
      { name: 'one', filename: 'one.bin', content: first },
      { name: 'two', filename: 'two.bin', content: second },
    ]);
    expect(response.status).toBe(201);
    const [one, two] = response.json.files;
    expect(one.size).toBe(first.length);
    expect(one.sha256).toBe(sha256(first));
    expect(stack.emulator.object(one.fileId)?.sha256).toBe(sha256(first));
    expect(two.size).toBe(second.length);
    expect(stack.emulator.object(two.fileId)?.sha256).toBe(sha256(second));
    expect(
      stack.logs.find('file size inferred wrongly; uploading the disk copy').length,
    ).toBeGreaterThan(0);
  });

  it('reads a small unsized file whole', async () => {
    const content = randomFile(SMALL_FILE_BYTES - 1_000);
    stack.emulator.stats.reset();
    const response = await upload([
      { name: 'featureType', value: 'chat' },
      { name: 'file', filename: 'small.bin', content },
      { name: 'note', value: 'a field after the file makes the inferred size wrong' },
    ]);
    expect(response.status).toBe(201);
    const [file] = response.json.files;
    expect(file).toMatchObject({ size: content.length, sha256: sha256(content) });
    expect(stack.emulator.object(file.fileId)?.sha256).toBe(sha256(content));
    // One URL and one PUT of exactly the file's bytes: no optimistic PUT was abandoned.
    expect(stack.emulator.stats.calls.generate.total).toBe(1);
    expect(stack.emulator.stats.calls.storage.total).toBe(1);
    expect(stack.emulator.stats.storageBytesReceived).toBe(content.length);
  });

  it('retries a small unsized file from memory', async () => {
    const content = randomFile(10_000);
    stack.emulator.stats.reset();
    stack.emulator.faults.failNext('storage', 1, 503);
    const response = await upload([
      { name: 'featureType', value: 'chat' },
      { name: 'file', filename: 'retry.bin', content },
    ]);
    expect(response.status).toBe(201);
    expect(response.json.files[0].sha256).toBe(sha256(content));
    expect(stack.emulator.object(response.json.files[0].fileId)?.sha256).toBe(sha256(content));
    expect(stack.emulator.stats.calls.storage.total).toBe(2);
  });

  it('streams files whose size fields are given', async () => {
    const first = randomFile(50_000);
    const second = randomFile(70_000);
    const response = await upload([
      { name: 'featureType', value: 'shiftscheduler' },
      { name: 'size', value: String(first.length) },
      { name: 'one', filename: 'one.bin', content: first },
      { name: 'size', value: String(second.length) },
      { name: 'two', filename: 'two.bin', content: second },
    ]);
    expect(response.status).toBe(201);
    expect(response.json.files.map((file: { sha256: string }) => file.sha256)).toEqual([
      sha256(first),
      sha256(second),
    ]);
  });

  it('uploads a file whose featureType field comes after it', async () => {
    const content = randomFile(10_000);
    const response = await upload([
      { name: 'file', filename: 'late.bin', content },
      { name: 'featureType', value: 'users' },
    ]);
    expect(response.status).toBe(201);
    expect(response.json.files[0]).toMatchObject({
      featureType: 'users',
      size: content.length,
      sha256: sha256(content),
    });
  });

  it('uploads a chunked request body through a disk copy', async () => {
    const content = randomFile(200_000);
    const response = await upload(
      [
        { name: 'featureType', value: 'chat' },
        { name: 'file', filename: 'chunked.bin', content },
      ],
      { chunked: true },
    );
    expect(response.status).toBe(201);
    expect(response.json.files[0].sha256).toBe(sha256(content));
  });

  it('parses a body sent in 7-byte chunks', async () => {
    const content = Buffer.from('small file sent in tiny pieces\r\n\r\n--\r\n');
    const response = await upload(
      [
        { name: 'featureType', value: 'chat' },
        { name: 'file', filename: 'tiny.txt', content },
      ],
      { chunkSize: 7 },
    );
    expect(response.status).toBe(201);
    expect(response.json.files[0].sha256).toBe(sha256(content));
  });

  // 1000 bytes are read whole before the upload; 100,000 bytes stream.
  it.each([
    [999, 1000],
    [1001, 1000],
    [99_999, 100_000],
    [100_001, 100_000],
  ])('answers 400 when a file of %i bytes declares %i', async (actual, declared) => {
    const before = completes();
    const response = await upload([
      { name: 'featureType', value: 'chat' },
      { name: 'size', value: String(declared) },
      { name: 'file', filename: 'wrong.bin', content: randomFile(actual) },
    ]);
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe('size_mismatch');
    expect(completes()).toBe(before);
  });

  it('answers 413 before calling Connecteam when the declared size is over the limit', async () => {
    const generates = stack.emulator.stats.calls.generate?.total ?? 0;
    const response = await upload([
      { name: 'featureType', value: 'chat' },
      { name: 'size', value: String(1024 ** 3 + 1) },
      { name: 'file', filename: 'big.bin', content: Buffer.from('x') },
    ]);
    expect(response.status).toBe(413);
    expect(response.json.error.code).toBe('file_too_large');
    expect(stack.emulator.stats.calls.generate?.total ?? 0).toBe(generates);
  });

  it('answers 400 naming the valid feature types', async () => {
    const response = await upload([
      { name: 'featureType', value: 'Chat' },
      { name: 'file', filename: 'a.txt', content: Buffer.from('a') },
    ]);
    expect(response.status).toBe(400);
    expect(response.json.error.message).toContain('chat, shiftscheduler, users, quicktasks');
    expect(response.json.requestId).toBe(response.headers['x-request-id']);
  });

  it('answers 400 on a body cut off mid-file and completes nothing', async () => {
    const before = completes();
    const body = buildMultipart([
      { name: 'featureType', value: 'chat' },
      { name: 'file', filename: 'cut.bin', content: randomFile(100_000) },
    ]).subarray(0, 60_000);
    const response = await send(`${stack.url}/v1/files`, {
      headers: { ...AUTH, 'content-type': MULTIPART_TYPE, 'transfer-encoding': 'chunked' },
      chunked: true,
      body,
    });
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe('invalid_multipart');
    expect(completes()).toBe(before);
  });

  it('answers 502 when storage rejects the PUT and completes nothing', async () => {
    stack.emulator.faults.failNext('storage', 1, 500);
    const before = completes();
    // Over SMALL_FILE_BYTES, so the file streams and no copy can be sent again.
    const response = await upload([
      { name: 'featureType', value: 'chat' },
      { name: 'size', value: '100000' },
      { name: 'file', filename: 'x.bin', content: randomFile(100_000) },
    ]);
    expect(response.status).toBe(502);
    expect(completes()).toBe(before);
    const again = await upload([
      { name: 'featureType', value: 'chat' },
      { name: 'file', filename: 'y.bin', content: randomFile(10) },
    ]);
    expect(again.status).toBe(201);
  });

  it('infers the size right after a part busboy skips', async () => {
    const content = randomFile(40_000);
    const skipped = Buffer.from(
      `--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n`,
    );
    const body = Buffer.concat([
      skipped,
      buildMultipart([
        { name: 'featureType', value: 'chat' },
        { name: 'file', filename: 'after-skip.bin', content },
      ]),
    ]);
    const wrongGuesses = stack.logs.find(
      'file size inferred wrongly; uploading the disk copy',
    ).length;
    const response = await send(`${stack.url}/v1/files`, {
      headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
      body,
    });
    expect(response.status).toBe(201);
    expect(response.json.files[0].sha256).toBe(sha256(content));
    expect(stack.logs.find('file size inferred wrongly; uploading the disk copy').length).toBe(
      wrongGuesses,
    );
  });

  it('types a part without Content-Type by its extension', async () => {
    const png = makePng();
    const body = Buffer.concat([
      Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="featureType"\r\n\r\nchat\r\n` +
          `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="photo.png"\r\n\r\n`,
      ),
      png,
      Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
    ]);
    const response = await send(`${stack.url}/v1/files`, {
      headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
      body,
    });
    expect(response.status).toBe(201);
    expect(response.json.files[0].fileTypeHint).toBe('image/png');
  });

  it('leaves no disk copy behind', async () => {
    expect(readdirSync(stack.spoolDir)).toEqual([]);
  });
});
