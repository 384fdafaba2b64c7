import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/**
 * Paths that may hold a credential. Our own log lines put upstream URLs under `url` only after
 * {@link redactUrl}. The `req` and `res` serializers in the HTTP app keep no headers, so no
 * `req.headers` paths are listed: each one made pino redact the request binding of every
 * request's child logger, about 0.15 ms of CPU per request.
 */
const REDACT_PATHS = ['headers.authorization', 'headers["x-api-key"]', 'apiKey', 'token'];

/**
 * Creates the root logger. `pretty` switches to human-readable lines for local runs, and
 * `destination` replaces standard output (tests collect the lines this way).
 */
export function createLogger(
  level: string,
  options: { pretty?: boolean; destination?: DestinationStream } = {},
): Logger {
  const base: LoggerOptions = {
    level,
    base: { service: 'connecteam-upload-proxy' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
  if (options.pretty) {
    return pino({
      ...base,
      transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}

/**
 * Removes the query string of a URL, where a pre-signed URL carries its signature, so the URL
 * can be logged or shown to a caller.
 */
export function redactUrl(url: string): string {
  const queryStart = url.indexOf('?');
  return queryStart === -1 ? url : `${url.slice(0, queryStart)}?[redacted]`;
}
