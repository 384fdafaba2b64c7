import pino, { type Logger } from 'pino';
import {
  DEV_API_KEY,
  EmulatorConfigError,
  readEmulatorConfig,
  type EmulatorConfig,
} from './config';
import type { ApiCallEvent, StoragePutEvent } from './context';
import { startEmulator, type Emulator } from './emulator';

/**
 * Runs the emulator as a standalone service (`npm run emulator`, docker-compose): reads the
 * EMULATOR_* variables, listens, and closes on SIGTERM or SIGINT.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = readEmulatorConfig(process.env);
  } catch (error) {
    if (!(error instanceof EmulatorConfigError)) throw error;
    createLogger('info').fatal({ problems: error.problems }, error.message);
    process.exitCode = 1;
    return;
  }
  const logger = createLogger(config.logLevel);
  warnAboutDefaults(config, logger);
  const emulator = await startEmulator(config.options);
  logCalls(emulator, logger);
  logger.info(
    {
      apiUrl: emulator.apiUrl,
      storageOrigin: emulator.storageOrigin,
      minuteLimit: config.options.minuteLimit,
      dayLimit: config.options.dayLimit,
    },
    'emulator listening',
  );
  const stop = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'emulator stopping');
    void emulator.close().then(() => logger.info('emulator stopped'));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** Warns about settings that suit a local run only. */
function warnAboutDefaults(config: EmulatorConfig, logger: Logger): void {
  if (config.usesDevKey) {
    logger.warn(
      { apiKey: DEV_API_KEY },
      'EMULATOR_API_KEY is not set, so only the development key is accepted',
    );
  }
  const { host, publicUrl } = config.options;
  if ((host === '0.0.0.0' || host === '::') && publicUrl === undefined) {
    logger.warn(
      { host },
      'EMULATOR_PUBLIC_URL is not set, so upload URLs point at 127.0.0.1 and other hosts cannot use them',
    );
  }
}

function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'connecteam-emulator' },
    formatters: { level: (label) => ({ level: label }) },
  });
}

/** Logs failed calls and PUTs at info, so injected faults show, and successes at debug. */
function logCalls(emulator: Emulator, logger: Logger): void {
  emulator.events.on('api-call', (event: ApiCallEvent) => {
    const level = event.status >= 200 && event.status < 400 ? 'debug' : 'info';
    logger[level](event, 'connecteam call');
  });
  emulator.events.on('storage-put', (event: StoragePutEvent) => {
    const level = event.status === 200 ? 'debug' : 'info';
    logger[level](event, 'storage put');
  });
}

main().catch((error: unknown) => {
  createLogger('info').fatal({ err: error }, 'emulator failed to start');
  process.exitCode = 1;
});
