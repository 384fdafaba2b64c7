import { RetryLaterError, ShuttingDownError } from '../errors';
import type { Metrics } from '../metrics/metrics';

/**
 * Caps uploads in flight, per client and in total, and turns new uploads away once shutdown
 * has begun. A full proxy responds 503 and a client over its own share 429, both with
 * `Retry-After`, so callers back off instead of piling up sockets.
 */
export class UploadAdmission {
  private total = 0;
  private readonly perClient = new Map<string, number>();
  private draining = false;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerClient: number,
    private readonly metrics: Metrics,
  ) {}

  get inFlight(): number {
    return this.total;
  }

  get accepting(): boolean {
    return !this.draining;
  }

  /** Admits one upload request and returns the function that ends it; throws when full. */
  enter(client: string): () => void {
    if (this.draining) throw new ShuttingDownError();
    const mine = this.perClient.get(client) ?? 0;
    if (mine >= this.maxPerClient) {
      this.metrics.concurrencyRejections.inc({ scope: 'client' });
      throw new RetryLaterError(
        429,
        'too_many_uploads',
        `client "${client}" already has ${mine} uploads in flight, its limit; retry when one ends`,
        2,
      );
    }
    if (this.total >= this.maxTotal) {
      this.metrics.concurrencyRejections.inc({ scope: 'total' });
      throw new RetryLaterError(
        503,
        'proxy_busy',
        'the proxy is at its limit of uploads in flight; retry shortly',
        2,
      );
    }
    this.total += 1;
    this.perClient.set(client, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= 1;
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left === 0) this.perClient.delete(client);
      else this.perClient.set(client, left);
      if (this.total === 0) this.idleWaiters.splice(0).forEach((wake) => wake());
    };
  }

  /** Stops admitting uploads; resolves once those in flight have ended. */
  drain(): Promise<void> {
    this.draining = true;
    if (this.total === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
