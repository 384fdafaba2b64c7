import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Emulator } from '../../src/emulator/emulator';
import { API_KEY, TOKEN } from './stack';

export interface ChildProxy {
  process: ChildProcess;
  url: string;
  lines: string[];
  spoolDir: string;
}

/** Runs the real entry point in a child process and waits until it listens. */
export async function startChildProxy(
  emulator: Emulator,
  env: Record<string, string> = {},
): Promise<ChildProxy> {
  const spoolDir = mkdtempSync(join(tmpdir(), 'proxy-child-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: {
      PATH: process.env.PATH,
      CONNECTEAM_API_KEY: API_KEY,
      CONNECTEAM_BASE_URL: emulator.apiUrl,
      UPLOAD_URL_ALLOWED_HOSTS: emulator.storageOrigin,
      PROXY_CLIENT_TOKENS: `alpha:${TOKEN}`,
      PORT: '0',
      HOST: '127.0.0.1',
      SPOOL_DIR: spoolDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        const parsed = JSON.parse(line) as { msg?: string; url?: string };
        if (parsed.msg === 'proxy listening' && parsed.url) resolve(parsed.url);
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`the proxy exited with ${code} before listening`)),
    );
  });
  return { process: child, url, lines, spoolDir };
}

export function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return once(child, 'exit').then(([code]) => code as number | null);
}
