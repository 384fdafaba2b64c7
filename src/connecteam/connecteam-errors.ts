import { errors as undiciErrors } from 'undici';
import {
  ClientAbortedError,
  InvalidRequestError,
  PayloadTooLargeError,
  ProxyError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../errors';
import type { ConnecteamOperation } from '../metrics/metrics';

/** Tells whether an undici error means the call timed out rather than failed outright. */
export function isTimeout(error: unknown): boolean {
  return (
    error instanceof undiciErrors.HeadersTimeoutError ||
    error instanceof undiciErrors.BodyTimeoutError ||
    error instanceof undiciErrors.ConnectTimeoutError ||
    (error instanceof Error && error.name === 'TimeoutError')
  );
}

const OPERATION_NAMES: Record<ConnecteamOperation, string> = {
  generate: 'generate-upload-url',
  complete: 'complete-upload',
  get: 'get-file',
};

/** Maps a call that failed without an HTTP response to a caller-facing error. */
export function networkFailure(
  operation: ConnecteamOperation,
  error: unknown,
  signal: AbortSignal,
): ProxyError {
  if (error instanceof ProxyError) return error;
  if (signal.aborted) {
    return signal.reason instanceof ProxyError ? signal.reason : new ClientAbortedError();
  }
  const name = OPERATION_NAMES[operation];
  if (isTimeout(error)) {
    return new UpstreamTimeoutError(
      'connecteam_timeout',
      `Connecteam timed out on ${name}; retry later`,
      error,
    );
  }
  return new UpstreamError(
    'connecteam_unreachable',
    `Connecteam could not be reached for ${name}; retry later`,
    error,
  );
}

/**
 * Maps an HTTP response that is final (not retried) to a caller-facing error. The caller never
 * sees Connecteam's own text: it may quote our request, and is logged instead.
 */
export function answerFailure(operation: ConnecteamOperation, status: number): ProxyError {
  const name = OPERATION_NAMES[operation];
  if (status === 401 || status === 403) {
    return new UpstreamError(
      'connecteam_auth_failed',
      `Connecteam rejected the proxy's API key for ${name} (HTTP ${status}); ` +
        'the operator must check CONNECTEAM_API_KEY and its attachments scopes',
    );
  }
  if (operation === 'generate' && (status === 400 || status === 422)) {
    return new InvalidRequestError(
      'connecteam_rejected_file',
      `Connecteam rejected the file's fileName, featureType or fileTypeHint (HTTP ${status}); ` +
        'check them, or send an explicit fileTypeHint such as application/pdf',
    );
  }
  if (operation === 'complete' && status === 400) {
    return new PayloadTooLargeError(
      'connecteam_rejected_upload',
      'Connecteam rejected the completed upload and deleted the file; it accepts files up to 1 GB',
    );
  }
  return new UpstreamError(
    'connecteam_error',
    `Connecteam responded to ${name} with HTTP ${status}; retry later`,
  );
}
