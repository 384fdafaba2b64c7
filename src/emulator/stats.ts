import type { ApiOperation } from './faults';

/**
 * A kind of request the emulator counts: an API operation, a storage PUT (`storage`), a
 * storage GET or HEAD of a file URL (`download`), or a request that matches no route (`other`).
 */
export type CountedOperation = ApiOperation | 'storage' | 'download' | 'other';

/** Requests of one operation. */
export interface CallCounts {
  /** Every request, with a response or without one. */
  total: number;
  /** Requests with a response, by HTTP status. */
  byStatus: Record<number, number>;
  /** Requests that ended without a response, such as those a reset fault destroyed. */
  resets: number;
}

const OPERATIONS: CountedOperation[] = [
  'generate',
  'complete',
  'get',
  'storage',
  'download',
  'other',
];

/** Counters that tests read. {@link EmulatorStats.reset} zeroes them all. */
export class EmulatorStats {
  readonly calls = {} as Record<CountedOperation, CallCounts>;
  /** 429 responses sent, because the quota ran out or a fault requested them. */
  tooManyRequests = 0;
  /** HTTP 200 responses with a `Too many requests` detail and no data, sent by a fault. */
  throttledOk = 0;
  /** Successful complete-upload calls. */
  completes = 0;
  /** Body bytes received by storage PUTs, including PUTs that failed later. */
  storageBytesReceived = 0;

  constructor() {
    this.reset();
  }

  recordResponse(operation: CountedOperation, status: number): void {
    const counts = this.calls[operation];
    counts.total += 1;
    counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
  }

  recordReset(operation: CountedOperation): void {
    this.calls[operation].total += 1;
    this.calls[operation].resets += 1;
  }

  reset(): void {
    for (const operation of OPERATIONS) {
      this.calls[operation] = { total: 0, byStatus: {}, resets: 0 };
    }
    this.tooManyRequests = 0;
    this.throttledOk = 0;
    this.completes = 0;
    this.storageBytesReceived = 0;
  }
}
