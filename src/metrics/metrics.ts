import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The outcome of an upload, from a closed set so the label stays small. */
export type UploadOutcome =
  'completed' | 'rejected' | 'aborted' | 'throttled' | 'expired' | 'failed' | 'timeout';

export type UploadStep = 'quota_wait' | 'generate' | 'transfer' | 'complete';
export type ConnecteamOperation = 'generate' | 'complete' | 'get';
export type QuotaWindow = 'minute' | 'day';
/**
 * The reason a disk copy exists. `inferred_size` is the copy kept beside a streaming PUT whose
 * size was inferred from Content-Length. The others are files uploaded from disk.
 */
export type SpoolReason =
  'inferred_size' | 'size_unknown' | 'size_guess_wrong' | 'feature_type_after_file';

const PREFIX = 'connecteam_proxy_';

/** Latency buckets from a few milliseconds (tiny files, API calls) to ten minutes (1 GiB uploads). */
const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
];
const KIB = 1024;
const SIZE_BUCKETS = [
  KIB,
  16 * KIB,
  256 * KIB,
  KIB ** 2,
  8 * KIB ** 2,
  64 * KIB ** 2,
  256 * KIB ** 2,
  KIB ** 3,
];

/**
 * Every metric the proxy exports, registered on a registry of its own so that several app
 * instances (as in tests) never collide.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly quotaLimit = this.gauge(
    'quota_limit',
    "Connecteam's API call budget per window, from x-ratelimit-*-limit.",
    ['window'],
  );
  readonly quotaRemaining = this.gauge(
    'quota_remaining',
    'API calls left in the current window, from x-ratelimit-*-remaining.',
    ['window'],
  );
  readonly quotaReset = this.gauge(
    'quota_reset_timestamp_seconds',
    'Unix time at which the window resets, from x-ratelimit-*-reset.',
    ['window'],
  );

  readonly uploads = this.counter(
    'uploads_total',
    'Files handled, by client, feature type and outcome.',
    ['client', 'feature_type', 'outcome'],
  );
  readonly uploadDuration = this.histogram(
    'upload_duration_seconds',
    'Time from the first byte of a file to its outcome.',
    ['outcome'],
    DURATION_BUCKETS,
  );
  readonly stepDuration = this.histogram(
    'upload_step_duration_seconds',
    'Time spent in each step of an upload.',
    ['step'],
    DURATION_BUCKETS,
  );
  readonly fileSize = this.histogram(
    'file_size_bytes',
    'Size of files that reached storage.',
    [],
    SIZE_BUCKETS,
  );
  readonly receivedBytes = this.counter(
    'received_bytes_total',
    'File bytes read from callers.',
    [],
  );
  readonly storedBytes = this.counter(
    'storage_sent_bytes_total',
    'File bytes sent to storage, by path.',
    ['path'],
  );
  readonly uploadsInFlight = this.gauge(
    'uploads_in_flight',
    'Files being received or uploaded right now.',
    [],
  );

  readonly connecteamRequests = this.counter(
    'connecteam_requests_total',
    'Connecteam API calls, by operation and status class.',
    ['operation', 'status_class'],
  );
  readonly connecteamDuration = this.histogram(
    'connecteam_request_duration_seconds',
    'Latency of Connecteam API calls.',
    ['operation'],
    DURATION_BUCKETS,
  );
  readonly connecteamThrottles = this.counter(
    'connecteam_throttled_total',
    'Throttling answers from Connecteam: a 429, or a 200 saying "Too many requests".',
    ['operation', 'kind'],
  );
  readonly connecteamRetries = this.counter(
    'connecteam_retries_total',
    'Connecteam API calls repeated after a retryable failure.',
    ['operation'],
  );
  readonly storageRequests = this.counter(
    'storage_requests_total',
    'PUTs to the pre-signed storage URL, by status class.',
    ['status_class'],
  );

  readonly quotaWait = this.histogram(
    'quota_wait_seconds',
    'Time uploads waited for Connecteam quota before starting.',
    [],
    DURATION_BUCKETS,
  );
  readonly quotaRejections = this.counter(
    'quota_rejections_total',
    'Uploads answered 429 because the quota would not reset within the wait bound.',
    ['window'],
  );
  readonly reservationsWaiting = this.gauge(
    'quota_reservations_waiting',
    'Uploads waiting for Connecteam quota right now.',
    [],
  );
  readonly quotaStoreErrors = this.counter(
    'quota_store_errors_total',
    'Failures of the shared quota store.',
    [],
  );

  readonly spooledUploads = this.counter(
    'spooled_uploads_total',
    'Files whose bytes reached storage from a disk copy, by reason.',
    ['reason'],
  );
  readonly spoolBytes = this.gauge('spool_bytes', 'Bytes held by disk copies right now.', []);
  readonly diskCopies = this.counter(
    'disk_copies_total',
    'Disk copies written, by reason; inferred_size copies are only uploaded when the inferred size was wrong.',
    ['reason'],
  );
  readonly spoolRejections = this.counter(
    'spool_full_total',
    'Disk copies not made because the spool cap was reached.',
    [],
  );

  readonly httpRequests = this.counter(
    'http_requests_total',
    'HTTP requests served, by route template, method and status class.',
    ['route', 'method', 'status_class'],
  );
  readonly httpDuration = this.histogram(
    'http_request_duration_seconds',
    'Time to serve HTTP requests, by route template.',
    ['route', 'method'],
    DURATION_BUCKETS,
  );
  readonly authFailures = this.counter(
    'auth_failures_total',
    'Requests rejected for a missing or wrong client credential.',
    ['reason'],
  );
  readonly concurrencyRejections = this.counter(
    'concurrency_rejections_total',
    'Uploads rejected because a concurrency limit was reached.',
    ['scope'],
  );
  readonly idempotentReplays = this.counter(
    'idempotent_replays_total',
    'Requests answered from a stored result of the same idempotency key.',
    [],
  );

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    return new Gauge({ name: PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  private histogram<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    buckets: number[],
  ): Histogram<L> {
    return new Histogram({
      name: PREFIX + name,
      help,
      labelNames,
      buckets,
      registers: [this.registry],
    });
  }
}

/** Groups an HTTP status into the closed set used as a label. */
export function statusClass(status: number): string {
  if (status === 429) return '429';
  return `${Math.floor(status / 100)}xx`;
}
