import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import type { Emulator } from '../../src/emulator/emulator';
import { createLogger } from '../../src/logger';
import { startProxy, type ProxyServer } from '../../src/server';
import { LogCapture, proxyEnv } from './stack';

/** One proxy of several that share an emulator account, and usually a Redis. */
export interface Replica {
  proxy: ProxyServer;
  url: string;
  logs: LogCapture;
}

export interface Replicas {
  replicas: Replica[];
  close(): Promise<void>;
}

/** Starts `count` proxies on free loopback ports, all wired to one emulator. */
export async function startReplicas(
  count: number,
  emulator: Emulator,
  env: Record<string, string>,
): Promise<Replicas> {
  const spoolDir = mkdtempSync(join(tmpdir(), 'proxy-replicas-'));
  const replicas: Replica[] = [];
  for (let index = 0; index < count; index += 1) {
    const logs = new LogCapture();
    const config = loadConfig({
      ...proxyEnv(emulator, join(spoolDir, String(index))),
      SHUTDOWN_GRACE_SECONDS: '2',
      ...env,
    });
    const proxy = await startProxy(config, {
      logger: createLogger(config.logLevel, { destination: logs }),
    });
    replicas.push({ proxy, url: proxy.url, logs });
  }
  return {
    replicas,
    close: async () => {
      await Promise.all(replicas.map((replica) => replica.proxy.shutdown()));
      rmSync(spoolDir, { recursive: true, force: true });
    },
  };
}
