import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A server the benchmark started as its own process, listening on a loopback port. */
export interface ServerProcess {
  name: string;
  pid: number;
  url: string;
  /** Sends SIGTERM and waits for the exit; SIGKILL after 15 s. */
  stop(): Promise<void>;
}

export interface ServerSpec {
  name: string;
  /** Script run by this Node.js binary, with `nodeArgs` before it. */
  script: string;
  nodeArgs?: string[];
  env: Record<string, string>;
  /** Path that returns 200 once the server takes requests; without it any response will do. */
  readyPath?: string;
}

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 15_000;
/** Only the end of a child's stderr is kept, for the error message when it fails. */
const STDERR_TAIL_CHARS = 4_000;

/** Returns a port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
}

/** Starts a server process on a free loopback port, passed to it as `env[portVariable]`. */
export async function startServer(spec: ServerSpec, portVariable: string): Promise<ServerProcess> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [...(spec.nodeArgs ?? []), spec.script], {
    env: { PATH: process.env.PATH ?? '', ...spec.env, [portVariable]: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_TAIL_CHARS);
    if (process.env.BENCH_VERBOSE) process.stderr.write(`[${spec.name}] ${text}`);
  });
  const exited = once(child, 'exit');
  let stopping: Promise<void> | undefined;
  child.once('exit', (code, signal) => {
    if (stopping === undefined) {
      process.stderr.write(`${spec.name} exited unexpectedly (${signal ?? code}):\n${stderr}\n`);
    }
  });
  try {
    await waitUntilReady(url + (spec.readyPath ?? ''), spec.readyPath !== undefined, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${spec.name} did not start: ${(error as Error).message}\n${stderr}`);
  }
  return {
    name: spec.name,
    pid: child.pid!,
    url,
    stop: () => {
      stopping ??= stopProcess(child, exited);
      return stopping;
    },
  };
}

async function waitUntilReady(url: string, checkStatus: boolean, child: ChildProcess) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (!checkStatus || response.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await sleep(50);
  }
  throw new Error(`no response from ${url} within ${READY_TIMEOUT_MS} ms`);
}

async function stopProcess(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
