import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/emulator';
import { createLogger } from '../../src/logger';
import { startProxy, type ProxyServer } from '../../src/server';

export const API_KEY = 'test-connecteam-key-5f1c2a9e';
export const TOKEN = 'alpha-token-0123456789abcdef';
export const BETA_TOKEN = 'beta-token-0123456789abcdef';
export const AUTH = { authorization: `Bearer ${TOKEN}` };

/** Every log line the proxy wrote, parsed. */
export class LogCapture {
  readonly lines: Array<Record<string, any>> = [];
  readonly raw: string[] = [];

  write(line: string): void {
    this.raw.push(line);
    this.lines.push(JSON.parse(line) as Record<string, any>);
  }

  find(message: string): Array<Record<string, any>> {
    return this.lines.filter((line) => line.msg === message);
  }
}

export interface Stack {
  emulator: Emulator;
  proxy: ProxyServer;
  url: string;
  logs: LogCapture;
  spoolDir: string;
  close(): Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  emulator?: Partial<EmulatorOptions>;
  /** Clock shared by the emulator's quota windows and the proxy's pacing. */
  now?: () => number;
}

/** Returns a clock that reads `secondsIntoMinute` seconds into a wall-clock minute now. */
export function clockAt(secondsIntoMinute: number): () => number {
  const offset = secondsIntoMinute * 1000 - (Date.now() % 60_000);
  return () => Date.now() + offset;
}

/** Returns the settings of a test proxy wired to `emulator`, with short retry budgets. */
export function proxyEnv(emulator: Emulator, spoolDir: string): Record<string, string> {
  return {
    CONNECTEAM_API_KEY: API_KEY,
    CONNECTEAM_BASE_URL: emulator.apiUrl,
    UPLOAD_URL_ALLOWED_HOSTS: emulator.storageOrigin,
    PROXY_CLIENT_TOKENS: `alpha:${TOKEN},beta:${BETA_TOKEN}`,
    PORT: '0',
    HOST: '127.0.0.1',
    SPOOL_DIR: spoolDir,
    LOG_LEVEL: 'debug',
    GENERATE_RETRY_BUDGET_SECONDS: '3',
    COMPLETE_RETRY_BUDGET_SECONDS: '5',
  };
}

/** Starts the emulator and a proxy wired to it, both on free loopback ports. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const emulator = await startEmulator({
    apiKeys: [API_KEY],
    now: options.now,
    ...options.emulator,
  });
  const spoolDir = mkdtempSync(join(tmpdir(), 'proxy-spool-'));
  const logs = new LogCapture();
  const config = loadConfig({ ...proxyEnv(emulator, spoolDir), ...options.env });
  const logger = createLogger(config.logLevel, { destination: logs });
  const proxy = await startProxy(config, { logger, now: options.now });
  return {
    emulator,
    proxy,
    url: proxy.url,
    logs,
    spoolDir,
    close: async () => {
      await proxy.shutdown();
      await emulator.close();
      rmSync(spoolDir, { recursive: true, force: true });
    },
  };
}
