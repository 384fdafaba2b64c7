import { loadConfig } from './config';
import { startEmulator } from './emulator/emulator';
import { createLogger } from './logger';
import { startProxy } from './server';

/**
 * Runs the proxy against the built-in Connecteam emulator, for trying it out locally. This is
 * the only place that wires the two together: the production entry point never starts the
 * emulator, whatever the configuration says.
 */
const DEV_API_KEY = 'dev-connecteam-api-key';
const DEV_TOKEN = 'dev-token-change-me-0001';

async function main(): Promise<void> {
  const emulator = await startEmulator({
    apiKeys: [DEV_API_KEY],
    port: Number(process.env.EMULATOR_PORT ?? 9090),
  });
  const config = loadConfig({
    ...process.env,
    CONNECTEAM_API_KEY: DEV_API_KEY,
    CONNECTEAM_API_KEY_FILE: undefined,
    CONNECTEAM_BASE_URL: emulator.apiUrl,
    UPLOAD_URL_ALLOWED_HOSTS: emulator.storageOrigin,
    PROXY_CLIENT_TOKENS: process.env.PROXY_CLIENT_TOKENS ?? `dev:${DEV_TOKEN}`,
    PROXY_CLIENT_TOKENS_FILE: undefined,
    HOST: process.env.HOST ?? '127.0.0.1',
    LOG_FORMAT: process.env.LOG_FORMAT ?? 'pretty',
  });
  const logger = createLogger(config.logLevel, { pretty: config.logPretty });
  const proxy = await startProxy(config, { logger });
  process.stdout.write(
    [
      '',
      `Connecteam emulator: ${emulator.apiUrl}`,
      `Proxy:               ${proxy.url}`,
      `Client token:        ${DEV_TOKEN}`,
      '',
      'Upload a file:',
      `  curl -H 'Authorization: Bearer ${DEV_TOKEN}' -F featureType=chat -F file=@README.md ${proxy.url}/v1/files`,
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await proxy.shutdown();
    await emulator.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
