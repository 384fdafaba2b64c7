import { makePdf, randomFile, sha256 } from '../support/files';
import { send } from '../support/send';
import { AUTH, startStack, type Stack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { MAX_FILE_BYTES: '100000' } });
});

afterAll(async () => {
  await stack.close();
});

describe('POST /v1/files with a raw body', () => {
  it('uploads the body as one file named by the query', async () => {
    const pdf = makePdf();
    const response = await send(`${stack.url}/v1/files?fileName=report.pdf&featureType=users`, {
      headers: { ...AUTH, 'content-type': 'application/pdf' },
      body: pdf,
    });
    expect(response.status).toBe(201);
    expect(response.json.files[0]).toMatchObject({
      fileName: 'report.pdf',
      featureType: 'users',
      fileTypeHint: 'application/pdf',
      size: pdf.length,
      sha256: sha256(pdf),
    });
  });

  it('retries a small body from memory', async () => {
    const content = randomFile(5000);
    stack.emulator.stats.reset();
    stack.emulator.faults.failNext('storage', 1, 503);
    const response = await send(`${stack.url}/v1/files?fileName=retry.bin&featureType=chat`, {
      headers: AUTH,
      body: content,
    });
    expect(response.status).toBe(201);
    expect(stack.emulator.object(response.json.files[0].fileId)?.sha256).toBe(sha256(content));
    expect(stack.emulator.stats.calls.storage.total).toBe(2);
  });

  it('reads the name from Content-Disposition and the feature type from X-Feature-Type', async () => {
    const response = await send(`${stack.url}/v1/files`, {
      headers: {
        ...AUTH,
        'content-type': 'application/x-www-form-urlencoded',
        'content-disposition': `attachment; filename="plain.txt"; filename*=UTF-8''%E6%97%A5%E5%A0%B1.txt`,
        'x-feature-type': 'chat',
      },
      body: Buffer.from('hello'),
    });
    expect(response.status).toBe(201);
    expect(response.json.files[0]).toMatchObject({
      fileName: '日報.txt',
      fileTypeHint: 'text/plain',
    });
  });

  it('uploads a chunked raw body through a disk copy', async () => {
    const content = randomFile(50_000);
    const response = await send(`${stack.url}/v1/files?fileName=c.bin&featureType=chat`, {
      headers: {
        ...AUTH,
        'content-type': 'application/octet-stream',
        'transfer-encoding': 'chunked',
      },
      chunked: true,
      body: content,
    });
    expect(response.status).toBe(201);
    expect(response.json.files[0].sha256).toBe(sha256(content));
  });

  it('answers 413 for a body one byte over MAX_FILE_BYTES without calling Connecteam', async () => {
    const generates = stack.emulator.stats.calls.generate?.total ?? 0;
    const response = await send(`${stack.url}/v1/files?fileName=big.bin&featureType=chat`, {
      headers: AUTH,
      body: randomFile(100_001),
    });
    expect(response.status).toBe(413);
    expect(stack.emulator.stats.calls.generate?.total ?? 0).toBe(generates);
  });

  it('accepts a body of exactly MAX_FILE_BYTES', async () => {
    const response = await send(`${stack.url}/v1/files?fileName=edge.bin&featureType=chat`, {
      headers: AUTH,
      body: randomFile(100_000),
    });
    expect(response.status).toBe(201);
  });

  it('answers 400 when the file name is missing', async () => {
    const response = await send(`${stack.url}/v1/files?featureType=chat`, {
      headers: AUTH,
      body: Buffer.from('x'),
    });
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe('missing_file_name');
  });

  it('answers 400 when a query parameter is given twice', async () => {
    const response = await send(
      `${stack.url}/v1/files?featureType=chat&featureType=users&fileName=a`,
      {
        headers: AUTH,
        body: Buffer.from('x'),
      },
    );
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe('duplicate_parameter');
  });

  it('answers 415 for multipart types other than form-data', async () => {
    const response = await send(`${stack.url}/v1/files?featureType=chat&fileName=a`, {
      headers: { ...AUTH, 'content-type': 'multipart/mixed; boundary=x' },
      body: Buffer.from('x'),
    });
    expect(response.status).toBe(415);
  });
});
