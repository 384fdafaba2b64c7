import { request } from 'node:http';
import { buildMultipart, BOUNDARY, MULTIPART_TYPE } from '../support/multipart';
import { randomFile, sha256 } from '../support/files';
import { send } from '../support/send';
import { AUTH, startStack, type Stack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    env: {
      MAX_FILE_BYTES: '20000',
      CLIENT_IDLE_TIMEOUT_SECONDS: '0.5',
      MAX_CONCURRENT_UPLOADS_PER_CLIENT: '1',
    },
  });
});

afterAll(async () => {
  await stack.close();
});

function uploadMultipart(body: Buffer) {
  return send(`${stack.url}/v1/files`, {
    headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
    body,
  });
}

describe('POST /v1/files edge cases', () => {
  it('rejects a file never given a featureType', async () => {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const response = await uploadMultipart(
        buildMultipart([{ name: 'file', filename: 'a.bin', content: randomFile(1000) }]),
      );
      expect(response.status).toBe(400);
      expect(response.json.error.code).toBe('missing_feature_type');
    }
  });

  it('answers 400 when a file before its featureType breaks its declared size', async () => {
    const response = await uploadMultipart(
      buildMultipart([
        { name: 'size', value: '5' },
        { name: 'file', filename: 'a.bin', content: randomFile(1000) },
        { name: 'featureType', value: 'chat' },
      ]),
    );
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe('size_mismatch');
  });

  it('lands files whose inferred size exceeds the limit', async () => {
    const first = randomFile(12_000);
    const second = randomFile(12_000);
    const response = await uploadMultipart(
      buildMultipart([
        { name: 'featureType', value: 'chat' },
        { name: 'a', filename: 'a.bin', content: first },
        { name: 'b', filename: 'b.bin', content: second },
      ]),
    );
    expect(response.status).toBe(201);
    expect(response.json.files.map((file: { sha256: string }) => file.sha256)).toEqual([
      sha256(first),
      sha256(second),
    ]);
  });

  it('answers 408 when the client stalls after the first streamed file', async () => {
    const first = randomFile(3000);
    const head = buildMultipart([
      { name: 'featureType', value: 'chat' },
      { name: 'size', value: String(first.length) },
      { name: 'a', filename: 'a.bin', content: first },
    ]);
    // Everything up to the closing delimiter, then silence where the next part should be.
    const opened = head.subarray(0, head.length - `--${BOUNDARY}--\r\n`.length);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${stack.url}/v1/files`, {
        method: 'POST',
        headers: {
          ...AUTH,
          'content-type': MULTIPART_TYPE,
          'content-length': opened.length + 5000,
        },
      });
      req.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(opened);
    });
    expect(status).toBe(408);
  });

  it('lists landed files when a later part times out', async () => {
    const first = randomFile(3000);
    const second = randomFile(8000);
    const whole = buildMultipart([
      { name: 'featureType', value: 'chat' },
      { name: 'size', value: String(first.length) },
      { name: 'a', filename: 'a.bin', content: first },
      { name: 'size', value: String(second.length) },
      { name: 'b', filename: 'b.bin', content: second },
    ]);
    const response = await send(`${stack.url}/v1/files`, {
      headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
      body: whole,
      stallAfterBytes: whole.length - 4000,
    });
    expect(response.status).toBe(408);
    expect(response.json.files.map((file: { sha256: string }) => file.sha256)).toEqual([
      sha256(first),
    ]);
  });

  it('asks for no upload URL while a raw body has not started', async () => {
    const generates = stack.emulator.stats.calls.generate.total;
    const response = await send(`${stack.url}/v1/files?fileName=s.bin&featureType=chat`, {
      headers: AUTH,
      body: randomFile(5000),
      stallAfterBytes: 0,
    });
    expect(response.status).toBe(408);
    expect(stack.emulator.stats.calls.generate.total).toBe(generates);
  });

  it('reads a plain UTF-8 filename in a raw body’s Content-Disposition', async () => {
    const response = await send(`${stack.url}/v1/files`, {
      headers: {
        ...AUTH,
        'x-feature-type': 'chat',
        'content-disposition': Buffer.from('attachment; filename="Übersicht.pdf"', 'utf8').toString(
          'latin1',
        ),
      },
      body: Buffer.from('%PDF-1.4 x'),
    });
    expect(response.status).toBe(201);
    expect(response.json.files[0].fileName).toBe('Übersicht.pdf');
  });
});
