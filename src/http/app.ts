import express, { type Express } from 'express';
import helmet from 'helmet';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import type { ConnecteamClient } from '../connecteam/connecteam-client';
import type { FeatureType } from '../connecteam/feature-types';
import type { IdempotencyStore } from '../idempotency/idempotency-store';
import type { Metrics } from '../metrics/metrics';
import { statusClass } from '../metrics/metrics';
import type { Uploader } from '../upload/uploader';
import { authenticate } from './authenticate';
import type { ClientCredential } from './client-tokens';
import { errorHandler, notFound } from './error-handler';
import { filesRoutes } from './files-routes';
import { assignRequestId } from './request-id';
import type { UploadAdmission } from './upload-admission';

export interface AppOptions {
  logger: Logger;
  metrics: Metrics;
  client: ConnecteamClient;
  uploader: Uploader;
  admission: UploadAdmission;
  clients: readonly ClientCredential[];
  clientFeatureTypes: ReadonlyMap<string, readonly FeatureType[]>;
  clientIdleTimeoutMs: number;
  maxFilesPerRequest: number;
  /** The store of responses to requests that carry an Idempotency-Key. */
  idempotency: IdempotencyStore;
  /** Extra readiness conditions, such as a reachable shared quota store. */
  readiness?: () => { ready: boolean; reason?: string };
}

/** Builds the express app: health and metrics routes open, `/v1` behind client credentials. */
export function createApp(options: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(
    pinoHttp({
      logger: options.logger,
      genReqId: (request, response) => assignRequestId(request, response),
      customLogLevel: (_request, response, error) =>
        error || response.statusCode >= 500
          ? 'error'
          : response.statusCode >= 400
            ? 'info'
            : 'info',
      autoLogging: {
        ignore: (request) => ['/healthz', '/readyz', '/metrics'].includes(request.url ?? ''),
      },
      customAttributeKeys: { reqId: 'requestId' },
      // Headers stay out of request lines: they are long, and some carry credentials.
      serializers: {
        req: (request: { id: unknown; method: string; url: string; remoteAddress?: string }) => ({
          id: request.id,
          method: request.method,
          url: request.url,
          remoteAddress: request.remoteAddress,
        }),
        res: (response: { statusCode: number }) => ({ statusCode: response.statusCode }),
      },
    }),
  );
  // A JSON API serves no pages, so only the headers that matter for API responses are kept.
  app.use(
    helmet({
      // Without useDefaults: false, helmet adds its page directives (script-src and others).
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
      },
      crossOriginResourcePolicy: { policy: 'same-origin' },
    }),
  );
  app.use(recordHttpMetrics(options.metrics));
  app.use((_request, response, next) => {
    // While draining, every response closes its connection, so keep-alive sockets do not linger.
    if (!options.admission.accepting) response.setHeader('Connection', 'close');
    next();
  });

  app.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });
  app.get('/readyz', (_request, response) => {
    const extra = options.readiness?.() ?? { ready: true };
    const ready = options.admission.accepting && extra.ready;
    const reason = !options.admission.accepting ? 'shutting down' : extra.reason;
    response
      .status(ready ? 200 : 503)
      .json({ status: ready ? 'ready' : 'not ready', ...(reason ? { reason } : {}) });
  });
  app.get('/metrics', async (_request, response) => {
    response.setHeader('Content-Type', options.metrics.registry.contentType);
    response.send(await options.metrics.registry.metrics());
  });

  app.use('/v1', (_request, response, next) => {
    response.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use('/v1', authenticate(options.clients, options.metrics));
  app.use(
    filesRoutes({
      uploader: options.uploader,
      client: options.client,
      metrics: options.metrics,
      admission: options.admission,
      clientFeatureTypes: options.clientFeatureTypes,
      clientIdleTimeoutMs: options.clientIdleTimeoutMs,
      maxFilesPerRequest: options.maxFilesPerRequest,
      idempotency: options.idempotency,
    }),
  );
  app.use(notFound);
  app.use(errorHandler);
  return app;
}

/** Counts requests by route template (never the raw path, which contains ids) and times them. */
function recordHttpMetrics(metrics: Metrics): express.RequestHandler {
  return (request, response, next) => {
    const started = process.hrtime.bigint();
    response.on('close', () => {
      const route = request.route?.path
        ? `${request.baseUrl}${String(request.route.path)}`
        : 'unmatched';
      const labels = { route, method: request.method };
      // A response cut off before it finished is counted apart, whatever status it was given.
      const status = response.writableFinished ? statusClass(response.statusCode) : 'aborted';
      metrics.httpRequests.inc({ ...labels, status_class: status });
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    });
    next();
  };
}
