import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { StoreUnavailableError } from '../errors';
import type { Metrics } from '../metrics/metrics';

/** Policy while Redis is unreachable: reject uploads, or pace each replica alone. */
export type StoreFailurePolicy = 'fail-closed' | 'local';

export interface RedisConnectionOptions {
  url: string;
  failurePolicy: StoreFailurePolicy;
  metrics: Metrics;
  logger: Logger;
  /** Time limit of one Redis command, in ms. */
  commandTimeoutMs?: number;
}

/** Runs a script defined by {@link RedisConnection.script}. */
export type RedisScript = (...keysThenArgs: Array<string | number>) => Promise<unknown>;

/** Minimum time between two warnings about the same outage, in ms. */
const WARNING_INTERVAL_MS = 10_000;

/**
 * The one connection to the Redis server that replicas share state through. Commands fail at
 * once while the connection is down instead of queueing until it is back, so an upload never
 * waits on the store. The failure policy then decides whether it is rejected or paced locally.
 */
export class RedisConnection {
  readonly redis: Redis;
  readonly failurePolicy: StoreFailurePolicy;
  private lastWarningAt = Number.NEGATIVE_INFINITY;
  private suppressed = 0;
  private outage = false;

  constructor(private readonly options: RedisConnectionOptions) {
    this.failurePolicy = options.failurePolicy;
    this.redis = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      // Commands in flight when the connection drops fail instead of being resent later, when
      // the quota state they were meant for may have changed.
      maxRetriesPerRequest: 0,
      commandTimeout: options.commandTimeoutMs ?? 1_000,
      connectTimeout: 2_000,
      // How long closing waits for the socket to end. A socket that already failed never emits
      // its close event again, so this timer would otherwise hold shutdown for 2 s.
      disconnectTimeout: 200,
      // Reconnects forever, at most every 2 s.
      retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
    });
    this.redis.on('error', (error: Error) => this.warn(error, 'connection'));
    this.redis.on('ready', () => {
      if (!this.outage) return;
      this.outage = false;
      this.options.logger.info({ redis: this.address }, 'shared store (Redis) reachable again');
    });
  }

  /** Redis host and port, without the credentials a URL may hold. */
  get address(): string {
    const { host, port } = this.redis.options;
    return `${host ?? 'localhost'}:${port ?? 6379}`;
  }

  /** Whether commands can be sent now. */
  get available(): boolean {
    return this.redis.status === 'ready';
  }

  /**
   * Defines a Lua script and returns a function that runs it with its keys first, then its
   * arguments. ioredis sends the whole script once per connection (EVAL) and its SHA1 after
   * that (EVALSHA), so commands keep the order in which they were sent.
   */
  script(name: string, numberOfKeys: number, lua: string): RedisScript {
    this.redis.defineCommand(name, { numberOfKeys, lua });
    const command = (this.redis as unknown as Record<string, RedisScript>)[name];
    if (command === undefined) throw new Error(`ioredis did not define the script ${name}`);
    return command.bind(this.redis);
  }

  /** Opens the connection; when Redis is unreachable the client keeps reconnecting meanwhile. */
  async connect(): Promise<void> {
    try {
      await this.redis.connect();
      this.options.logger.info({ redis: this.address }, 'shared store (Redis) connected');
    } catch (error) {
      this.warn(error, 'connect');
    }
  }

  /**
   * Counts a failed store operation and logs it, at most once per 10 s. Returns the 503 error
   * that callers throw under the fail-closed policy.
   */
  failed(error: unknown, operation: string): StoreUnavailableError {
    this.options.metrics.quotaStoreErrors.inc();
    this.warn(error, operation);
    return new StoreUnavailableError(error);
  }

  async close(): Promise<void> {
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  private warn(error: unknown, operation: string): void {
    this.outage = true;
    const now = Date.now();
    if (now - this.lastWarningAt < WARNING_INTERVAL_MS) {
      this.suppressed += 1;
      return;
    }
    this.lastWarningAt = now;
    const consequence =
      this.failurePolicy === 'local'
        ? 'each replica paces uploads alone until it is back'
        : 'uploads are rejected with 503 until it is back';
    this.options.logger.warn(
      {
        redis: this.address,
        operation,
        err: { message: (error as Error)?.message ?? String(error) },
        suppressedSinceLastWarning: this.suppressed,
      },
      `shared store (Redis) request failed; ${consequence}`,
    );
    this.suppressed = 0;
  }
}
