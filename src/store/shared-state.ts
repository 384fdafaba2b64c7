import type { Logger } from 'pino';
import type { Config } from '../config';
import { QuotaPacer, type QuotaGate } from '../connecteam/quota-pacer';
import { RedisQuotaGate } from '../connecteam/redis-quota-gate';
import { MemoryIdempotencyStore, type IdempotencyStore } from '../idempotency/idempotency-store';
import { RedisIdempotencyStore } from '../idempotency/redis-idempotency-store';
import type { Metrics } from '../metrics/metrics';
import type { RedisConnection as RedisConnectionClass } from './redis-connection';

/** The quota and the idempotency keys, kept in this process or shared through Redis. */
export interface SharedState {
  quota: QuotaGate;
  idempotency: IdempotencyStore;
  /** Not ready while a configured Redis is unreachable under the fail-closed policy. */
  readiness(): { ready: boolean; reason?: string };
  close(): Promise<void>;
}

export interface SharedStateOptions {
  /** Clock of the in-process pacer, in ms since the epoch. */
  now?: () => number;
  /** Lease TTL of quota reservations in Redis, in ms; tests shorten it. */
  leaseTtlMs?: number;
}

/**
 * Builds the in-process quota pacer and idempotency map, or, when `REDIS_URL` is set, their
 * Redis versions that every replica shares, with the in-process ones as the fallback.
 */
export async function createSharedState(
  config: Config,
  metrics: Metrics,
  logger: Logger,
  options: SharedStateOptions = {},
): Promise<SharedState> {
  const local = new QuotaPacer({ maxWaitMs: config.quotaMaxWaitMs, metrics, now: options.now });
  const memory = new MemoryIdempotencyStore({ ttlMs: config.idempotencyTtlMs });
  const { url, keyPrefix, failurePolicy } = config.redis;
  if (url === undefined) {
    return {
      quota: local,
      idempotency: memory,
      readiness: () => ({ ready: true }),
      close: () => Promise.resolve(),
    };
  }
  // Loaded only when configured: the Redis client adds about 18 MiB to a process that has
  // no use for it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on demand
  const { RedisConnection } = require('./redis-connection') as {
    RedisConnection: typeof RedisConnectionClass;
  };
  const connection = new RedisConnection({ url, failurePolicy, metrics, logger });
  const quota = new RedisQuotaGate({
    connection,
    keyPrefix,
    maxWaitMs: config.quotaMaxWaitMs,
    metrics,
    local,
    leaseTtlMs: options.leaseTtlMs,
  });
  const idempotency = new RedisIdempotencyStore({
    connection,
    keyPrefix,
    ttlMs: config.idempotencyTtlMs,
    fallback: memory,
  });
  await connection.connect();
  return {
    quota,
    idempotency,
    readiness: () =>
      connection.available || failurePolicy === 'local'
        ? { ready: true }
        : { ready: false, reason: 'the shared quota store (Redis) is unreachable' },
    close: async () => {
      quota.close();
      await connection.close();
    },
  };
}
