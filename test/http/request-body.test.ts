import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildMultipart, MULTIPART_TYPE } from '../support/multipart';
import { randomFile } from '../support/files';
import { TOKEN, startStack, type Stack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  await stack.close();
});

/**
 * Sends a request whose body is rejected by its first field, and reads the response only
 * once the whole body is sent, as many clients do. Until then the socket is paused, so an
 * early response waits in the kernel's receive buffer.
 */
async function sendBodyThenRead(connection: string): Promise<{ response: string; error: string }> {
  const body = buildMultipart([
    { name: 'featureType', value: 'Chat' },
    { name: 'file', filename: 'a.bin', content: randomFile(256 * 1024) },
  ]);
  const socket = connect(Number(new URL(stack.url).port), '127.0.0.1');
  let response = '';
  let error = '';
  socket.on('data', (chunk: Buffer) => (response += chunk.toString('latin1')));
  socket.on('error', (failure) => (error = String(failure)));
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.pause();
  socket.write(
    `POST /v1/files HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer ${TOKEN}\r\n` +
      `Content-Type: ${MULTIPART_TYPE}\r\nContent-Length: ${body.length}\r\n` +
      `Connection: ${connection}\r\n\r\n`,
  );
  for (const [start, end] of [
    [0, 1024],
    [1024, 128 * 1024],
    [128 * 1024, body.length],
  ]) {
    socket.write(body.subarray(start, end));
    await sleep(200);
  }
  socket.resume();
  await Promise.race([closed, sleep(3_000)]);
  socket.destroy();
  return { response, error };
}

describe('early responses', () => {
  it.each(['close', 'keep-alive'])(
    'reach a caller that sends the whole body first (Connection: %s)',
    async (connection) => {
      const { response, error } = await sendBodyThenRead(connection);

      expect(error).toBe('');
      expect(response).toMatch(/^HTTP\/1\.1 400 /);
      expect(response).toContain('"code":"invalid_feature_type"');
      expect(response).toMatch(/\r\nConnection: close\r\n/i);
    },
  );
});
