import { request as httpRequest, type ClientRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { startStack, type Stack } from '../support/stack';

const TOKENS = {
  alpha: 'alpha-token-0123456789abcdef',
  beta: 'beta-token-0123456789abcdef',
  gamma: 'gamma-token-0123456789abcdef',
};

let stack: Stack;
const held: ClientRequest[] = [];

beforeAll(async () => {
  stack = await startStack({
    env: {
      PROXY_CLIENT_TOKENS: Object.entries(TOKENS)
        .map(([name, token]) => `${name}:${token}`)
        .join(','),
      MAX_CONCURRENT_UPLOADS: '2',
      MAX_CONCURRENT_UPLOADS_PER_CLIENT: '1',
    },
  });
});

afterAll(async () => {
  await stack.close();
});

afterEach(async () => {
  for (const upload of held.splice(0)) upload.destroy();
  await waitFor(async () => (await inFlight()) === 0);
});

async function inFlight(): Promise<number> {
  const metric = await stack.proxy.metrics.uploadsInFlight.get();
  return metric.values[0]?.value ?? 0;
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/**
 * Starts a raw upload that sends 1000 bytes of its body and then stays open; resolves once
 * they reach storage. The body is over SMALL_FILE_BYTES, so it streams instead of being read
 * whole first.
 */
async function holdUpload(client: keyof typeof TOKENS): Promise<void> {
  const before = stack.emulator.stats.storageBytesReceived;
  const upload = httpRequest(`${stack.url}/v1/files?featureType=chat&fileName=held.bin`, {
    method: 'POST',
    agent: false,
    headers: {
      authorization: `Bearer ${TOKENS[client]}`,
      'content-type': 'application/octet-stream',
      'content-length': '200000',
    },
  });
  upload.on('error', () => undefined);
  upload.write(Buffer.alloc(1000));
  held.push(upload);
  await waitFor(async () => stack.emulator.stats.storageBytesReceived > before);
}

function upload(client: keyof typeof TOKENS) {
  return request(stack.url)
    .post('/v1/files?featureType=chat&fileName=a.txt')
    .set('authorization', `Bearer ${TOKENS[client]}`)
    .set('content-type', 'text/plain')
    .send('hello');
}

async function rejections(scope: string): Promise<number> {
  const metric = await stack.proxy.metrics.concurrencyRejections.get();
  return metric.values.find((value) => value.labels.scope === scope)?.value ?? 0;
}

describe('upload admission', () => {
  it('answers 429 with Retry-After to a client over its own limit', async () => {
    await holdUpload('alpha');
    const before = await rejections('client');

    const response = await upload('alpha');

    expect(response.status).toBe(429);
    expect(response.body.error.code).toBe('too_many_uploads');
    expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await rejections('client')).toBe(before + 1);
  });

  it('still admits another client below the total limit', async () => {
    await holdUpload('alpha');

    const response = await upload('beta');

    expect(response.status).toBe(201);
  });

  it('answers 503 proxy_busy with Retry-After once the total limit is reached', async () => {
    await holdUpload('alpha');
    await holdUpload('beta');
    const before = await rejections('total');

    const response = await upload('gamma');

    expect(response.status).toBe(503);
    expect(response.body.error.code).toBe('proxy_busy');
    expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await rejections('total')).toBe(before + 1);
  });

  it('calls neither Connecteam nor storage for a rejected upload', async () => {
    await holdUpload('alpha');
    await holdUpload('beta');
    const generates = stack.emulator.stats.calls.generate.total;

    await upload('gamma');

    expect(stack.emulator.stats.calls.generate.total).toBe(generates);
  });

  it('frees the slot when the held upload disconnects', async () => {
    await holdUpload('alpha');
    held.pop()!.destroy();
    await waitFor(async () => (await inFlight()) === 0);

    const response = await upload('alpha');

    expect(response.status).toBe(201);
  });

  it('checks the credential before the limits', async () => {
    await holdUpload('alpha');
    await holdUpload('beta');

    const response = await request(stack.url)
      .post('/v1/files?featureType=chat&fileName=a.txt')
      .set('authorization', 'Bearer wrong-token-0123456789')
      .send('hello');

    expect(response.status).toBe(401);
  });
});
