import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { loadConfig } from './config';
import { createLogger } from './logger';
import { startProxy } from './server';

/**
 * Runs the proxy against the built-in Connecteam emulator, for trying it out locally. This is
 * the only place that wires the two together: the production entry point never starts the
 * emulator, whatever the configuration contains. The emulator runs in a child process of its own,
 * so the proxy's memory and CPU figures are its own. `npm run dev` pipes the JSON log lines
 * through pino-pretty.
 */
const DEV_API_KEY = 'dev-connecteam-api-key';
const DEV_TOKEN = 'dev-token-change-me-0001';

/** Starts `src/emulator/main.ts` and resolves with its API URL once it listens. */
function startEmulatorProcess(
  port: string,
): Promise<{ child: ChildProcess; apiUrl: string; storageOrigin: string }> {
  const child = spawn(process.execPath, [...process.execArgv, require.resolve('./emulator/main')], {
    env: { ...process.env, EMULATOR_PORT: port, EMULATOR_API_KEY: DEV_API_KEY },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the emulator exited with code ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: { msg?: string; apiUrl?: string; storageOrigin?: string } = {};
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        // Not a log line; pass it through below.
      }
      if (entry.msg === 'emulator listening' && entry.apiUrl && entry.storageOrigin) {
        resolve({ child, apiUrl: entry.apiUrl, storageOrigin: entry.storageOrigin });
      } else if (entry.msg !== undefined && entry.msg !== 'emulator listening') {
        process.stderr.write(`emulator: ${line}\n`);
      }
    });
  });
}

async function main(): Promise<void> {
  const emulator = await startEmulatorProcess(process.env.EMULATOR_PORT ?? '9090');
  const config = loadConfig({
    ...process.env,
    CONNECTEAM_API_KEY: DEV_API_KEY,
    CONNECTEAM_API_KEY_FILE: undefined,
    CONNECTEAM_BASE_URL: emulator.apiUrl,
    UPLOAD_URL_ALLOWED_HOSTS: emulator.storageOrigin,
    PROXY_CLIENT_TOKENS: process.env.PROXY_CLIENT_TOKENS ?? `dev:${DEV_TOKEN}`,
    PROXY_CLIENT_TOKENS_FILE: undefined,
    HOST: process.env.HOST ?? '127.0.0.1',
  });
  const logger = createLogger(config.logLevel, { pretty: config.logPretty });
  const proxy = await startProxy(config, { logger });
  process.stdout.write(
    [
      '',
      `Connecteam emulator: ${emulator.apiUrl}`,
      `Proxy:               ${proxy.url}`,
      `Client:              dev`,
      `Client token:        ${DEV_TOKEN}`,
      '',
      'Upload a file:',
      `  curl -H 'Authorization: Bearer ${DEV_TOKEN}' -F featureType=chat -F file=@README.md ${proxy.url}/v1/files`,
      '',
    ].join('\n'),
  );
  const stop = async () => {
    await proxy.shutdown();
    emulator.child.kill('SIGTERM');
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
