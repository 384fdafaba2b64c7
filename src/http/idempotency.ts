import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ConflictError, IdempotencyMismatchError, InvalidRequestError } from '../errors';
import type {
  IdempotencyClaim,
  IdempotencyRecord,
  IdempotencyStore,
} from '../idempotency/idempotency-store';
import type { Metrics } from '../metrics/metrics';
import { discardRemainingBody } from './request-body';

/** 1 to 255 printable ASCII characters, space included. */
const KEY_PATTERN = /^[\x20-\x7e]{1,255}$/;

/**
 * Makes `POST /v1/files` safe to repeat with an `Idempotency-Key` header. The first request
 * with a key runs; a repeat from the same client gets the stored response with
 * `Idempotent-Replayed: true` and no call to Connecteam, 409 while the first still runs, and
 * 422 when it differs from the first in Content-Length, Content-Type or query. Only 201 and
 * final 4xx responses are stored; after a 5xx, a 408 or a 429 the key is free for a new try.
 */
export function idempotentRequests(store: IdempotencyStore, metrics: Metrics): RequestHandler {
  return async (request: Request, response: Response, next: NextFunction) => {
    const header = request.headers['idempotency-key'];
    if (header === undefined) {
      next();
      return;
    }
    try {
      // Node joins repeated headers of this kind into one string; the array is for typing.
      const key = parseIdempotencyKey(Array.isArray(header) ? header.join(', ') : header);
      const fingerprint = requestFingerprint(request);
      const outcome = await store.begin(String(response.locals.client), key, fingerprint);
      if ('existing' in outcome) {
        replay(request, response, outcome.existing, fingerprint, metrics);
        return;
      }
      keepAnswer(request, response, outcome.claim);
    } catch (error) {
      discardRemainingBody(request, response);
      throw error;
    }
    next();
  };
}

/** Returns the key, or throws a 400 that describes a valid key. */
export function parseIdempotencyKey(value: string): string {
  if (KEY_PATTERN.test(value)) return value;
  throw new InvalidRequestError(
    'invalid_idempotency_key',
    `Idempotency-Key must be 1 to 255 printable ASCII characters, such as a UUID; ` +
      `got ${value.length === 0 ? 'an empty value' : `${value.length} characters`}` +
      (value.length > 0 && value.length <= 255 ? ' with a control or non-ASCII character' : ''),
  );
}

/**
 * Hashes what a repeat of the same upload must send alike. The body itself is not read, so
 * two bodies of equal length pass as the same request. The multipart boundary is left out
 * because clients such as curl pick a new one for every request.
 */
export function requestFingerprint(request: Request): string {
  const contentType = (request.headers['content-type'] ?? '')
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part !== '' && !/^boundary\s*=/i.test(part))
    .join('; ')
    .toLowerCase();
  const parts = [
    request.headers['content-length'] ?? '',
    contentType,
    new URL(request.originalUrl, 'http://proxy').search,
    // Raw bodies take their file name and feature type from these headers.
    request.headers['content-disposition'] ?? '',
    request.headers['x-feature-type'] ?? '',
  ];
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

function replay(
  request: Request,
  response: Response,
  record: IdempotencyRecord,
  fingerprint: string,
  metrics: Metrics,
): void {
  if (record.fingerprint !== fingerprint) {
    throw new IdempotencyMismatchError(
      'this Idempotency-Key was already used for a request with a different Content-Length, ' +
        'Content-Type or query; send a new key for a new upload',
    );
  }
  if (record.state === 'running') {
    throw new ConflictError(
      'idempotency_key_in_use',
      'a request with this Idempotency-Key is still running; repeat it once that one is answered',
    );
  }
  metrics.idempotentReplays.inc();
  request.log.info(
    { status: record.result.status },
    'request answered from the stored result of its idempotency key',
  );
  discardRemainingBody(request, response);
  response.setHeader('Idempotent-Replayed', 'true');
  response.status(record.result.status).json(record.result.body);
}

/** Tells whether a repeat would get the same response: a success or a final 4xx. */
function isFinal(status: number): boolean {
  if (status === 201) return true;
  return status >= 400 && status < 500 && ![408, 409, 429].includes(status);
}

/** Stores the JSON response under the claim before sending it, or frees the key. */
function keepAnswer(request: Request, response: Response, claim: IdempotencyClaim): void {
  const send = response.json.bind(response);
  let ended = false;
  response.json = ((body: unknown) => {
    if (ended) return send(body);
    ended = true;
    const status = response.statusCode;
    const stored = isFinal(status) ? claim.finish({ status, body }) : claim.abandon();
    // The response waits for the store, so a repeat sent as soon as it arrives finds the result.
    void stored
      .catch((error: unknown) =>
        request.log.warn({ err: error }, 'storing the response of an idempotency key failed'),
      )
      .finally(() => send(body));
    return response;
  }) as Response['json'];
  response.on('close', () => {
    if (ended) return;
    ended = true;
    void claim.abandon();
  });
}
