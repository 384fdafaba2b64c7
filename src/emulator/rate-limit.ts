/** The account's quota as Connecteam reports it in the `x-ratelimit-*` headers. */
export interface QuotaSnapshot {
  minuteLimit: number;
  minuteRemaining: number;
  /** End of the current minute window, in UTC epoch seconds. */
  minuteReset: number;
  dayLimit: number;
  dayRemaining: number;
  /** Next UTC midnight, in epoch seconds. */
  dayReset: number;
}

/** Per-window limits of the account, in API calls. */
export interface QuotaLimits {
  minute: number;
  day: number;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** Calls counted in one fixed window, such as the minute that started at 12:04:00 UTC. */
class FixedWindow {
  private start = Number.NEGATIVE_INFINITY;
  private used = 0;

  constructor(
    private readonly lengthMs: number,
    public limit: number,
  ) {}

  remaining(nowMs: number): number {
    this.roll(nowMs);
    return Math.max(0, this.limit - this.used);
  }

  count(nowMs: number): void {
    this.roll(nowMs);
    this.used += 1;
  }

  setRemaining(nowMs: number, remaining: number): void {
    this.roll(nowMs);
    this.used = this.limit - Math.min(this.limit, Math.max(0, Math.floor(remaining)));
  }

  clear(): void {
    this.used = 0;
  }

  /** End of the window containing `nowMs`, in epoch seconds. */
  resetSeconds(nowMs: number): number {
    return ((Math.floor(nowMs / this.lengthMs) + 1) * this.lengthMs) / 1000;
  }

  private roll(nowMs: number): void {
    const start = Math.floor(nowMs / this.lengthMs) * this.lengthMs;
    if (start !== this.start) {
      this.start = start;
      this.used = 0;
    }
  }
}

/**
 * Connecteam's per-account rate limit: fixed windows aligned to the wall-clock minute and to UTC
 * midnight, shared by every key of the account.
 */
export class AccountQuota {
  private readonly minute: FixedWindow;
  private readonly day: FixedWindow;

  constructor(
    limits: QuotaLimits,
    private readonly now: () => number,
  ) {
    this.minute = new FixedWindow(MINUTE_MS, limits.minute);
    this.day = new FixedWindow(DAY_MS, limits.day);
  }

  /**
   * Counts one call when both windows have room and returns whether it did. A rejected call is
   * not counted, so a client that keeps retrying through a 429 gets in as soon as the window
   * resets instead of pushing the reset further away.
   */
  tryConsume(): boolean {
    const nowMs = this.now();
    if (this.minute.remaining(nowMs) === 0 || this.day.remaining(nowMs) === 0) return false;
    this.minute.count(nowMs);
    this.day.count(nowMs);
    return true;
  }

  snapshot(): QuotaSnapshot {
    const nowMs = this.now();
    return {
      minuteLimit: this.minute.limit,
      minuteRemaining: this.minute.remaining(nowMs),
      minuteReset: this.minute.resetSeconds(nowMs),
      dayLimit: this.day.limit,
      dayRemaining: this.day.remaining(nowMs),
      dayReset: this.day.resetSeconds(nowMs),
    };
  }

  /** Sets what is left of the current windows, clamped between 0 and the limit. */
  setRemaining(remaining: { minuteRemaining?: number; dayRemaining?: number }): void {
    const nowMs = this.now();
    if (remaining.minuteRemaining !== undefined) {
      this.minute.setRemaining(nowMs, remaining.minuteRemaining);
    }
    if (remaining.dayRemaining !== undefined) this.day.setRemaining(nowMs, remaining.dayRemaining);
  }

  /** Changes the limits. Calls already counted in the current windows stay counted. */
  setLimits(limits: Partial<QuotaLimits>): void {
    if (limits.minute !== undefined) this.minute.limit = limits.minute;
    if (limits.day !== undefined) this.day.limit = limits.day;
  }

  /** Restores the given limits and clears every counted call. */
  reset(limits: QuotaLimits): void {
    this.setLimits(limits);
    this.minute.clear();
    this.day.clear();
  }
}

/** Formats a snapshot as the six `x-ratelimit-*` response headers. */
export function quotaHeaders(quota: QuotaSnapshot): Record<string, string> {
  return {
    'x-ratelimit-minute-limit': String(quota.minuteLimit),
    'x-ratelimit-minute-remaining': String(quota.minuteRemaining),
    'x-ratelimit-minute-reset': String(quota.minuteReset),
    'x-ratelimit-day-limit': String(quota.dayLimit),
    'x-ratelimit-day-remaining': String(quota.dayRemaining),
    'x-ratelimit-day-reset': String(quota.dayReset),
  };
}
