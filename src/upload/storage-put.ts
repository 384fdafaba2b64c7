import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { ClientAbortedError, ProxyError, UpstreamTimeoutError } from '../errors';
import { isTimeout } from '../connecteam/connecteam-errors';
import { statusClass, type Metrics } from '../metrics/metrics';

/** A failed PUT to the pre-signed URL; `retryable` marks failures a disk copy may retry. */
export class StorageError extends ProxyError {
  constructor(
    code: string,
    message: string,
    readonly retryable: boolean,
    cause?: unknown,
    status: 502 | 504 = 502,
  ) {
    super(status, code, message, { cause });
  }
}

/** The pre-signed URL's 300 s window closed before storage had the whole file. */
export class UploadUrlExpiredError extends UpstreamTimeoutError {
  constructor() {
    super(
      'upload_url_expired',
      "the file took longer to arrive than Connecteam's 300 s upload window; " +
        'send it faster or split it, then retry',
    );
  }
}

export interface StoragePutOptions {
  connectTimeoutMs: number;
  /** Time storage may take to respond once it has the whole body. */
  responseTimeoutMs: number;
  metrics: Metrics;
}

/** Largest S3 error document we read; real ones are a few hundred bytes. */
const MAX_ERROR_BYTES = 16 * 1024;

/**
 * PUTs file bytes to a pre-signed storage URL. S3 rejects chunked bodies (501) and bodies
 * without a length (411), so the request always carries the exact Content-Length, and it
 * refuses any Content-Type other than the signed one (403), so the type is the one given to
 * Connecteam. Redirects are never followed, so a 3xx response fails the upload.
 */
export class StoragePut {
  private readonly dispatcher: Dispatcher;

  constructor(private readonly options: StoragePutOptions) {
    this.dispatcher = new Agent({
      connect: { timeout: options.connectTimeoutMs },
      // undici starts the headers timeout once the body has been written, so a long upload
      // that is still sending is not cut. Only storage's silence afterwards is.
      headersTimeout: options.responseTimeoutMs,
      bodyTimeout: options.responseTimeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  /** PUTs `body`, a stream or the whole file, declaring `size` as its Content-Length. */
  async put(
    url: string,
    body: Readable | Buffer,
    size: number,
    contentType: string,
    signal: AbortSignal,
  ): Promise<void> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        dispatcher: this.dispatcher,
        method: 'PUT',
        headers: { 'content-length': String(size), 'content-type': contentType },
        body: size === 0 ? '' : body,
        signal,
      });
    } catch (error) {
      if (!Buffer.isBuffer(body)) body.destroy();
      // A PUT the proxy abandoned itself (caller gone, wrong size) is no storage failure.
      let status = isTimeout(error) ? 'timeout' : 'network';
      if (signal.aborted) status = 'aborted';
      this.options.metrics.storageRequests.inc({ status_class: status });
      throw storageNetworkFailure(error, signal);
    }
    this.options.metrics.storageRequests.inc({ status_class: statusClass(response.statusCode) });
    if (response.statusCode >= 200 && response.statusCode < 300) {
      await response.body.dump();
      return;
    }
    const document = await readText(response.body);
    throw storageAnswerFailure(response.statusCode, document);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

function storageNetworkFailure(error: unknown, signal: AbortSignal): ProxyError {
  if (signal.aborted) {
    return signal.reason instanceof ProxyError ? signal.reason : new ClientAbortedError();
  }
  if (error instanceof ProxyError) return error;
  if (isTimeout(error)) {
    return new StorageError('storage_timeout', 'storage timed out on the upload', true, error, 504);
  }
  return new StorageError(
    'storage_unreachable',
    'storage could not be reached for the upload',
    true,
    error,
  );
}

/** Maps S3's error response to ours; only S3's error code, never its free text, reaches the caller. */
export function storageAnswerFailure(status: number, document: string): ProxyError {
  const code = /<Code>([A-Za-z]{1,64})<\/Code>/.exec(document)?.[1] ?? 'unknown';
  const message = /<Message>([^<]{0,300})<\/Message>/.exec(document)?.[1] ?? '';
  if (status === 403 && code === 'AccessDenied' && /expired/i.test(message)) {
    return new UploadUrlExpiredError();
  }
  if (status >= 300 && status < 400) {
    return new StorageError(
      'storage_redirect',
      `storage responded with a redirect (HTTP ${status}), which the proxy does not follow`,
      false,
    );
  }
  const retryable = status >= 500 || code === 'RequestTimeout';
  return new StorageError(
    'storage_rejected',
    `storage rejected the upload with HTTP ${status} (${code})`,
    retryable,
  );
}

async function readText(body: Dispatcher.ResponseData['body']): Promise<string> {
  let text = '';
  try {
    for await (const chunk of body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length > MAX_ERROR_BYTES) {
        body.destroy();
        break;
      }
    }
  } catch {
    // A cut-off error document still leaves the status to go by.
  }
  return text;
}
