import { ConfigError, loadConfig } from './config';
import { createLogger } from './logger';
import { startProxy } from './server';

/** Starts the proxy from the environment and stops it gracefully on SIGTERM or SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exit(78); // EX_CONFIG: the service manager should not restart in a loop for this.
  }
  const logger = createLogger(config.logLevel, { pretty: config.logPretty });
  const proxy = await startProxy(config, { logger });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal; exiting at once');
      process.exit(1);
    }
    logger.info({ signal }, 'signal received');
    proxy.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((error: unknown) => {
  // System errors at start-up (a spool directory that cannot be made, an address that cannot be
  // bound) are the operator's to fix, so their message is enough. Anything else keeps its stack.
  const systemError = (error as NodeJS.ErrnoException).syscall !== undefined;
  const detail = systemError ? (error as Error).message : ((error as Error).stack ?? String(error));
  process.stderr.write(`the proxy failed to start: ${detail}\n`);
  process.exit(systemError ? 78 : 1);
});
