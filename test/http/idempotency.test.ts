import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildMultipart } from '../support/multipart';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { startReplicas } from '../support/replicas';
import { send, type SendOptions, type SendResult } from '../support/send';
import { AUTH, BETA_TOKEN, startStack, type Stack } from '../support/stack';

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis.kill();
});

function newKey(): string {
  return `upload-${randomUUID()}`;
}

function post(
  stack: Stack,
  key: string,
  body: Buffer,
  options: { query?: string; headers?: Record<string, string> } = {},
): Promise<SendResult> {
  const query = options.query ?? 'featureType=chat&fileName=note.txt';
  const request: SendOptions = {
    headers: {
      ...AUTH,
      'content-type': 'text/plain',
      'idempotency-key': key,
      ...options.headers,
    },
    body,
  };
  return send(`${stack.url}/v1/files?${query}`, request);
}

/** API calls and storage bytes the emulator has seen so far. */
function upstreamUse(stack: Stack): { calls: number; storageBytes: number } {
  const { calls } = stack.emulator.stats;
  return {
    calls: calls.generate.total + calls.complete.total,
    storageBytes: stack.emulator.stats.storageBytesReceived,
  };
}

describe.each([
  ['in memory', false],
  ['in Redis', true],
])('Idempotency-Key %s', (_name, useRedis) => {
  let stack: Stack;

  beforeAll(async () => {
    const env: Record<string, string> = useRedis
      ? { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `idempotency-test-${randomUUID()}:` }
      : {};
    stack = await startStack({ env });
  });

  afterAll(async () => {
    await stack.close();
  });

  beforeEach(() => {
    stack.emulator.faults.reset();
  });

  it('replays a 201 without calling Connecteam', async () => {
    const key = newKey();
    const body = Buffer.alloc(300 * 1024, 'a');
    const first = await post(stack, key, body);
    const before = upstreamUse(stack);

    const repeat = await post(stack, key, body);

    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(repeat.status).toBe(201);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(repeat.json).toEqual(first.json);
    expect(upstreamUse(stack)).toEqual(before);
    const replays = await stack.proxy.metrics.idempotentReplays.get();
    expect(replays.values[0]?.value).toBeGreaterThanOrEqual(1);
  });

  it('answers 409 while the first request runs', async () => {
    const key = newKey();
    const body = Buffer.from('still running');
    stack.emulator.faults.delayNext('storage', 1, 500);
    const generated = new Promise<void>((resolve) =>
      stack.emulator.events.once('api-call', () => resolve()),
    );
    const first = post(stack, key, body);
    await generated;

    const parallel = await post(stack, key, body);

    expect(parallel.status).toBe(409);
    expect(parallel.json.error.code).toBe('idempotency_key_in_use');
    expect((await first).status).toBe(201);
    const after = await post(stack, key, body);
    expect(after.status).toBe(201);
    expect(after.headers['idempotent-replayed']).toBe('true');
  });

  it('answers 422 for a different body length', async () => {
    const key = newKey();
    expect((await post(stack, key, Buffer.from('first body'))).status).toBe(201);
    const before = upstreamUse(stack);

    const other = await post(stack, key, Buffer.from('another body'));

    expect(other.status).toBe(422);
    expect(other.json.error.code).toBe('idempotency_key_reused');
    expect(upstreamUse(stack)).toEqual(before);
  });

  it('answers 422 for a different query', async () => {
    const key = newKey();
    const body = Buffer.from('same body');
    expect((await post(stack, key, body)).status).toBe(201);

    const other = await post(stack, key, body, {
      query: 'featureType=users&fileName=note.txt',
    });

    expect(other.status).toBe(422);
    expect(other.json.error.code).toBe('idempotency_key_reused');
  });

  it('ignores the multipart boundary', async () => {
    const key = newKey();
    const multipart = (boundary: string) => ({
      body: buildMultipart(
        [
          { name: 'featureType', value: 'chat' },
          { name: 'file', filename: 'a.txt', contentType: 'text/plain', content: Buffer.from('x') },
        ],
        boundary,
      ),
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    });
    const first = multipart('------------------------a1b2c3d4e5f60718');
    const second = multipart('------------------------0f9e8d7c6b5a4321');

    const original = await post(stack, key, first.body, { query: '', headers: first.headers });
    const repeat = await post(stack, key, second.body, { query: '', headers: second.headers });

    expect(original.status).toBe(201);
    expect(repeat.status).toBe(201);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
  });

  it('replays a final 4xx', async () => {
    const key = newKey();
    const query = 'featureType=payroll&fileName=note.txt';
    const first = await post(stack, key, Buffer.from('x'), { query });

    const repeat = await post(stack, key, Buffer.from('x'), { query });

    expect(first.status).toBe(400);
    expect(repeat.status).toBe(400);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(repeat.json.error.code).toBe(first.json.error.code);
  });

  it('frees the key after a 5xx', async () => {
    const key = newKey();
    stack.emulator.faults.failNext('generate', 1, 401);
    const first = await post(stack, key, Buffer.from('x'));

    const repeat = await post(stack, key, Buffer.from('x'));

    expect(first.status).toBe(502);
    expect(repeat.status).toBe(201);
    expect(repeat.headers['idempotent-replayed']).toBeUndefined();
  });

  it('scopes keys to the client', async () => {
    const key = newKey();
    const alpha = await post(stack, key, Buffer.from('x'));

    const beta = await post(stack, key, Buffer.from('x'), {
      headers: { authorization: `Bearer ${BETA_TOKEN}` },
    });

    expect(alpha.status).toBe(201);
    expect(beta.status).toBe(201);
    expect(beta.headers['idempotent-replayed']).toBeUndefined();
    expect(beta.json.files[0].fileId).not.toBe(alpha.json.files[0].fileId);
  });

  it.each([
    ['empty', ''],
    ['256 characters long', 'k'.repeat(256)],
    ['non-ASCII', 'clé-1'],
    ['a tab character', 'key\tone'],
  ])('rejects a key that is %s', async (_case, key) => {
    const before = upstreamUse(stack);

    const response = await post(stack, key, Buffer.from('x'));

    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe('invalid_idempotency_key');
    expect(response.json.error.message).toMatch(/1 to 255 printable ASCII/);
    expect(upstreamUse(stack)).toEqual(before);
  });

  it('accepts a key of 255 characters', async () => {
    const response = await post(stack, `${randomUUID()}${'k'.repeat(219)}`, Buffer.from('x'));

    expect(response.status).toBe(201);
  });

  it('expires stored responses after the TTL', async () => {
    const shortLived = await startStack({
      env: useRedis
        ? { REDIS_URL: redis.url, IDEMPOTENCY_TTL_SECONDS: '1' }
        : { IDEMPOTENCY_TTL_SECONDS: '1' },
    });
    try {
      const key = newKey();
      const first = await post(shortLived, key, Buffer.from('x'));
      await sleep(1_200);

      const later = await post(shortLived, key, Buffer.from('x'));

      expect(first.status).toBe(201);
      expect(later.status).toBe(201);
      expect(later.headers['idempotent-replayed']).toBeUndefined();
      expect(later.json.files[0].fileId).not.toBe(first.json.files[0].fileId);
    } finally {
      await shortLived.close();
    }
  });
});

describe('Idempotency-Key across replicas', () => {
  it('replays on another replica', async () => {
    const primary = await startStack();
    const { replicas, close } = await startReplicas(2, primary.emulator, {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `idempotency-replicas-${randomUUID()}:`,
    });
    try {
      const key = newKey();
      const request = {
        headers: { ...AUTH, 'content-type': 'text/plain', 'idempotency-key': key },
        body: Buffer.from('shared'),
      };
      const query = '/v1/files?featureType=chat&fileName=shared.txt';
      const first = await send(`${replicas[0]!.url}${query}`, request);
      const completes = primary.emulator.stats.completes;

      const repeat = await send(`${replicas[1]!.url}${query}`, request);

      expect(first.status).toBe(201);
      expect(repeat.status).toBe(201);
      expect(repeat.headers['idempotent-replayed']).toBe('true');
      expect(repeat.json).toEqual(first.json);
      expect(primary.emulator.stats.completes).toBe(completes);
    } finally {
      await close();
      await primary.close();
    }
  });
});
