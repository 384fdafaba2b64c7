import { mkdirSync, rmSync } from 'node:fs';
import request from 'supertest';
import { buildMultipart, MULTIPART_TYPE } from '../support/multipart';
import { send, type SendResult } from '../support/send';
import { AUTH, startStack, type Stack } from '../support/stack';

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

/** One request per kind of response the proxy sends, with its expected status. */
const CASES: Array<[string, number, () => Promise<SendResult>]> = [
  ['GET /healthz', 200, () => send(`${stack.url}/healthz`, { method: 'GET' })],
  ['GET /readyz', 200, () => send(`${stack.url}/readyz`, { method: 'GET' })],
  ['GET /metrics', 200, () => send(`${stack.url}/metrics`, { method: 'GET' })],
  ['an unknown route', 404, () => send(`${stack.url}/admin`, { method: 'GET' })],
  ['POST /v1/files without a credential', 401, () => send(`${stack.url}/v1/files`)],
  [
    'a successful upload',
    201,
    () =>
      send(`${stack.url}/v1/files?featureType=chat&fileName=a.txt`, {
        headers: { ...AUTH, 'content-type': 'text/plain' },
        body: Buffer.from('hello'),
      }),
  ],
  [
    'an invalid upload',
    400,
    () =>
      send(`${stack.url}/v1/files?featureType=Chat&fileName=a.txt`, {
        headers: { ...AUTH, 'content-type': 'text/plain' },
        body: Buffer.from('hello'),
      }),
  ],
  [
    'a multipart upload Connecteam fails',
    502,
    () => {
      stack.emulator.faults.failNext('generate', 1, 401);
      return send(`${stack.url}/v1/files`, {
        headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
        body: buildMultipart([
          { name: 'featureType', value: 'chat' },
          { name: 'file', filename: 'a.txt', content: Buffer.from('hello') },
        ]),
      });
    },
  ],
  [
    'GET /v1/files/{fileId} for an unknown file',
    404,
    () => send(`${stack.url}/v1/files/unknown-file`, { method: 'GET', headers: AUTH }),
  ],
];

describe('response headers', () => {
  it.each(CASES)('are hardened for %s', async (_case, status, call) => {
    const response = await call();

    expect(response.status).toBe(status);
    expect(response.headers['x-powered-by']).toBeUndefined();
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toBe(
      "default-src 'none';frame-ancestors 'none'",
    );
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(response.headers['cross-origin-resource-policy']).toBe('same-origin');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['x-request-id']).toMatch(/^[A-Za-z0-9._:-]{1,128}$/);
  });

  it.each(CASES.filter(([name]) => name.includes('/v1') || name.includes('upload')))(
    'include Cache-Control no-store for %s',
    async (_case, _status, call) => {
      const response = await call();

      expect(response.headers['cache-control']).toBe('no-store');
    },
  );

  it('replace a non-plain X-Request-Id', async () => {
    const response = await request(stack.url)
      .get('/healthz')
      .set('x-request-id', 'id with spaces<script>');

    expect(response.headers['x-request-id']).not.toContain('<');
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('error bodies', () => {
  it('hide the cause of an unexpected failure', async () => {
    // Without its spool directory the proxy fails in a way no error class describes.
    rmSync(stack.spoolDir, { recursive: true, force: true });
    try {
      const response = await send(`${stack.url}/v1/files?featureType=chat&fileName=a.bin`, {
        headers: { ...AUTH, 'content-type': 'application/octet-stream' },
        body: Buffer.alloc(256 * 1024, 1),
        chunked: true,
      });

      expect(response.status).toBe(500);
      expect(response.json.error.code).toBe('internal_error');
      expect(response.json.error.message).toBe(
        'the proxy failed unexpectedly; the operator can find details in its log',
      );
      expect(response.text).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
      expect(response.text).not.toContain('ENOENT');
      expect(response.text).not.toContain(stack.spoolDir);
      const logged = stack.logs.find('request failed unexpectedly');
      expect(logged.at(-1)?.err?.stack).toContain('ENOENT');
    } finally {
      mkdirSync(stack.spoolDir, { recursive: true });
    }
  });

  it.each(CASES.filter(([, status]) => status >= 400))(
    'carry no stack trace for %s',
    async (_case, _status, call) => {
      const response = await call();

      expect(Object.keys(response.json)).toEqual(expect.arrayContaining(['error', 'requestId']));
      expect(Object.keys(response.json.error).sort()).toEqual(['code', 'message']);
      expect(response.text).not.toMatch(/\bat .*:\d+:\d+/);
      expect(response.text).not.toContain('/src/');
    },
  );
});
