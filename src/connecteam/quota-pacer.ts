import { QuotaExhaustedError } from '../errors';
import type { Metrics, QuotaWindow } from '../metrics/metrics';
import type { RateLimitReading, WindowReading } from './rate-limit-headers';

/** Calls reserved for one upload; each unit is settled once its call has a response. */
export interface QuotaReservation {
  /** Marks one reserved call as done, so its cost now shows in Connecteam's headers. */
  settle(answered: boolean): void;
  /** Gives back every unit not settled yet, for calls that will not be made. */
  release(): void;
}

/** The quota operations an upload needs, whichever store keeps the state. */
export interface QuotaGate {
  /** Waits, within the configured bound, until `calls` API calls fit in every window. */
  reserve(calls: number, signal: AbortSignal, options?: ReserveOptions): Promise<QuotaReservation>;
  /** Records the `x-ratelimit-*` headers of a Connecteam response. */
  observe(reading: RateLimitReading): void;
  /** Records that Connecteam throttled a call, and returns how long until the quota resets. */
  throttled(reading: RateLimitReading): number;
}

export interface ReserveOptions {
  /** Overrides the configured wait bound, for calls worth waiting longer for. */
  maxWaitMs?: number;
  /** Serves this request before queued ones, as for completing a file already in storage. */
  priority?: boolean;
}

interface Waiter {
  calls: number;
  enqueuedAt: number;
  deadline: number;
  resolve: (reservation: QuotaReservation) => void;
  reject: (error: Error) => void;
}

const WINDOW_LENGTH_MS: Record<QuotaWindow, number> = { minute: 60_000, day: 86_400_000 };
/** Connecteam reports resets in whole seconds and its clock differs from ours by some amount. */
const RESET_MARGIN_MS = 500;

export interface QuotaPacerOptions {
  maxWaitMs: number;
  metrics: Metrics;
  now?: () => number;
}

/**
 * Paces uploads in one process from Connecteam's rate-limit headers. An upload reserves both
 * of its calls (generate and complete) before it starts, so concurrent uploads cannot spend
 * the same budget, and no upload starts whose completion would find the quota spent.
 */
export class QuotaPacer implements QuotaGate {
  private readonly windows: Partial<Record<QuotaWindow, WindowReading>> = {};
  /** Reserved calls whose responses have not been seen yet. */
  private outstanding = 0;
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  constructor(private readonly options: QuotaPacerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Reservations waiting in this pacer's queue. */
  get waiting(): number {
    return this.queue.length;
  }

  reserve(
    calls: number,
    signal: AbortSignal,
    options: ReserveOptions = {},
  ): Promise<QuotaReservation> {
    signal.throwIfAborted();
    const now = this.now();
    const maxWaitMs = options.maxWaitMs ?? this.options.maxWaitMs;
    if ((this.queue.length === 0 || options.priority) && this.fits(calls, now)) {
      this.options.metrics.quotaWait.observe(0);
      return Promise.resolve(this.grant(calls));
    }
    const blocked = this.blockedUntil(calls, now);
    if (blocked !== undefined && blocked.at - now > maxWaitMs) {
      return Promise.reject(this.exhausted(blocked.window, blocked.at - now));
    }
    return new Promise<QuotaReservation>((resolve, reject) => {
      const waiter: Waiter = {
        calls,
        enqueuedAt: now,
        deadline: now + maxWaitMs,
        resolve,
        reject,
      };
      const onAbort = () => {
        this.remove(waiter);
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      waiter.resolve = (reservation) => {
        signal.removeEventListener('abort', onAbort);
        resolve(reservation);
      };
      waiter.reject = (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      };
      if (options.priority) this.queue.unshift(waiter);
      else this.queue.push(waiter);
      this.options.metrics.reservationsWaiting.set(this.queue.length);
      this.pump();
    });
  }

  observe(reading: RateLimitReading): void {
    for (const window of ['minute', 'day'] as const) {
      const next = reading[window];
      if (next === undefined) continue;
      const current = this.windows[window];
      if (current === undefined || next.resetAtMs > current.resetAtMs) {
        this.windows[window] = { ...next };
      } else if (next.resetAtMs === current.resetAtMs) {
        // Responses can arrive out of order, so within one window the lowest remaining is the newest.
        current.remaining = Math.min(current.remaining, next.remaining);
        current.limit = next.limit;
      }
      this.publish(window);
    }
    this.pump();
  }

  throttled(reading: RateLimitReading): number {
    this.observe(reading);
    const now = this.now();
    // remaining() first rolls over a window whose reset has passed, so a stale 0 does not count.
    let spent = (['minute', 'day'] as const).filter((w) => this.remaining(w, now) === 0);
    if (spent.length === 0) {
      // A throttle without headers that show it: assume the minute window is spent.
      const minute = this.windows.minute;
      const resetAtMs = minute && minute.resetAtMs > now ? minute.resetAtMs : now + 60_000;
      this.windows.minute = { limit: minute?.limit ?? 0, remaining: 0, resetAtMs };
      this.publish('minute');
      spent = ['minute'];
    }
    const resetAt = Math.max(...spent.map((w) => this.windows[w]!.resetAtMs));
    return Math.max(0, resetAt - now) + RESET_MARGIN_MS;
  }

  private grant(calls: number): QuotaReservation {
    this.outstanding += calls;
    let unsettled = calls;
    return {
      settle: (answered) => {
        if (unsettled === 0) return;
        unsettled -= 1;
        this.outstanding -= 1;
        // A finished call's cost shows only once its headers are observed, and observe()
        // serves the queue then. Serving it here would let a waiter spend that budget twice.
        if (answered) return;
        this.chargeUnanswered();
        this.pump();
      },
      release: () => {
        this.outstanding -= unsettled;
        unsettled = 0;
        this.pump();
      },
    };
  }

  /** Charges a call that got no response, because it may still have counted at Connecteam. */
  private chargeUnanswered(): void {
    for (const window of ['minute', 'day'] as const) {
      const reading = this.windows[window];
      if (reading && reading.remaining > 0) reading.remaining -= 1;
    }
  }

  /** Remaining calls in a window, taking a reset that has already passed into account. */
  private remaining(window: QuotaWindow, now: number): number | undefined {
    const reading = this.windows[window];
    if (reading === undefined) return undefined;
    if (now >= reading.resetAtMs + RESET_MARGIN_MS) {
      // A placeholder window from throttled() has no known limit to restore, so drop it and
      // learn the limit again.
      if (reading.limit === 0) {
        delete this.windows[window];
        return undefined;
      }
      reading.remaining = reading.limit;
      // One jump, because stepping window by window from a reset long ago takes millions of steps.
      const length = WINDOW_LENGTH_MS[window];
      reading.resetAtMs += (Math.floor((now - reading.resetAtMs) / length) + 1) * length;
      this.publish(window);
    }
    return reading.remaining;
  }

  private fits(calls: number, now: number): boolean {
    const minute = this.remaining('minute', now);
    const day = this.remaining('day', now);
    // Until Connecteam's headers have shown the budget, one upload at a time goes through to learn it.
    if (minute === undefined && day === undefined) return this.outstanding === 0;
    return Math.min(minute ?? Infinity, day ?? Infinity) - this.outstanding >= calls;
  }

  /** The window that keeps `calls` from fitting, and when it resets; undefined if unknown. */
  private blockedUntil(
    calls: number,
    now: number,
  ): { window: QuotaWindow; at: number } | undefined {
    let blocked: { window: QuotaWindow; at: number } | undefined;
    for (const window of ['minute', 'day'] as const) {
      const remaining = this.remaining(window, now);
      if (remaining === undefined || remaining - this.outstanding >= calls) continue;
      const at = this.windows[window]!.resetAtMs + RESET_MARGIN_MS;
      if (blocked === undefined || at > blocked.at) blocked = { window, at };
    }
    return blocked;
  }

  private pump(): void {
    const now = this.now();
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (this.fits(head.calls, now)) {
        this.queue.shift();
        this.options.metrics.quotaWait.observe((now - head.enqueuedAt) / 1000);
        head.resolve(this.grant(head.calls));
        continue;
      }
      const blocked = this.blockedUntil(head.calls, now);
      if (
        now < head.deadline &&
        (blocked === undefined || blocked.at - now <= head.deadline - now)
      ) {
        break;
      }
      this.queue.shift();
      head.reject(this.exhausted(blocked?.window ?? 'minute', blocked ? blocked.at - now : 1000));
    }
    this.options.metrics.reservationsWaiting.set(this.queue.length);
    this.schedule(now);
  }

  /** Wakes the queue at the next reset or deadline, whichever comes first. */
  private schedule(now: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const head = this.queue[0];
    if (head === undefined) return;
    const blocked = this.blockedUntil(head.calls, now);
    const at = Math.min(head.deadline, blocked?.at ?? head.deadline);
    this.timer = setTimeout(() => this.pump(), Math.max(0, at - now));
    this.timer.unref();
  }

  private remove(waiter: Waiter): void {
    const index = this.queue.indexOf(waiter);
    if (index !== -1) this.queue.splice(index, 1);
    this.pump();
  }

  private exhausted(window: QuotaWindow, waitMs: number): QuotaExhaustedError {
    this.options.metrics.quotaRejections.inc({ window });
    return new QuotaExhaustedError(window, waitMs / 1000);
  }

  private publish(window: QuotaWindow): void {
    const reading = this.windows[window];
    if (reading === undefined) return;
    const { metrics } = this.options;
    metrics.quotaLimit.set({ window }, reading.limit);
    metrics.quotaRemaining.set({ window }, reading.remaining);
    metrics.quotaReset.set({ window }, Math.floor(reading.resetAtMs / 1000));
  }
}
