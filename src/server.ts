import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config';
import { ConnecteamClient } from './connecteam/connecteam-client';
import { createApp } from './http/app';
import { answerClientError } from './http/client-error';
import { UploadAdmission } from './http/upload-admission';
import { createLogger } from './logger';
import { Metrics } from './metrics/metrics';
import { createSharedState } from './store/shared-state';
import { Spool } from './upload/spool';
import { StoragePut } from './upload/storage-put';
import { Uploader } from './upload/uploader';

/** How long aborted uploads get to clean up once the grace period is over. */
const CLEANUP_WAIT_MS = 5_000;

/** A running proxy. */
export interface ProxyServer {
  url: string;
  server: Server;
  metrics: Metrics;
  logger: Logger;
  /**
   * Stops taking uploads, lets those in flight finish within the grace period, aborts the
   * rest, and closes every socket. Safe to call more than once.
   */
  shutdown(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Clock for quota windows, in ms since the epoch; tests shift it to reach a reset sooner. */
  now?: () => number;
}

/** Builds every part of the proxy from the configuration and starts listening. */
export async function startProxy(config: Config, options: StartOptions = {}): Promise<ProxyServer> {
  const logger = options.logger ?? createLogger(config.logLevel, { pretty: config.logPretty });
  const metrics = new Metrics();
  const shared = await createSharedState(config, metrics, logger, { now: options.now });
  const quota = shared.quota;
  const client = new ConnecteamClient({
    baseUrl: config.connecteam.baseUrl,
    apiKey: config.connecteam.apiKey,
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    timeoutMs: config.upstream.timeoutMs,
    generateRetryBudgetMs: config.upstream.generateRetryBudgetMs,
    completeRetryBudgetMs: config.upstream.completeRetryBudgetMs,
    quota,
    metrics,
  });
  const storage = new StoragePut({
    connectTimeoutMs: config.upstream.connectTimeoutMs,
    responseTimeoutMs: config.upstream.storageResponseTimeoutMs,
    metrics,
  });
  const spool = new Spool(config.spool.directory, config.spool.maxBytes, metrics, logger);
  await spool.prepare();
  const uploader = new Uploader({
    client,
    storage,
    spool,
    quota,
    metrics,
    maxFileBytes: config.maxFileBytes,
    allowedOrigins: config.uploadUrlAllowedOrigins,
  });
  const admission = new UploadAdmission(
    config.limits.maxConcurrentUploads,
    config.limits.maxConcurrentUploadsPerClient,
    metrics,
  );
  const app = createApp({
    logger,
    metrics,
    client,
    uploader,
    admission,
    clients: config.clients,
    clientFeatureTypes: config.clientFeatureTypes,
    clientIdleTimeoutMs: config.clientIdleTimeoutMs,
    maxFilesPerRequest: config.maxFilesPerRequest,
    idempotency: shared.idempotency,
    readiness: shared.readiness,
  });

  const server = createServer(
    {
      // A slow upload that keeps making progress must not be cut by a total time limit. The
      // idle watch on the body catches callers that stop sending instead.
      requestTimeout: 0,
      headersTimeout: config.server.headersTimeoutMs,
      // Node checks the headers timeout only this often (30 s by default), so a caller that
      // trickles its headers would keep its socket up to 30 s past HEADERS_TIMEOUT_SECONDS.
      connectionsCheckingInterval: 1_000,
      keepAliveTimeout: config.server.keepAliveTimeoutMs,
      maxHeaderSize: 16 * 1024,
    },
    app,
  );
  server.maxConnections = config.limits.maxConnections;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) =>
    answerClientError(error, socket, logger),
  );
  server.listen(config.port, config.host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`;
  logger.info({ url, connecteam: config.connecteam.baseUrl }, 'proxy listening');

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      logger.info(
        { uploadsInFlight: admission.inFlight, graceMs: config.shutdownGraceMs },
        'shutting down',
      );
      // The listener stays open while uploads drain, so load balancers polling /readyz see 503
      // and new uploads get a 503 they can retry elsewhere, instead of a refused connection.
      const drain = admission.drain();
      server.closeIdleConnections();
      let graceTimer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        drain.then(() => true),
        new Promise<boolean>((resolve) => {
          graceTimer = setTimeout(() => resolve(false), config.shutdownGraceMs);
        }),
      ]);
      clearTimeout(graceTimer);
      if (!drained) {
        logger.warn({ uploadsInFlight: admission.inFlight }, 'grace period over; aborting uploads');
      }
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      // Closing the sockets aborts the uploads left; their cleanup (PUT aborts, disk copies
      // deleted, outcomes counted) still has to run before the process may exit.
      let cleanupTimer: NodeJS.Timeout | undefined;
      await Promise.race([
        drain,
        new Promise<void>((resolve) => {
          cleanupTimer = setTimeout(resolve, CLEANUP_WAIT_MS);
        }),
      ]);
      clearTimeout(cleanupTimer);
      await Promise.all([client.close(), storage.close(), shared.close()]);
      logger.info('proxy stopped');
    })();
    return stopping;
  };
  return { url, server, metrics, logger, shutdown };
}
