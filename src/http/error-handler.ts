import type { NextFunction, Request, Response } from 'express';
import { ClientAbortedError, MethodNotAllowedError, NotFoundError, ProxyError } from '../errors';
import { PartialUploadError } from '../upload/receive-files';

/**
 * Turns errors into HTTP responses, in this one place. Only {@link ProxyError} messages reach
 * the caller. Anything else is a bug, logged with its stack and sent as a generic 500.
 */
export function errorHandler(
  error: unknown,
  request: Request,
  response: Response,
  _next: NextFunction,
): void {
  const landed = error instanceof PartialUploadError ? error.landed : undefined;
  const failure = error instanceof PartialUploadError ? error.failure : error;
  const known = toProxyError(failure);

  if (known instanceof ClientAbortedError) {
    request.log.info({ err: failure }, 'client disconnected before the response');
    response.destroy();
    return;
  }
  if (response.headersSent) {
    request.log.error({ err: failure }, 'request failed after the response started');
    response.destroy();
    return;
  }

  if (known === undefined) {
    request.log.error({ err: failure }, 'request failed unexpectedly');
  } else if (known.status >= 500) {
    request.log.error({ err: failure, code: known.code }, 'request failed');
  } else {
    request.log.info(
      { code: known.code, status: known.status, message: known.message },
      'request rejected',
    );
  }

  const status = known?.status ?? 500;
  const code = known?.code ?? 'internal_error';
  const message =
    known?.message ?? 'the proxy failed unexpectedly; the operator can find details in its log';
  response.status(status);
  for (const [name, value] of Object.entries(known?.headers ?? {})) response.setHeader(name, value);
  response.json({
    error: { code, message },
    requestId: request.id,
    ...(landed === undefined ? {} : { files: landed }),
  });
}

function toProxyError(error: unknown): ProxyError | undefined {
  if (error instanceof ProxyError) return error;
  // body-parser style errors from express carry a status; only pass on the 4xx ones.
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new ProxyError(status, 'invalid_request', (error as Error).message);
  }
  return undefined;
}

/** Methods each route accepts, for a 405 that names the one to use. */
const ROUTE_METHODS: Array<[RegExp, string]> = [
  [/^\/v1\/files\/?$/, 'POST'],
  [/^\/v1\/files\/[^/]+\/?$/, 'GET'],
  [/^\/(healthz|readyz|metrics)\/?$/, 'GET'],
];

/** Throws 405 for a known route called with another method, and 404 for anything else. */
export function notFound(request: Request): never {
  const allowed = ROUTE_METHODS.find(([pattern]) => pattern.test(request.path))?.[1];
  if (allowed !== undefined && request.method !== allowed) {
    throw new MethodNotAllowedError(request.method, request.path, allowed);
  }
  throw new NotFoundError(`no route for ${request.method} ${request.path}`);
}
