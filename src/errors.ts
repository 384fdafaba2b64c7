/**
 * Every failure the proxy reports to a caller is a {@link ProxyError} with a stable `code`,
 * the HTTP status it maps to, and a message written for the integration engineer who reads it.
 * The HTTP error handler is the one place that turns these into responses.
 */
export interface ProxyErrorOptions {
  cause?: unknown;
  /** Extra response headers, such as `Retry-After` or `WWW-Authenticate`. */
  headers?: Record<string, string>;
}

/** Base class of every error the proxy reports to a caller. */
export class ProxyError extends Error {
  readonly code: string;
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, options: ProxyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.status = status;
    this.code = code;
    this.headers = options.headers ?? {};
  }
}

/** 400: a field, parameter or body is malformed; the message names the field and the fix. */
export class InvalidRequestError extends ProxyError {
  constructor(code: string, message: string, options?: ProxyErrorOptions) {
    super(400, code, message, options);
  }
}

/** 401: no credential, or one that matches no configured client. */
export class UnauthorizedError extends ProxyError {
  constructor(message: string) {
    super(401, 'unauthorized', message, {
      headers: {
        'WWW-Authenticate':
          'Bearer realm="connecteam-upload-proxy", Basic realm="connecteam-upload-proxy"',
      },
    });
  }
}

/** 403: the client may not upload files for this feature type. */
export class FeatureTypeForbiddenError extends ProxyError {
  constructor(client: string, featureType: string, allowed: readonly string[]) {
    super(
      403,
      'feature_type_forbidden',
      `client "${client}" may not upload files for featureType "${featureType}"; ` +
        `allowed: ${allowed.join(', ')}`,
    );
  }
}

/** 404: Connecteam has no file with this id, or the route does not exist. */
export class NotFoundError extends ProxyError {
  constructor(message: string) {
    super(404, 'not_found', message);
  }
}

/** 405: the route exists but not for this method; `Allow` lists the ones it takes. */
export class MethodNotAllowedError extends ProxyError {
  constructor(method: string, path: string, allowed: string) {
    super(405, 'method_not_allowed', `${method} is not supported on ${path}; use ${allowed}`, {
      headers: { Allow: allowed },
    });
  }
}

/** 409: a request with the same idempotency key is still running. */
export class ConflictError extends ProxyError {
  constructor(code: string, message: string) {
    super(409, code, message);
  }
}

/** 408: the caller stopped sending the body for longer than the idle timeout. */
export class ClientTimeoutError extends ProxyError {
  constructor(idleMs: number) {
    super(
      408,
      'client_timeout',
      `no bytes of the request body arrived for ${idleMs / 1000} s; the upload was abandoned`,
    );
  }
}

/** 411: the file's size is not declared and cannot be derived from the request. */
export class LengthRequiredError extends ProxyError {
  constructor(message: string) {
    super(411, 'length_required', message);
  }
}

/** 413: a file or the request exceeds a configured limit. */
export class PayloadTooLargeError extends ProxyError {
  constructor(code: string, message: string) {
    super(413, code, message);
  }
}

/** 415: the request body is of a type the proxy does not accept. */
export class UnsupportedMediaTypeError extends ProxyError {
  constructor(message: string) {
    super(415, 'unsupported_media_type', message);
  }
}

/** 422: an idempotency key was reused with a different request. */
export class IdempotencyMismatchError extends ProxyError {
  constructor(message: string) {
    super(422, 'idempotency_key_reused', message);
  }
}

/** 429 or 503 with `Retry-After`: the proxy cannot take the upload now. */
export class RetryLaterError extends ProxyError {
  readonly retryAfterSeconds: number;

  constructor(
    status: 429 | 503,
    code: string,
    message: string,
    retryAfterSeconds: number,
    cause?: unknown,
  ) {
    const seconds = Math.max(1, Math.ceil(retryAfterSeconds));
    super(status, code, message, { cause, headers: { 'Retry-After': String(seconds) } });
    this.retryAfterSeconds = seconds;
  }
}

/** 429: Connecteam's rate limit leaves no budget for this upload within the wait bound. */
export class QuotaExhaustedError extends RetryLaterError {
  constructor(window: 'minute' | 'day', retryAfterSeconds: number) {
    super(
      429,
      'quota_exhausted',
      `Connecteam's per-${window} API quota is spent; retry after ` +
        `${Math.max(1, Math.ceil(retryAfterSeconds))} s`,
      retryAfterSeconds,
    );
  }
}

/** 503: the shared store (Redis) is unreachable and the policy is to reject uploads meanwhile. */
export class StoreUnavailableError extends RetryLaterError {
  constructor(cause?: unknown) {
    super(
      503,
      'quota_store_unavailable',
      'the proxy cannot reach its shared quota store (Redis); retry later',
      5,
      cause,
    );
  }
}

/** 502: Connecteam or the storage behind its upload URL responded with an error. */
export class UpstreamError extends ProxyError {
  constructor(code: string, message: string, cause?: unknown) {
    super(502, code, message, { cause });
  }
}

/** 503: the proxy is shutting down and takes no new uploads. */
export class ShuttingDownError extends RetryLaterError {
  constructor() {
    super(503, 'shutting_down', 'the proxy is shutting down; retry on another instance', 5);
  }
}

/** 504: Connecteam or storage timed out, or the upload URL expired mid-transfer. */
export class UpstreamTimeoutError extends ProxyError {
  constructor(code: string, message: string, cause?: unknown) {
    super(504, code, message, { cause });
  }
}

/**
 * The caller disconnected before the upload finished. No response is sent, because the socket is
 * listening; the error exists so that every layer stops and cleans up.
 */
export class ClientAbortedError extends ProxyError {
  constructor(message = 'the client closed the connection before the upload finished') {
    super(499, 'client_aborted', message);
  }
}
