import { parseOrigin } from './options';
import type { AccountQuota, QuotaLimits } from './rate-limit';

/** A Connecteam API operation that faults can target. */
export type ApiOperation = 'generate' | 'complete' | 'get';

/** An operation that faults can target: an API call, or a storage PUT. */
export type FaultOperation = ApiOperation | 'storage';

/** Action the emulator takes on one request instead of, or before, serving it normally. */
export type FaultAction =
  /** Responds with an error: `{"detail": ...}` for the API, S3 XML for storage. */
  | { kind: 'fail'; status: number; code?: string; afterBytes?: number }
  /** Destroys the socket without a response. */
  | { kind: 'reset'; afterBytes?: number }
  /** Responds 429, or HTTP 200 with a `detail` body and no `data` as Connecteam was reported to. */
  | { kind: 'throttle'; mode: '429' | 'ok-200' }
  /** Waits, then serves the request normally. */
  | { kind: 'delay'; ms: number }
  /** Responds with S3's 307 TemporaryRedirect to `location` without reading the body. */
  | { kind: 'redirect'; location: string }
  /** Stops reading the body, so the idle timeout ends the request with RequestTimeout. */
  | { kind: 'stall'; afterBytes?: number };

/** Position in the body at which a storage fault strikes. */
export interface BodyPosition {
  /**
   * Number of body bytes received before the fault strikes. Without it, `fail` strikes after
   * the whole body arrived, and `reset` and `stall` before the first body byte.
   */
  afterBytes?: number;
}

/**
 * Fault switches for tests of retries, pacing and timeouts. Each `*Next` call queues actions
 * for the next requests of one operation. Queued actions run first in, first out, so
 * `failNext('generate', 1)` followed by `resetNext('generate', 1)` fails the next call and
 * resets the one after.
 *
 * Storage faults strike only PUTs that pass S3's header and signature checks. API faults
 * strike after the API key check and do not count against the quota, except `delay`, after
 * which the call is served and counted normally.
 */
export class EmulatorFaults {
  /** Standing delay in ms before every API call is served. */
  apiDelayMs = 0;
  /** Standing pause in ms after each chunk of a storage PUT body, so storage reads slowly. */
  storageChunkDelayMs = 0;
  private urlOrigin: string | undefined;
  private readonly queues = new Map<FaultOperation, FaultAction[]>();

  constructor(
    private readonly quota: AccountQuota,
    private readonly configuredLimits: QuotaLimits,
  ) {}

  /**
   * Origin put into new upload URLs in place of the emulator's own, such as
   * `http://storage.invalid`, to test an allow-list of upload hosts.
   *
   * @throws RangeError when the value is not a bare http(s) origin.
   */
  get uploadUrlOrigin(): string | undefined {
    return this.urlOrigin;
  }

  set uploadUrlOrigin(origin: string | undefined) {
    this.urlOrigin = origin === undefined ? undefined : parseOrigin(origin);
  }

  /**
   * Responds to the next `count` calls of `operation` with `status`. Storage sends S3 XML
   * (503 SlowDown, 500 InternalError, or `code`) after reading the body, or as soon as
   * `afterBytes` body bytes arrived.
   */
  failNext(
    operation: FaultOperation,
    count = 1,
    status = 503,
    options: BodyPosition & { code?: string } = {},
  ): void {
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new RangeError(`status must be an HTTP status from 200 to 599, got ${status}`);
    }
    this.enqueue(operation, count, { kind: 'fail', status, ...options });
  }

  /** Destroys the socket of the next `count` calls of `operation` without a response. */
  resetNext(operation: FaultOperation, count = 1, options: BodyPosition = {}): void {
    this.enqueue(operation, count, { kind: 'reset', ...options });
  }

  /** Responds to the next `count` API calls with 429, or with the HTTP 200 `detail` body. */
  throttleNext(operation: ApiOperation, count = 1, mode: '429' | 'ok-200' = '429'): void {
    this.enqueue(operation, count, { kind: 'throttle', mode });
  }

  /** Holds the next `count` calls of `operation` for `ms` before serving them normally. */
  delayNext(operation: FaultOperation, count: number, ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ms must be a non-negative number, got ${ms}`);
    this.enqueue(operation, count, { kind: 'delay', ms });
  }

  /** Stops reading the body of the next `count` storage PUTs. */
  stallStorage(count = 1, options: BodyPosition = {}): void {
    this.enqueue('storage', count, { kind: 'stall', ...options });
  }

  /**
   * Responds to the next `count` storage PUTs with a 307 redirect to `location`.
   *
   * @throws RangeError when `location` is not an absolute URL.
   */
  redirectStorageNext(count: number, location: string): void {
    if (!URL.canParse(location))
      throw new RangeError(`location must be an absolute URL, got '${location}'`);
    this.enqueue('storage', count, { kind: 'redirect', location });
  }

  /** Sets what is left of the account's current minute and day windows. */
  setQuota(remaining: { minuteRemaining?: number; dayRemaining?: number }): void {
    this.quota.setRemaining(remaining);
  }

  /** Changes the account's limits. Calls counted so far in the current windows stay counted. */
  setLimits(limits: Partial<QuotaLimits>): void {
    this.quota.setLimits(limits);
  }

  /** Number of queued actions that have not struck yet. */
  pending(operation: FaultOperation): number {
    return this.queues.get(operation)?.length ?? 0;
  }

  /** Takes the action for the next call of `operation`, if one is queued. */
  take(operation: FaultOperation): FaultAction | undefined {
    return this.queues.get(operation)?.shift();
  }

  /**
   * Clears every queued action and standing switch, restores the configured limits and
   * clears the calls counted so far, so one emulator can serve many tests.
   */
  reset(): void {
    this.queues.clear();
    this.apiDelayMs = 0;
    this.storageChunkDelayMs = 0;
    this.urlOrigin = undefined;
    this.quota.reset(this.configuredLimits);
  }

  private enqueue(operation: FaultOperation, count: number, action: FaultAction): void {
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(`count must be a non-negative integer, got ${count}`);
    }
    const queue = this.queues.get(operation) ?? [];
    for (let i = 0; i < count; i += 1) queue.push(action);
    this.queues.set(operation, queue);
  }
}
