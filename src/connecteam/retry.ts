import { setTimeout as sleep } from 'node:timers/promises';

/** Exponential backoff with full jitter: each wait is random between 0 and the capped step. */
export function backoffDelay(attempt: number, baseMs = 200, capMs = 5_000): number {
  const step = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.round(Math.random() * step);
}

/** Sleeps unless the signal aborts first, which rejects with an AbortError caused by its reason. */
export async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, undefined, { signal });
}
