import { createHash, randomUUID } from 'node:crypto';
import type { RedisConnection, RedisScript } from '../store/redis-connection';
import type {
  BeginOutcome,
  IdempotencyClaim,
  IdempotencyRecord,
  IdempotencyStore,
  MemoryIdempotencyStore,
  StoredResult,
} from './idempotency-store';

export interface RedisIdempotencyStoreOptions {
  connection: RedisConnection;
  keyPrefix: string;
  /** How long a stored response is kept, in ms. */
  ttlMs: number;
  /** How long a running marker outlives a replica that stops renewing it, in ms. Default 60 s. */
  runningTtlMs?: number;
  /** Serves keys in this replica alone while Redis is unreachable, under the `local` policy. */
  fallback: MemoryIdempotencyStore;
}

/**
 * Acts on a key only while it still contains the marker of this claim, so a replica whose marker
 * expired cannot overwrite or delete the claim of the request that took the key over.
 *
 * KEYS[1]: the key. ARGV: token, action (finish, renew or abandon), finished record, ttl ms.
 */
const OWNER_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, record = pcall(cjson.decode, current)
if not ok or record.token ~= ARGV[1] then return 0 end
if ARGV[2] == 'finish' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
elseif ARGV[2] == 'renew' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
else
  redis.call('DEL', KEYS[1])
end
return 1
`;

/** A record as stored in Redis. The token identifies the claim that a running marker belongs to. */
type StoredRecord = IdempotencyRecord & { token?: string };

/**
 * Keeps idempotency keys in Redis, shared by every replica. A request claims its key with
 * SET NX and a short TTL that it renews while it runs, so the key frees itself if the replica
 * dies. The stored response then replaces the marker for the configured TTL.
 */
export class RedisIdempotencyStore implements IdempotencyStore {
  private readonly owner: RedisScript;
  private readonly runningTtlMs: number;

  constructor(private readonly options: RedisIdempotencyStoreOptions) {
    this.owner = options.connection.script('idempotencyOwner', 1, OWNER_SCRIPT);
    this.runningTtlMs = options.runningTtlMs ?? 60_000;
  }

  async begin(scope: string, key: string, fingerprint: string): Promise<BeginOutcome> {
    const { connection } = this.options;
    // Hashing keeps Redis keys short whatever characters the idempotency key holds.
    const digest = createHash('sha256')
      .update(JSON.stringify([scope, key]))
      .digest('hex');
    const id = `${this.options.keyPrefix}idempotency:${digest}`;
    try {
      // A key can expire between a failed SET NX and the GET, and then the claim is tried again.
      for (let attempt = 0; attempt < 3; attempt += 1) {
        const token = randomUUID();
        const marker: StoredRecord = { state: 'running', fingerprint, token };
        const set = await connection.redis.set(
          id,
          JSON.stringify(marker),
          'PX',
          this.runningTtlMs,
          'NX',
        );
        if (set === 'OK') return { claim: this.claim(id, token, fingerprint, [scope, key]) };
        const current = await connection.redis.get(id);
        if (current !== null) return { existing: parseRecord(current) };
      }
      throw new Error('the idempotency key expired three times between SET NX and GET');
    } catch (error) {
      const failure = connection.failed(error, 'idempotency key');
      if (connection.failurePolicy === 'fail-closed') throw failure;
      return this.options.fallback.begin(scope, key, fingerprint);
    }
  }

  private claim(
    id: string,
    token: string,
    fingerprint: string,
    [scope, key]: [string, string],
  ): IdempotencyClaim {
    const renew = setInterval(
      () => void this.act(id, token, 'renew', '', this.runningTtlMs),
      this.runningTtlMs / 3,
    ).unref();
    let ended = false;
    const end = () => {
      const first = !ended;
      ended = true;
      clearInterval(renew);
      return first;
    };
    return {
      finish: async (result: StoredResult) => {
        if (!end()) return;
        const record: IdempotencyRecord = { state: 'done', fingerprint, result };
        const stored = await this.act(
          id,
          token,
          'finish',
          JSON.stringify(record),
          this.options.ttlMs,
        );
        // With Redis gone, the local policy keeps the result on this replica, where a repeat
        // lands while Redis stays unreachable.
        if (!stored && this.options.connection.failurePolicy === 'local') {
          const local = await this.options.fallback.begin(scope, key, fingerprint);
          if ('claim' in local) await local.claim.finish(result);
        }
      },
      abandon: async () => {
        if (end()) await this.act(id, token, 'abandon', '', 0);
      },
    };
  }

  /** Runs the owner script. A failure is counted and logged, and the marker then expires. */
  private async act(
    id: string,
    token: string,
    action: 'finish' | 'renew' | 'abandon',
    record: string,
    ttlMs: number,
  ): Promise<boolean> {
    try {
      await this.owner(id, token, action, record, ttlMs);
      return true;
    } catch (error) {
      this.options.connection.failed(error, `idempotency ${action}`);
      return false;
    }
  }
}

function parseRecord(raw: string): IdempotencyRecord {
  const parsed = JSON.parse(raw) as StoredRecord;
  if (parsed.state === 'done') {
    return { state: 'done', fingerprint: parsed.fingerprint, result: parsed.result };
  }
  return { state: 'running', fingerprint: parsed.fingerprint };
}
