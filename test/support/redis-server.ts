import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

/** A redis-server process of the test's own on a free loopback port. */
export interface RedisServer {
  url: string;
  port: number;
  /** Kills the server with SIGKILL, as a crash would, and waits for it to exit. */
  kill(): Promise<void>;
}

const START_TIMEOUT_MS = 5_000;

/** Finds a free loopback port by letting the kernel pick one for a moment. */
async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Starts `redis-server` without persistence on 127.0.0.1. Fails with an install hint when the
 * binary is missing, so the suite never passes without the Redis tests. A `port` given
 * restarts a killed server where its clients expect it.
 */
export async function startRedisServer(port?: number): Promise<RedisServer> {
  port ??= await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitUntilReady(child, port);
  let exited: Promise<unknown> | undefined;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill: () => {
      exited ??= child.exitCode === null ? once(child, 'exit') : Promise.resolve();
      child.kill('SIGKILL');
      return exited.then(() => undefined);
    },
  };
}

function waitUntilReady(child: ChildProcess, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server on port ${port} was not ready within 5 s:\n${output}`));
    }, START_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    child.once('error', (error: NodeJS.ErrnoException) =>
      fail(
        error.code === 'ENOENT'
          ? new Error(
              'redis-server is not installed; the Redis tests need it on the PATH ' +
                '(Debian: apt-get install redis-server)',
            )
          : error,
      ),
    );
    child.once('exit', (code) =>
      fail(new Error(`redis-server on port ${port} exited with code ${code}:\n${output}`)),
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        child.stderr?.resume();
        resolve();
      }
    });
  });
}
