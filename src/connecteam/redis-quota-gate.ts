import { randomUUID } from 'node:crypto';
import { QuotaExhaustedError } from '../errors';
import type { Metrics, QuotaWindow } from '../metrics/metrics';
import type { RedisConnection, RedisScript } from '../store/redis-connection';
import type { QuotaGate, QuotaPacer, QuotaReservation, ReserveOptions } from './quota-pacer';
import {
  OBSERVE_SCRIPT,
  RELEASE_SCRIPT,
  RENEW_SCRIPT,
  RESERVE_SCRIPT,
  SETTLE_SCRIPT,
} from './quota-scripts';
import type { RateLimitReading, WindowReading } from './rate-limit-headers';

export interface RedisQuotaGateOptions {
  connection: RedisConnection;
  /** Prefix of every Redis key, so several deployments can share one Redis. */
  keyPrefix: string;
  maxWaitMs: number;
  metrics: Metrics;
  /**
   * This replica's own pacer. It receives every reading, publishes the quota gauges, and grants
   * reservations while Redis is unreachable under the `local` failure policy.
   */
  local: QuotaPacer;
  /** How long a lease outlives a replica that stops renewing it, in ms. Default 30 s. */
  leaseTtlMs?: number;
}

interface ReserveAnswer {
  granted: boolean;
  /** The window that keeps the calls from fitting and the ms until it resets, when known. */
  blocked?: { window: QuotaWindow; waitMs: number };
}

/** Connecteam reports resets in whole seconds and its clock differs from ours by some amount. */
const RESET_MARGIN_MS = 500;
/** Window hashes stay a day past their reset, so the limits survive a quiet night. */
const WINDOW_KEY_TTL_MS = 86_400_000;
const FIRST_POLL_MS = 25;
const MAX_POLL_MS = 400;
/** Completions poll more often, as they would jump the queue of the in-process pacer. */
const MAX_PRIORITY_POLL_MS = 100;

/**
 * Paces uploads of every replica against one Connecteam quota kept in Redis. Reservations are
 * leases in a sorted set, one member per call, that expire unless the replica that took them
 * renews them, so a replica that dies gives its calls back within the lease TTL. A request
 * that does not fit polls with backoff until the window resets, within the wait bound, and is
 * woken early when this replica settles a call.
 *
 * NOTE: waiters on different replicas are not served in arrival order, and a completion's
 * priority only shortens its polling interval.
 */
export class RedisQuotaGate implements QuotaGate {
  private readonly scripts: Record<
    'reserve' | 'observe' | 'settle' | 'release' | 'renew',
    RedisScript
  >;
  private readonly keys: [string, string, string];
  private readonly leaseTtlMs: number;
  private readonly replicaId = randomUUID();
  private sequence = 0;
  /** Lease members of this replica, renewed until they are settled or released. */
  private readonly held = new Set<string>();
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly wakers = new Set<() => void>();
  private waiting = 0;

  constructor(private readonly options: RedisQuotaGateOptions) {
    const { connection } = options;
    this.scripts = {
      reserve: connection.script('quotaReserve', 3, RESERVE_SCRIPT),
      observe: connection.script('quotaObserve', 2, OBSERVE_SCRIPT),
      settle: connection.script('quotaSettle', 3, SETTLE_SCRIPT),
      release: connection.script('quotaRelease', 1, RELEASE_SCRIPT),
      renew: connection.script('quotaRenew', 1, RENEW_SCRIPT),
    };
    const prefix = `${options.keyPrefix}quota:`;
    this.keys = [`${prefix}minute`, `${prefix}day`, `${prefix}leases`];
    this.leaseTtlMs = options.leaseTtlMs ?? 30_000;
  }

  async reserve(
    calls: number,
    signal: AbortSignal,
    options: ReserveOptions = {},
  ): Promise<QuotaReservation> {
    signal.throwIfAborted();
    const started = Date.now();
    const maxWaitMs = options.maxWaitMs ?? this.options.maxWaitMs;
    let counted = false;
    try {
      for (let attempt = 0; ; attempt += 1) {
        const leaseId = `${this.replicaId}:${(this.sequence += 1)}`;
        let answer: ReserveAnswer;
        try {
          answer = await this.tryReserve(calls, leaseId);
        } catch (error) {
          const failure = this.options.connection.failed(error, 'quota reservation');
          if (this.options.connection.failurePolicy === 'fail-closed') throw failure;
          const left = Math.max(0, started + maxWaitMs - Date.now());
          return await this.options.local.reserve(calls, signal, { ...options, maxWaitMs: left });
        }
        const elapsed = Date.now() - started;
        if (answer.granted) {
          const reservation = this.lease(leaseId, calls);
          if (signal.aborted) {
            reservation.release();
            throw signal.reason;
          }
          this.options.metrics.quotaWait.observe(elapsed / 1000);
          return reservation;
        }
        const left = maxWaitMs - elapsed;
        const blocked = answer.blocked;
        if (blocked !== undefined && blocked.waitMs > left) {
          throw this.exhausted(blocked.window, blocked.waitMs);
        }
        // Until a first response shows the budget, one upload at a time goes through to learn it.
        if (blocked === undefined && left <= 0) throw this.exhausted('minute', 1000);
        if (!counted) {
          counted = true;
          this.countWaiting(1);
        }
        const cap = options.priority ? MAX_PRIORITY_POLL_MS : MAX_POLL_MS;
        const poll = Math.min(cap, FIRST_POLL_MS * 2 ** attempt);
        await this.sleep(Math.max(0, Math.min(poll, left, blocked?.waitMs ?? left)), signal);
      }
    } finally {
      if (counted) this.countWaiting(-1);
    }
  }

  observe(reading: RateLimitReading): void {
    this.options.local.observe(reading);
    this.publishWaiting();
    this.record(reading, false);
  }

  throttled(reading: RateLimitReading): number {
    this.record(reading, true);
    const waitMs = this.options.local.throttled(reading);
    this.publishWaiting();
    return waitMs;
  }

  /** Stops renewing leases, so those not yet settled expire within the lease TTL. */
  close(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  private async tryReserve(calls: number, leaseId: string): Promise<ReserveAnswer> {
    const reply = (await this.scripts.reserve(
      ...this.keys,
      calls,
      leaseId,
      this.leaseTtlMs,
      RESET_MARGIN_MS,
      WINDOW_KEY_TTL_MS,
    )) as number[];
    const [granted, now = 0, window = 0, resetAt = 0] = reply;
    if (granted === 1) return { granted: true };
    if (window === 0) return { granted: false };
    return {
      granted: false,
      blocked: { window: window === 1 ? 'minute' : 'day', waitMs: Math.max(0, resetAt - now) },
    };
  }

  private lease(leaseId: string, calls: number): QuotaReservation {
    const members = Array.from({ length: calls }, (_, index) => `${leaseId}:${index + 1}`);
    for (const member of members) this.held.add(member);
    this.renewTimer ??= setInterval(() => this.renew(), this.leaseTtlMs / 3).unref();
    return {
      settle: (answered) => {
        const member = members.shift();
        if (member === undefined) return;
        this.held.delete(member);
        this.send('quota settle', this.scripts.settle, [
          ...this.keys,
          member,
          answered ? '1' : '0',
        ]);
      },
      release: () => {
        const rest = members.splice(0);
        if (rest.length === 0) return;
        for (const member of rest) this.held.delete(member);
        this.send('quota release', this.scripts.release, [this.keys[2], ...rest]);
      },
    };
  }

  private renew(): void {
    if (this.held.size === 0) {
      this.close();
      return;
    }
    this.send('lease renewal', this.scripts.renew, [this.keys[2], this.leaseTtlMs, ...this.held]);
  }

  private record(reading: RateLimitReading, throttled: boolean): void {
    const fields = (window: WindowReading | undefined) =>
      window === undefined ? ['', '', ''] : [window.limit, window.remaining, window.resetAtMs];
    this.send('quota reading', this.scripts.observe, [
      this.keys[0],
      this.keys[1],
      ...fields(reading.minute),
      ...fields(reading.day),
      WINDOW_KEY_TTL_MS,
      throttled ? '1' : '0',
    ]);
  }

  /**
   * Runs a script without waiting for its result. Commands on the one connection run in the
   * order they are sent, so a reading sent before a settle is applied before it too. A failure
   * is counted and logged, and leases it leaves behind expire on their own.
   */
  private send(operation: string, script: RedisScript, keysThenArgs: Array<string | number>): void {
    script(...keysThenArgs)
      .catch((error: unknown) => this.options.connection.failed(error, operation))
      .finally(() => this.wake());
  }

  /** Sleeps for `ms`, until this replica settles a call, or until the upload is aborted. */
  private sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const cleanUp = () => {
        clearTimeout(timer);
        this.wakers.delete(done);
        signal.removeEventListener('abort', onAbort);
      };
      const done = () => {
        cleanUp();
        resolve();
      };
      const onAbort = () => {
        cleanUp();
        reject(signal.reason);
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
    });
  }

  private wake(): void {
    for (const wake of [...this.wakers]) wake();
  }

  private countWaiting(delta: number): void {
    this.waiting += delta;
    this.publishWaiting();
  }

  /** The local pacer sets the same gauge to its own queue, so both counts are added here. */
  private publishWaiting(): void {
    this.options.metrics.reservationsWaiting.set(this.waiting + this.options.local.waiting);
  }

  private exhausted(window: QuotaWindow, waitMs: number): QuotaExhaustedError {
    this.options.metrics.quotaRejections.inc({ window });
    return new QuotaExhaustedError(window, waitMs / 1000);
  }
}
