import type { Logger } from 'pino';
import {
  ClientAbortedError,
  ClientTimeoutError,
  ProxyError,
  QuotaExhaustedError,
  RetryLaterError,
  UpstreamTimeoutError,
} from '../errors';
import type { Metrics, UploadOutcome } from '../metrics/metrics';
import { UploadUrlExpiredError } from './storage-put';
import type { UploadedFile } from './uploader';

/** The fields of an upload's started log line. */
export interface UploadStart {
  client: string;
  featureType: string;
  fileName: string;
  fileTypeHint: string;
  /** Declared or inferred size; undefined when only the bytes will tell. */
  size: number | undefined;
  path: 'streamed' | 'spooled';
}

/** Maps an upload's error to the closed set of outcomes used in metrics and logs. */
export function outcomeOf(error: unknown): UploadOutcome {
  if (error instanceof ClientAbortedError || error instanceof ClientTimeoutError) return 'aborted';
  if (error instanceof QuotaExhaustedError || error instanceof RetryLaterError) return 'throttled';
  if (error instanceof UploadUrlExpiredError) return 'expired';
  if (error instanceof UpstreamTimeoutError) return 'timeout';
  if (error instanceof ProxyError && error.status === 504) return 'timeout';
  if (error instanceof ProxyError && error.status < 500) return 'rejected';
  return 'failed';
}

/**
 * Runs one file's upload between a started and a finished log line, and records its outcome,
 * duration and the in-flight gauge.
 */
export async function trackUpload(
  metrics: Metrics,
  log: Logger,
  start: UploadStart,
  work: () => Promise<UploadedFile>,
  signal: AbortSignal,
): Promise<UploadedFile> {
  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  metrics.uploadsInFlight.inc();
  // The request's child logger already carries the client.
  const { client, ...fields } = start;
  log.info(fields, 'upload started');
  const labels = { client: start.client, feature_type: start.featureType };
  try {
    const file = await work();
    const durationSeconds = seconds();
    metrics.uploads.inc({ ...labels, outcome: 'completed' });
    metrics.uploadDuration.observe({ outcome: 'completed' }, durationSeconds);
    log.info(
      {
        outcome: 'completed',
        fileId: file.fileId,
        bytes: file.size,
        durationMs: Math.round(durationSeconds * 1000),
        path: start.path,
      },
      'upload finished',
    );
    return file;
  } catch (thrown) {
    // Once the request is aborted, whatever broke downstream is a consequence of that.
    const error: unknown = signal.aborted ? signal.reason : thrown;
    const outcome = outcomeOf(error);
    const durationSeconds = seconds();
    metrics.uploads.inc({ ...labels, outcome });
    metrics.uploadDuration.observe({ outcome }, durationSeconds);
    const line = {
      outcome,
      durationMs: Math.round(durationSeconds * 1000),
      path: start.path,
      err: error,
    };
    if (outcome === 'failed' || outcome === 'timeout' || outcome === 'expired')
      log.error(line, 'upload finished');
    else log.info(line, 'upload finished');
    throw error;
  } finally {
    metrics.uploadsInFlight.dec();
  }
}
