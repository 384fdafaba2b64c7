import { createHash } from 'node:crypto';
import { findClient, parseClientTokens } from '../../src/http/client-tokens';

const PAYROLL_TOKEN = 'payroll-token-0123456789';
const HELPDESK_TOKEN = 'helpdesk-token-0123456789';

function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

describe('parseClientTokens', () => {
  it('stores the sha256 digest of a plain token', () => {
    const [client] = parseClientTokens(`payroll:${PAYROLL_TOKEN}`);

    expect(client!.name).toBe('payroll');
    expect(client!.tokenSha256.toString('hex')).toBe(sha256Hex(PAYROLL_TOKEN));
  });

  it.each([
    ['lower-case hex', sha256Hex(PAYROLL_TOKEN)],
    ['upper-case hex', sha256Hex(PAYROLL_TOKEN).toUpperCase()],
  ])('takes a sha256: token in %s as the digest itself', (_case, hex) => {
    const [client] = parseClientTokens(`payroll:sha256:${hex}`);

    expect(client!.tokenSha256.toString('hex')).toBe(sha256Hex(PAYROLL_TOKEN));
  });

  it.each([
    ['commas', `payroll:${PAYROLL_TOKEN},helpdesk:${HELPDESK_TOKEN}`],
    ['newlines', `payroll:${PAYROLL_TOKEN}\nhelpdesk:${HELPDESK_TOKEN}\n`],
    ['padding and empty entries', ` payroll:${PAYROLL_TOKEN} ,, \n helpdesk:${HELPDESK_TOKEN} ,`],
  ])('splits entries separated by %s', (_case, raw) => {
    const clients = parseClientTokens(raw);

    expect(clients.map((client) => client.name)).toEqual(['payroll', 'helpdesk']);
    expect(clients[1]!.tokenSha256.toString('hex')).toBe(sha256Hex(HELPDESK_TOKEN));
  });

  it('keeps colons after the first as part of the token', () => {
    const [client] = parseClientTokens('legacy:abc:def:0123456789');

    expect(client!.tokenSha256.toString('hex')).toBe(sha256Hex('abc:def:0123456789'));
  });

  it.each(['a', 'A.b_c-9', 'x'.repeat(64)])('accepts the client name %j', (name) => {
    const [client] = parseClientTokens(`${name}:${PAYROLL_TOKEN}`);

    expect(client!.name).toBe(name);
  });

  it('accepts a plain token of exactly 16 characters', () => {
    expect(parseClientTokens('payroll:0123456789abcdef')).toHaveLength(1);
  });

  it.each([
    ['an entry without a colon', PAYROLL_TOKEN, 'each entry must look like name:token'],
    ['an empty name', `:${PAYROLL_TOKEN}`, 'each entry must look like name:token'],
    ['a name with a space', `pay roll:${PAYROLL_TOKEN}`, 'each entry must look like name:token'],
    ['a name with a slash', `pay/roll:${PAYROLL_TOKEN}`, 'each entry must look like name:token'],
    ['a name of 65 characters', `${'x'.repeat(65)}:${PAYROLL_TOKEN}`, 'name:token'],
    ['a token of 15 characters', 'payroll:0123456789abcde', 'at least 16 characters long'],
    ['an empty token', 'payroll:', 'at least 16 characters long'],
    ['a short digest', `payroll:sha256:${'a'.repeat(63)}`, 'followed by 64 hex digits'],
    ['a long digest', `payroll:sha256:${'a'.repeat(65)}`, 'followed by 64 hex digits'],
    ['a digest with a non-hex digit', `payroll:sha256:${'g'.repeat(64)}`, '64 hex digits'],
    ['a name given twice', `a:${PAYROLL_TOKEN},a:${HELPDESK_TOKEN}`, 'client "a" is listed twice'],
    ['an empty list', ' , \n ', 'no client is configured'],
  ])('rejects %s', (_case, raw, message) => {
    expect(() => parseClientTokens(raw)).toThrow(message);
  });

  it.each([
    ['two plain tokens', `a:${PAYROLL_TOKEN},b:${PAYROLL_TOKEN}`],
    ['a plain token and its digest', `a:${PAYROLL_TOKEN},b:sha256:${sha256Hex(PAYROLL_TOKEN)}`],
  ])('rejects one token shared by %s', (_case, raw) => {
    expect(() => parseClientTokens(raw)).toThrow('clients "a" and "b" share a token');
  });

  it.each([
    'payroll:tiny-secret',
    'tiny-secret-0123456789',
    'pay roll:tiny-secret-0123456789',
    `a:tiny-secret-0123456789,b:tiny-secret-0123456789`,
  ])('keeps the token out of the error for %j', (raw) => {
    expect(() => parseClientTokens(raw)).toThrow();
    expect(() => parseClientTokens(raw)).not.toThrow(/tiny-secret/);
  });
});

describe('findClient', () => {
  const clients = parseClientTokens(
    `payroll:${PAYROLL_TOKEN},helpdesk:sha256:${sha256Hex(HELPDESK_TOKEN)}`,
  );

  it.each([
    ['a plain token', PAYROLL_TOKEN, 'payroll'],
    ['a token configured as its digest', HELPDESK_TOKEN, 'helpdesk'],
  ])('finds the client of %s without a name', (_case, token, expected) => {
    expect(findClient(clients, token)?.name).toBe(expected);
  });

  it('finds the client when the name matches the token', () => {
    expect(findClient(clients, HELPDESK_TOKEN, 'helpdesk')?.name).toBe('helpdesk');
  });

  it.each([
    ['another client name', PAYROLL_TOKEN, 'helpdesk'],
    ['an unknown client name', PAYROLL_TOKEN, 'nobody'],
    ['a name differing in case', PAYROLL_TOKEN, 'Payroll'],
  ])('finds nothing for a right token with %s', (_case, token, name) => {
    expect(findClient(clients, token, name)).toBeUndefined();
  });

  it.each([
    ['a wrong token', 'wrong-token-0123456789'],
    ['an empty token', ''],
    ['a token one character short', PAYROLL_TOKEN.slice(0, -1)],
    ['a token with an extra character', `${PAYROLL_TOKEN}x`],
    ['the configured digest itself', `sha256:${sha256Hex(HELPDESK_TOKEN)}`],
  ])('finds nothing for %s', (_case, token) => {
    expect(findClient(clients, token)).toBeUndefined();
    expect(findClient(clients, token, 'payroll')).toBeUndefined();
  });

  it('finds nothing when no client is configured', () => {
    expect(findClient([], PAYROLL_TOKEN)).toBeUndefined();
  });
});
