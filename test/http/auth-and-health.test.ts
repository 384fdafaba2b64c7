import { connect } from 'node:net';
import request from 'supertest';
import { API_KEY, AUTH, BETA_TOKEN, TOKEN, startStack, type Stack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { PROXY_CLIENT_FEATURE_TYPES: 'beta:users' } });
});

afterAll(async () => {
  await stack.close();
});

function uploadWith(headers: Record<string, string>) {
  return request(stack.url)
    .post('/v1/files?featureType=chat&fileName=a.txt')
    .set(headers)
    .set('content-type', 'text/plain')
    .send('hello');
}

describe('client credentials', () => {
  it.each([
    ['Bearer', { authorization: `Bearer ${TOKEN}` }],
    ['X-Api-Key', { 'x-api-key': TOKEN }],
    ['HTTP Basic', { authorization: `Basic ${Buffer.from(`alpha:${TOKEN}`).toString('base64')}` }],
  ])('accepts a token sent as %s', async (_scheme, headers) => {
    const response = await uploadWith(headers);
    expect(response.status).toBe(201);
  });

  it.each([
    ['no credential', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token-0123456789' }],
    [
      'Basic with another client name',
      { authorization: `Basic ${Buffer.from(`beta:${TOKEN}`).toString('base64')}` },
    ],
    ['the Connecteam key itself', { 'x-api-key': API_KEY }],
  ])('answers 401 with WWW-Authenticate for %s', async (_case, headers) => {
    const response = await uploadWith(headers);
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toContain('Bearer');
    expect(response.body.error.code).toBe('unauthorized');
  });

  it('answers 401 for a Bearer header with extra words', async () => {
    const response = await uploadWith({ authorization: `Bearer ${TOKEN} trailing words` });
    expect(response.status).toBe(401);
  });

  it('answers 403 naming the feature types the client may use', async () => {
    const response = await uploadWith({ authorization: `Bearer ${BETA_TOKEN}` });
    expect(response.status).toBe(403);
    expect(response.body.error.message).toContain('allowed: users');
  });

  it('logs a rejected credential without the token', async () => {
    await uploadWith({ authorization: 'Bearer secret-attempt-0123456789' });
    const lines = stack.logs.find('client credential rejected');
    expect(lines.length).toBeGreaterThan(0);
    expect(stack.logs.raw.join('\n')).not.toContain('secret-attempt-0123456789');
  });
});

describe('health, readiness and metrics routes', () => {
  it('answers /healthz and /readyz without a credential', async () => {
    expect((await request(stack.url).get('/healthz')).status).toBe(200);
    expect((await request(stack.url).get('/readyz')).status).toBe(200);
  });

  it('serves Prometheus text with the upload counters', async () => {
    await uploadWith(AUTH);
    const response = await request(stack.url).get('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    expect(response.text).toMatch(
      /connecteam_proxy_uploads_total\{client="alpha",feature_type="chat",outcome="completed"\} \d+/,
    );
    expect(response.text).toMatch(/connecteam_proxy_quota_remaining\{window="minute"\} \d+/);
    expect(response.text).toContain('process_resident_memory_bytes');
  });

  it('echoes X-Request-Id and sets no-store on /v1', async () => {
    const response = await uploadWith({ ...AUTH, 'x-request-id': 'trace-abc-123' });
    expect(response.headers['x-request-id']).toBe('trace-abc-123');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['x-powered-by']).toBeUndefined();
  });

  it('answers 405 with Allow for a known route and another method', async () => {
    const response = await request(stack.url).put('/v1/files').set(AUTH).send('x');
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('POST');
    expect(response.body.error.message).toContain('use POST');
  });

  it.each([
    ['a garbage request line', 'GARBAGE\r\n\r\n', 400],
    [
      'both Content-Length and chunked',
      'POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
      400,
    ],
    [
      '20 KB of headers',
      `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      431,
    ],
  ])('answers %s with a JSON error', async (_case, raw, status) => {
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(stack.url).port), '127.0.0.1', () => socket.end(raw));
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('latin1')));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    expect(text.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
    expect(text).toContain('application/json');
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).toBeDefined();
  });

  it('answers 404 in JSON for unknown routes', async () => {
    const response = await request(stack.url).get('/nope');
    expect(response.status).toBe(404);
    expect(response.body.error.code).toBe('not_found');
  });
});

describe('GET /v1/files/:fileId', () => {
  it("returns Connecteam's metadata of an uploaded file", async () => {
    const uploaded = await uploadWith(AUTH);
    const fileId = uploaded.body.files[0].fileId;
    const response = await request(stack.url).get(`/v1/files/${fileId}`).set(AUTH);
    expect(response.status).toBe(200);
    expect(response.body.file).toMatchObject({
      fileId,
      uploadCompleted: true,
      featureType: 'chat',
    });
  });

  it('answers 404 for a file Connecteam does not have', async () => {
    const response = await request(stack.url)
      .get('/v1/files/00000000-0000-0000-0000-000000000000')
      .set(AUTH);
    expect(response.status).toBe(404);
  });
});
