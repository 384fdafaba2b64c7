import type { IncomingHttpHeaders } from 'node:http';

/** One rate-limit window as Connecteam reports it. */
export interface WindowReading {
  limit: number;
  remaining: number;
  /** When the window resets, in milliseconds since the epoch. */
  resetAtMs: number;
}

export interface RateLimitReading {
  minute?: WindowReading;
  day?: WindowReading;
}

function headerNumber(headers: IncomingHttpHeaders, name: string): number | undefined {
  const raw = headers[name];
  const text = Array.isArray(raw) ? raw[0] : raw;
  // Number('') is 0, which would read a blank remaining header as a spent quota.
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  return !Number.isFinite(value) || value < 0 ? undefined : value;
}

function readWindow(headers: IncomingHttpHeaders, window: string): WindowReading | undefined {
  const limit = headerNumber(headers, `x-ratelimit-${window}-limit`);
  const remaining = headerNumber(headers, `x-ratelimit-${window}-remaining`);
  const reset = headerNumber(headers, `x-ratelimit-${window}-reset`);
  if (limit === undefined || remaining === undefined || reset === undefined) return undefined;
  // Connecteam sends resets as UTC epoch seconds.
  return { limit, remaining, resetAtMs: reset * 1000 };
}

/** Reads the `x-ratelimit-*` headers of a Connecteam response; a window missing any header is left out. */
export function readRateLimitHeaders(headers: IncomingHttpHeaders): RateLimitReading {
  return { minute: readWindow(headers, 'minute'), day: readWindow(headers, 'day') };
}
