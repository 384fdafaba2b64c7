import { createHash, timingSafeEqual } from 'node:crypto';

/** A configured caller: its name and the sha256 digest of its token. */
export interface ClientCredential {
  name: string;
  tokenSha256: Buffer;
}

const CLIENT_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/i;

/**
 * Parses `PROXY_CLIENT_TOKENS`: comma-separated `name:token` entries, where a token may be
 * given as `sha256:<hex>` so that the plain token need not be stored with the proxy.
 */
export function parseClientTokens(raw: string): ClientCredential[] {
  const clients: ClientCredential[] = [];
  for (const entry of raw
    .split(/[,\n]/)
    .map((part) => part.trim())
    .filter(Boolean)) {
    const separator = entry.indexOf(':');
    const name = entry.slice(0, separator);
    const token = entry.slice(separator + 1);
    if (separator <= 0 || !CLIENT_NAME.test(name)) {
      throw new Error(
        'each entry must look like name:token, with a name of letters, digits, ".", "_" or "-"',
      );
    }
    if (clients.some((client) => client.name === name)) {
      throw new Error(`client "${name}" is listed twice`);
    }
    const tokenSha256 = parseToken(name, token);
    // A token must identify one client, because findClient without a name returns the last match.
    const sharing = clients.find((client) => client.tokenSha256.equals(tokenSha256));
    if (sharing !== undefined) {
      throw new Error(`clients "${sharing.name}" and "${name}" share a token; give each its own`);
    }
    clients.push({ name, tokenSha256 });
  }
  if (clients.length === 0) throw new Error('no client is configured');
  return clients;
}

function parseToken(name: string, token: string): Buffer {
  if (token.startsWith('sha256:')) {
    const hex = token.slice('sha256:'.length);
    if (!SHA256_HEX.test(hex)) {
      throw new Error(`client "${name}": sha256: must be followed by 64 hex digits`);
    }
    return Buffer.from(hex, 'hex');
  }
  if (token.length < 16) {
    throw new Error(`client "${name}": the token must be at least 16 characters long`);
  }
  return sha256(token);
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Finds the client whose token matches. Every configured digest is compared in constant time,
 * so the time taken reveals neither which client matched nor how much of a token was right.
 */
export function findClient(
  clients: readonly ClientCredential[],
  token: string,
  name?: string,
): ClientCredential | undefined {
  const presented = sha256(token);
  let match: ClientCredential | undefined;
  for (const client of clients) {
    const equal = timingSafeEqual(presented, client.tokenSha256);
    if (equal && (name === undefined || name === client.name)) match = client;
  }
  return match;
}
