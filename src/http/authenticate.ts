import type { NextFunction, Request, Response } from 'express';
import { UnauthorizedError } from '../errors';
import type { Metrics } from '../metrics/metrics';
import { findClient, type ClientCredential } from './client-tokens';

interface Presented {
  token: string;
  /** The user name of HTTP Basic, which must then be the client's name. */
  name?: string;
}

/** Reads the credential from Bearer, X-Api-Key or HTTP Basic; undefined when none is sent. */
function readCredential(request: Request): Presented | undefined {
  const apiKey = request.headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') return { token: apiKey };
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  // RFC 9110 credentials are a scheme and one token: anything after a second space is invalid.
  const [scheme, value = '', extra] = header.trim().split(/\s+/, 3);
  if (extra !== undefined) return { token: '' };
  if (scheme?.toLowerCase() === 'bearer' && value !== '') return { token: value };
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const separator = decoded.indexOf(':');
    if (separator > 0)
      return { name: decoded.slice(0, separator), token: decoded.slice(separator + 1) };
  }
  return { token: '' };
}

/**
 * Rejects requests without a configured client's token with 401, and stores the client's name
 * in `response.locals.client`. Failures are logged without the token and counted.
 */
export function authenticate(clients: readonly ClientCredential[], metrics: Metrics) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const presented = readCredential(request);
    const client =
      presented && presented.token !== ''
        ? findClient(clients, presented.token, presented.name)
        : undefined;
    if (client === undefined) {
      const reason = presented === undefined ? 'missing' : 'invalid';
      metrics.authFailures.inc({ reason });
      request.log.warn(
        { reason, remoteAddress: request.socket.remoteAddress },
        'client credential rejected',
      );
      throw new UnauthorizedError(
        reason === 'missing'
          ? 'a client credential is required: send Authorization: Bearer <token>, X-Api-Key, or HTTP Basic'
          : 'the client credential is not valid',
      );
    }
    response.locals.client = client.name;
    request.log = request.log.child({ client: client.name });
    next();
  };
}
