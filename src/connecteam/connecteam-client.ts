import type { Logger } from 'pino';
import { Agent, request, type Dispatcher } from 'undici';
import { NotFoundError, ProxyError } from '../errors';
import type { ConnecteamOperation, Metrics } from '../metrics/metrics';
import { statusClass } from '../metrics/metrics';
import { answerFailure, networkFailure } from './connecteam-errors';
import type { FeatureType } from './feature-types';
import type { QuotaGate, QuotaReservation } from './quota-pacer';
import { readRateLimitHeaders } from './rate-limit-headers';
import { backoffDelay, pause } from './retry';

export interface ConnecteamClientOptions {
  baseUrl: string;
  apiKey: string;
  connectTimeoutMs: number;
  timeoutMs: number;
  generateRetryBudgetMs: number;
  completeRetryBudgetMs: number;
  quota: QuotaGate;
  metrics: Metrics;
}

/** Per-call context: the upload's abort signal, its logger, and its reserved quota. */
export interface CallContext {
  signal: AbortSignal;
  log: Logger;
  reservation?: QuotaReservation;
}

export interface UploadUrl {
  fileId: string;
  uploadFileUrl: string;
}

/** Connecteam's metadata of one file; fields Connecteam adds later pass through untouched. */
export interface FileMetadata {
  fileId: string;
  fileUrl?: string;
  uploadCompleted: boolean;
  fileType?: string;
  featureType?: string;
  [extra: string]: unknown;
}

interface CallSpec<T> {
  operation: ConnecteamOperation;
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  body?: unknown;
  budgetMs: number;
  /** Returns the parsed `data`, or undefined when it lacks the expected fields. */
  parse: (data: Record<string, unknown>) => T | undefined;
}

/** Error bodies are small; a larger one is cut here so a broken upstream cannot fill memory. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * Calls Connecteam's Attachments API with the proxy's key, paced by the shared quota and
 * retried where that is safe: 5xx, network errors and timeouts with backoff, throttling after
 * the quota resets. Other 4xx responses are final.
 */
export class ConnecteamClient {
  private readonly dispatcher: Dispatcher;

  constructor(private readonly options: ConnecteamClientOptions) {
    this.dispatcher = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000,
    });
  }

  /** Asks Connecteam for a pre-signed URL that accepts the file's bytes for 300 s. */
  generateUploadUrl(
    file: { fileName: string; featureType: FeatureType; fileTypeHint: string },
    context: CallContext,
  ): Promise<UploadUrl> {
    return this.call(
      {
        operation: 'generate',
        method: 'POST',
        path: '/attachments/v1/files/generate-upload-url',
        body: file,
        budgetMs: this.options.generateRetryBudgetMs,
        parse: (data) =>
          typeof data.fileId === 'string' && typeof data.uploadFileUrl === 'string'
            ? { fileId: data.fileId, uploadFileUrl: data.uploadFileUrl }
            : undefined,
      },
      context,
    );
  }

  /** Registers a file whose bytes are all in storage. */
  async completeUpload(fileId: string, context: CallContext): Promise<void> {
    await this.call(
      {
        operation: 'complete',
        method: 'PUT',
        path: `/attachments/v1/files/complete-upload/${encodeURIComponent(fileId)}`,
        // The bytes already sit in storage, so completion is worth waiting for longest.
        budgetMs: this.options.completeRetryBudgetMs,
        parse: (data) => (typeof data.fileId === 'string' ? data.fileId : undefined),
      },
      context,
    );
  }

  /** Fetches a file's metadata; throws {@link NotFoundError} when Connecteam has none. */
  getFile(fileId: string, context: CallContext): Promise<FileMetadata> {
    return this.call(
      {
        operation: 'get',
        method: 'GET',
        path: `/attachments/v1/files/${encodeURIComponent(fileId)}`,
        budgetMs: this.options.generateRetryBudgetMs,
        parse: (data) =>
          typeof data.fileId === 'string' ? (data as unknown as FileMetadata) : undefined,
      },
      context,
    );
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async call<T>(spec: CallSpec<T>, context: CallContext): Promise<T> {
    const { quota, metrics } = this.options;
    const started = Date.now();
    let reservation = context.reservation;
    for (let attempt = 0; ; attempt += 1) {
      if (attempt > 0 || reservation === undefined) {
        // Retries cost calls too; a completion waits as long as its budget allows.
        reservation = await quota.reserve(1, context.signal, {
          maxWaitMs: spec.operation === 'complete' ? spec.budgetMs : undefined,
          priority: spec.operation === 'complete',
        });
      }
      const outcome = await this.attempt(spec, context, reservation);
      if (outcome.kind === 'ok') return outcome.value;
      const elapsed = Date.now() - started;
      if (outcome.kind === 'throttled') {
        metrics.connecteamThrottles.inc({ operation: spec.operation, kind: outcome.throttleKind });
        context.log.warn(
          { operation: spec.operation, attempt, kind: outcome.throttleKind },
          'connecteam throttled the call; waiting for the quota to reset',
        );
        continue;
      }
      const delay = backoffDelay(attempt);
      if (!outcome.retryable || elapsed + delay > spec.budgetMs) throw outcome.error;
      metrics.connecteamRetries.inc({ operation: spec.operation });
      context.log.warn(
        { operation: spec.operation, attempt, delayMs: delay, err: outcome.error },
        'connecteam call failed; retrying',
      );
      await pause(delay, context.signal);
    }
  }

  private async attempt<T>(
    spec: CallSpec<T>,
    context: CallContext,
    reservation: QuotaReservation,
  ): Promise<Attempt<T>> {
    const { metrics } = this.options;
    const timer = metrics.connecteamDuration.startTimer({ operation: spec.operation });
    let response: Dispatcher.ResponseData;
    try {
      response = await request(this.options.baseUrl + spec.path, {
        dispatcher: this.dispatcher,
        method: spec.method,
        headers: {
          'x-api-key': this.options.apiKey,
          accept: 'application/json',
          ...(spec.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
        signal: context.signal,
      });
    } catch (error) {
      timer();
      reservation.settle(false);
      const failure = networkFailure(spec.operation, error, context.signal);
      const status = failure.code === 'connecteam_timeout' ? 'timeout' : 'network';
      metrics.connecteamRequests.inc({ operation: spec.operation, status_class: status });
      return { kind: 'failed', error: failure, retryable: !context.signal.aborted };
    }
    const payload = await readJson(response.body).catch(() => undefined);
    timer();
    const reading = readRateLimitHeaders(response.headers);
    const status = response.statusCode;
    // The reading goes in before the lease ends: in between, the call would count neither as
    // reserved nor in Connecteam's remaining, and another upload could take its place.
    if (status === 429) this.options.quota.throttled(reading);
    else this.options.quota.observe(reading);
    reservation.settle(true);
    metrics.connecteamRequests.inc({
      operation: spec.operation,
      status_class: statusClass(status),
    });
    context.log.debug({ operation: spec.operation, status }, 'connecteam responded');
    if (status === 429) return { kind: 'throttled', throttleKind: '429' };
    if (status >= 200 && status < 300) {
      const data =
        isObject(payload) && isObject(payload.data) ? spec.parse(payload.data) : undefined;
      if (data !== undefined) return { kind: 'ok', value: data };
      // Connecteam has been seen to respond 200 with {"detail": "Too many requests"} instead of a 429.
      this.options.quota.throttled(reading);
      return { kind: 'throttled', throttleKind: 'ok_200' };
    }
    if (status === 404 && spec.operation === 'get') {
      return {
        kind: 'failed',
        error: new NotFoundError('Connecteam has no file with this fileId'),
        retryable: false,
      };
    }
    const error = answerFailure(spec.operation, status);
    context.log.warn(
      { operation: spec.operation, status, detail: describeDetail(payload) },
      'connecteam rejected the call',
    );
    return { kind: 'failed', error, retryable: status >= 500 };
  }
}

type Attempt<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'throttled'; throttleKind: '429' | 'ok_200' }
  | { kind: 'failed'; error: ProxyError; retryable: boolean };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readJson(body: Dispatcher.ResponseData['body']): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_RESPONSE_BYTES) {
      body.destroy();
      break;
    }
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** Connecteam's `detail`, shortened for the log: a string, or FastAPI's list of problems. */
function describeDetail(payload: unknown): unknown {
  if (!isObject(payload)) return undefined;
  const detail = payload.detail;
  return typeof detail === 'string' ? detail.slice(0, 500) : JSON.stringify(detail)?.slice(0, 500);
}
