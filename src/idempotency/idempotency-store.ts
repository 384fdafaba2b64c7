/** The response sent to a request with an idempotency key: its status and JSON body. */
export interface StoredResult {
  status: number;
  body: unknown;
}

/** State of a key: a request still running, or the response it got. */
export type IdempotencyRecord =
  | { state: 'running'; fingerprint: string }
  | { state: 'done'; fingerprint: string; result: StoredResult };

/** A key this request now runs under; exactly one of the two methods ends it. */
export interface IdempotencyClaim {
  /** Stores the response for repeats of the request, for the configured TTL. */
  finish(result: StoredResult): Promise<void>;
  /** Frees the key, so that a repeat runs the request anew. */
  abandon(): Promise<void>;
}

export type BeginOutcome = { claim: IdempotencyClaim } | { existing: IdempotencyRecord };

/** Storage of idempotency keys and their stored responses. */
export interface IdempotencyStore {
  /**
   * Claims `key` within `scope` (the client) for a request with this fingerprint, or returns
   * what an earlier request with the key left.
   */
  begin(scope: string, key: string, fingerprint: string): Promise<BeginOutcome>;
}

interface Entry {
  record: IdempotencyRecord;
  /** Epoch ms; running entries never expire, because this process ends them. */
  expiresAt: number;
}

export interface MemoryIdempotencyStoreOptions {
  ttlMs: number;
  /** Maximum number of stored responses; the oldest are evicted first. Default 10,000. */
  maxEntries?: number;
  now?: () => number;
}

/**
 * Keeps keys in this process, for a single replica. Finished entries sit in the map in the
 * order they finished, which with one TTL is also the order in which they expire.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly entries = new Map<string, Entry>();
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: MemoryIdempotencyStoreOptions) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Number of keys held, running or finished. */
  get size(): number {
    return this.entries.size;
  }

  begin(scope: string, key: string, fingerprint: string): Promise<BeginOutcome> {
    const id = JSON.stringify([scope, key]);
    this.dropExpired();
    const current = this.entries.get(id);
    if (current !== undefined) return Promise.resolve({ existing: current.record });
    this.makeRoom();
    const entry: Entry = { record: { state: 'running', fingerprint }, expiresAt: Infinity };
    this.entries.set(id, entry);
    let ended = false;
    const end = () => {
      const owned = !ended && this.entries.get(id) === entry;
      ended = true;
      if (owned) this.entries.delete(id);
      return owned;
    };
    const claim: IdempotencyClaim = {
      finish: (result) => {
        if (end()) {
          this.entries.set(id, {
            record: { state: 'done', fingerprint, result },
            expiresAt: this.now() + this.options.ttlMs,
          });
        }
        return Promise.resolve();
      },
      abandon: () => {
        end();
        return Promise.resolve();
      },
    };
    return Promise.resolve({ claim });
  }

  private dropExpired(): void {
    const now = this.now();
    for (const [id, entry] of this.entries) {
      if (entry.record.state === 'running') continue;
      if (entry.expiresAt > now) break;
      this.entries.delete(id);
    }
  }

  /**
   * Evicts the oldest stored responses beyond the bound. Running entries are never evicted;
   * the limits on uploads in flight keep their number small.
   */
  private makeRoom(): void {
    for (const [id, entry] of this.entries) {
      if (this.entries.size < this.maxEntries) return;
      if (entry.record.state === 'done') this.entries.delete(id);
    }
  }
}
