import crypto, { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { findClient, parseClientTokens } from '../../src/http/client-tokens';
import { buildMultipart, MULTIPART_TYPE } from '../support/multipart';
import { send } from '../support/send';
import { API_KEY, startStack, type Stack } from '../support/stack';

const ALPHA_TOKEN = 'alpha-token-0123456789abcdef';
const HASHED_TOKEN = 'hashed-token-0123456789abcdef';
const HELPDESK_TOKEN = 'helpdesk-token-0123456789abcdef';

function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await sleep(10);
  expect(condition()).toBe(true);
}

function basic(name: string, token: string): string {
  return `Basic ${Buffer.from(`${name}:${token}`).toString('base64')}`;
}

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    env: {
      PROXY_CLIENT_TOKENS: [
        `alpha:${ALPHA_TOKEN}`,
        `hashed:sha256:${sha256Hex(HASHED_TOKEN)}`,
        `helpdesk:${HELPDESK_TOKEN}`,
      ].join(','),
      PROXY_CLIENT_FEATURE_TYPES: 'helpdesk:chat|quicktasks',
    },
  });
});

afterAll(async () => {
  await stack.close();
});

afterEach(() => {
  stack.emulator.faults.reset();
});

function uploadRaw(headers: Record<string, string>, query = 'featureType=chat&fileName=a.txt') {
  return request(stack.url)
    .post(`/v1/files?${query}`)
    .set(headers)
    .set('content-type', 'text/plain')
    .send('hello');
}

async function authFailures(reason: string): Promise<number> {
  const text = (await request(stack.url).get('/metrics')).text;
  const match = new RegExp(
    `^connecteam_proxy_auth_failures_total\\{reason="${reason}"\\} (\\d+)$`,
    'm',
  ).exec(text);
  return match ? Number(match[1]) : 0;
}

describe('client credentials configured as sha256 digests', () => {
  it.each([
    ['Bearer', { authorization: `Bearer ${HASHED_TOKEN}` }],
    ['X-Api-Key', { 'x-api-key': HASHED_TOKEN }],
    ['HTTP Basic', { authorization: basic('hashed', HASHED_TOKEN) }],
  ])('accepts the plain token sent as %s', async (_scheme, headers) => {
    const response = await uploadRaw(headers);

    expect(response.status).toBe(201);
  });

  it('rejects the configured digest presented as the token', async () => {
    const response = await uploadRaw({ authorization: `Bearer ${sha256Hex(HASHED_TOKEN)}` });

    expect(response.status).toBe(401);
  });

  it('rejects the digest with its sha256: prefix', async () => {
    const response = await uploadRaw({
      authorization: `Bearer sha256:${sha256Hex(HASHED_TOKEN)}`,
    });

    expect(response.status).toBe(401);
  });
});

describe('rejected credentials', () => {
  it.each([
    ['no credential', {}],
    ['an empty Bearer token', { authorization: 'Bearer ' }],
    ['an unknown scheme', { authorization: `Token ${ALPHA_TOKEN}` }],
    ['a token differing in case', { authorization: `Bearer ${ALPHA_TOKEN.toUpperCase()}` }],
    ['a token with a trailing character', { authorization: `Bearer ${ALPHA_TOKEN}x` }],
    ['a token one character short', { authorization: `Bearer ${ALPHA_TOKEN.slice(0, -1)}` }],
    [
      'Basic without a colon',
      { authorization: `Basic ${Buffer.from('alpha').toString('base64')}` },
    ],
    ['Basic with an empty name', { authorization: basic('', ALPHA_TOKEN) }],
    ['Basic with a wrong name', { authorization: basic('helpdesk', ALPHA_TOKEN) }],
    ['Basic that is not base64', { authorization: 'Basic %%%not-base64%%%' }],
    ['an empty X-Api-Key', { 'x-api-key': '' }],
    ['the Connecteam API key', { 'x-api-key': API_KEY }],
    ['a 12 KiB token', { authorization: `Bearer ${'t'.repeat(12 * 1024)}` }],
  ])('answers 401 with WWW-Authenticate for %s', async (_case, headers) => {
    const response = await uploadRaw(headers);

    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('unauthorized');
    expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="[^"]+", Basic realm=/);
  });

  it('answers 401 on GET /v1/files/{fileId} too', async () => {
    const response = await request(stack.url).get('/v1/files/some-file-id');

    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toContain('Basic');
  });

  it('reaches neither Connecteam nor storage for a rejected credential', async () => {
    stack.emulator.stats.reset();

    await uploadRaw({ authorization: 'Bearer wrong-token-0123456789' });

    expect(stack.emulator.stats.calls.generate.total).toBe(0);
    expect(stack.emulator.stats.calls.storage.total).toBe(0);
  });

  it('logs each failure at warn without the presented token', async () => {
    const secret = 'presented-secret-0123456789';
    const before = stack.logs.lines.length;

    await uploadRaw({ authorization: `Bearer ${secret}` });
    await uploadRaw({ authorization: basic('alpha', `${secret}-basic`) });
    await uploadRaw({ 'x-api-key': `${secret}-header` });

    const lines = stack.logs.lines
      .slice(before)
      .filter((line) => line.msg === 'client credential rejected');
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line.level).toBe('warn');
      expect(line.reason).toBe('invalid');
    }
    const written = stack.logs.raw.join('\n');
    expect(written).not.toContain(secret);
    expect(written).not.toContain(Buffer.from(`alpha:${secret}-basic`).toString('base64'));
  });

  it('counts failures by reason in connecteam_proxy_auth_failures_total', async () => {
    const missingBefore = await authFailures('missing');
    const invalidBefore = await authFailures('invalid');

    await uploadRaw({});
    await uploadRaw({ authorization: 'Bearer wrong-token-0123456789' });
    await uploadRaw({ 'x-api-key': 'wrong-token-0123456789' });

    expect(await authFailures('missing')).toBe(missingBefore + 1);
    expect(await authFailures('invalid')).toBe(invalidBefore + 2);
  });
});

describe('per-client feature types', () => {
  const helpdesk = { authorization: `Bearer ${HELPDESK_TOKEN}` };

  it.each(['chat', 'quicktasks'])('lets the client upload for %s', async (featureType) => {
    const response = await uploadRaw(helpdesk, `featureType=${featureType}&fileName=a.txt`);

    expect(response.status).toBe(201);
  });

  it('answers 403 naming the allowed feature types for a raw body', async () => {
    stack.emulator.stats.reset();

    const response = await uploadRaw(helpdesk, 'featureType=users&fileName=a.txt');

    expect(response.status).toBe(403);
    expect(response.body.error.code).toBe('feature_type_forbidden');
    expect(response.body.error.message).toContain('"users"');
    expect(response.body.error.message).toContain('allowed: chat, quicktasks');
    expect(stack.emulator.stats.calls.generate.total).toBe(0);
  });

  it.each([
    ['before the file', true],
    ['after the file', false],
  ])('answers 403 for a multipart featureType field %s', async (_case, fieldFirst) => {
    stack.emulator.stats.reset();
    const field = { name: 'featureType', value: 'shiftscheduler' };
    const file = { name: 'file', filename: 'a.txt', content: Buffer.from('hello') };
    const response = await send(`${stack.url}/v1/files`, {
      headers: { ...helpdesk, 'content-type': MULTIPART_TYPE },
      body: buildMultipart(fieldFirst ? [field, file] : [file, field]),
    });

    expect(response.status).toBe(403);
    expect(response.json.error.message).toContain('allowed: chat, quicktasks');
    expect(stack.emulator.stats.calls.generate.total).toBe(0);
    expect(stack.emulator.stats.completes).toBe(0);
    // The disk copy of a file rejected after it arrived is deleted just after the response.
    await waitFor(() => readdirSync(stack.spoolDir).length === 0);
  });

  it('leaves clients without an entry free to use every feature type', async () => {
    const response = await uploadRaw(
      { authorization: `Bearer ${ALPHA_TOKEN}` },
      'featureType=shiftscheduler&fileName=a.txt',
    );

    expect(response.status).toBe(201);
  });
});

describe('findClient comparison', () => {
  const clients = parseClientTokens(
    ['one', 'two', 'three', 'four'].map((name) => `${name}:${name}-token-0123456789`).join(','),
  );

  afterEach(() => {
    jest.restoreAllMocks();
  });

  it.each([
    ['the first client', 'one-token-0123456789'],
    ['the last client', 'four-token-0123456789'],
    ['no client', 'nobody-token-0123456789'],
    ['an empty token', ''],
    ['a long token', 'x'.repeat(10_000)],
  ])('compares fixed-length digests with every client for %s', (_case, token) => {
    const compare = jest.spyOn(crypto, 'timingSafeEqual');

    findClient(clients, token);

    expect(compare).toHaveBeenCalledTimes(clients.length);
    for (const [presented, configured] of compare.mock.calls) {
      expect((presented as Buffer).length).toBe(32);
      expect((configured as Buffer).length).toBe(32);
    }
  });
});
