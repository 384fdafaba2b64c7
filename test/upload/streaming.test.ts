import { request } from 'node:http';
import { buildMultipart, MULTIPART_TYPE } from '../support/multipart';
import { randomFile, sha256 } from '../support/files';
import { AUTH, startStack, type Stack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack.close();
});

/** Sends the first half of the body, and the rest only once `release` resolves. */
function sendHeld(
  url: string,
  body: Buffer,
  release: Promise<void>,
  headers: Record<string, string>,
) {
  return new Promise<{ status: number; json: any }>((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { ...AUTH, ...headers, 'content-length': String(body.length) },
    });
    req.on('response', (response) => {
      let text = '';
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, json: JSON.parse(text) }),
      );
    });
    req.on('error', reject);
    const half = Math.floor(body.length / 2);
    req.write(body.subarray(0, half));
    void release.then(() => req.end(body.subarray(half)));
  });
}

describe('streaming', () => {
  it.each([
    ['multipart without a size', 'multipart'],
    ['raw body', 'raw'],
  ])('delivers bytes to storage while the client is still sending (%s)', async (_label, kind) => {
    const content = randomFile(4 * 1024 * 1024);
    const body =
      kind === 'multipart'
        ? buildMultipart([
            { name: 'featureType', value: 'chat' },
            { name: 'file', filename: 'big.bin', content },
          ])
        : content;
    const headers: Record<string, string> =
      kind === 'multipart'
        ? { 'content-type': MULTIPART_TYPE }
        : { 'content-type': 'application/octet-stream' };
    const url = kind === 'raw' ? '?fileName=big.bin&featureType=chat' : '';
    let storageBytes = 0;
    const onData = (event: { bytes: number }) => (storageBytes += event.bytes);
    stack.emulator.events.on('storage-data', onData);
    // The client holds back its second half until storage has seen a megabyte, or 5 s pass.
    let bytesBeforeRelease = 0;
    const release = new Promise<void>((resolve) => {
      const done = () => {
        bytesBeforeRelease = storageBytes;
        stack.emulator.events.off('storage-data', check);
        clearTimeout(timer);
        resolve();
      };
      const check = () => {
        if (storageBytes >= 1024 * 1024) done();
      };
      const timer = setTimeout(done, 5_000);
      stack.emulator.events.on('storage-data', check);
    });
    const response = await sendHeld(`${stack.url}/v1/files${url}`, body, release, headers);
    stack.emulator.events.off('storage-data', onData);
    expect(bytesBeforeRelease).toBeGreaterThanOrEqual(1024 * 1024);
    expect(response.status).toBe(201);
    expect(response.json.files[0].sha256).toBe(sha256(content));
  });
});
