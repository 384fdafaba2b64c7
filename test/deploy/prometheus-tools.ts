import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './repo-files';

const INSTALL_HINT =
  "Install Debian's prometheus package, which contains both (apt-get install prometheus). " +
  '.ci/run installs it in CI.';

export interface ToolResult {
  status: number | null;
  output: string;
}

/** Runs promtool from the repository root, failing with an install hint when it is missing. */
export function promtool(...args: string[]): ToolResult {
  const result = spawnSync('promtool', args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`promtool was not found on PATH. ${INSTALL_HINT}`);
    throw result.error;
  }
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Finds a free TCP port on 127.0.0.1 by binding port 0 and releasing it. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string')
    throw new Error('the port probe got no TCP address');
  return address.port;
}

export interface PrometheusServer {
  url: string;
  /** Runs an instant query and returns the result vector. Throws when the query fails. */
  query(expr: string): Promise<QuerySample[]>;
  /** Stops the server and deletes its data directory. */
  stop(): Promise<void>;
}

export interface QuerySample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusOptions {
  /** `host:port` addresses scraped as job connecteam-upload-proxy. */
  targets?: string[];
  scrapeInterval?: string;
}

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * Starts the prometheus binary on a free loopback port with its data in a temporary
 * directory, and waits until it is ready.
 */
export async function startPrometheus(options: PrometheusOptions = {}): Promise<PrometheusServer> {
  const directory = mkdtempSync(join(tmpdir(), 'prometheus-test-'));
  const interval = options.scrapeInterval ?? '1s';
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval },
    scrape_configs: options.targets
      ? [
          {
            job_name: 'connecteam-upload-proxy',
            scrape_timeout: interval,
            static_configs: [{ targets: options.targets }],
          },
        ]
      : [],
  };
  writeFileSync(join(directory, 'prometheus.yml'), JSON.stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;

  const child = spawn(
    'prometheus',
    [
      `--config.file=${join(directory, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(directory, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const cleanup = () => rmSync(directory, { recursive: true, force: true });

  try {
    await waitUntilReady(child, url, () => output);
  } catch (error) {
    await stopProcess(child);
    cleanup();
    throw error;
  }

  return {
    url,
    query: (expr) => instantQuery(url, expr),
    stop: async () => {
      await stopProcess(child);
      cleanup();
    },
  };
}

async function waitUntilReady(child: ChildProcess, url: string, output: () => string) {
  let failure: Error | undefined;
  child.once('error', (error: NodeJS.ErrnoException) => {
    failure =
      error.code === 'ENOENT'
        ? new Error(`prometheus was not found on PATH. ${INSTALL_HINT}`)
        : error;
  });
  child.once('exit', (code) => {
    failure ??= new Error(`prometheus exited with code ${code} during start-up:\n${output()}`);
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (failure) throw failure;
    try {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await delay(100);
  }
  throw failure ?? new Error(`prometheus was not ready after ${START_TIMEOUT_MS} ms:\n${output()}`);
}

async function instantQuery(url: string, expr: string): Promise<QuerySample[]> {
  const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`, {
    signal: AbortSignal.timeout(5000),
  });
  const body = (await response.json()) as {
    status: string;
    error?: string;
    data?: { resultType: string; result: unknown };
  };
  if (body.status !== 'success') throw new Error(`query failed: ${body.error ?? 'no message'}`);
  if (body.data?.resultType !== 'vector') return [];
  return body.data.result as QuerySample[];
}

async function stopProcess(child: ChildProcess): Promise<void> {
  // A process that failed to spawn has no pid and emits no exit event.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
