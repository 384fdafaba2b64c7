import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';

const MAIN = join(__dirname, '../../src/emulator/main.ts');

function startMain(env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Collects the JSON log lines of a child until `until` returns true for one of them. */
async function readLines(
  child: ChildProcess,
  until: (line: Record<string, any>) => boolean,
): Promise<Array<Record<string, any>>> {
  const lines: Array<Record<string, any>> = [];
  for await (const text of createInterface({ input: child.stdout! })) {
    const line = JSON.parse(text) as Record<string, any>;
    lines.push(line);
    if (until(line)) break;
  }
  return lines;
}

describe('emulator main', () => {
  it('listens, serves calls and stops on SIGTERM', async () => {
    const child = startMain({ EMULATOR_PORT: '0', EMULATOR_API_KEY: 'main-test-key' });
    const exited = once(child, 'exit');
    try {
      const started = await readLines(child, (line) => line.msg === 'emulator listening');
      const { apiUrl } = started.at(-1)!;
      expect(apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const response = await request(`${apiUrl}/attachments/v1/files/none`, {
        headers: { 'x-api-key': 'main-test-key' },
      });
      await response.body.dump();
      expect(response.statusCode).toBe(404);
      child.kill('SIGTERM');
      const stopped = await readLines(child, (line) => line.msg === 'emulator stopped');
      expect(stopped.map((line) => line.msg)).toContain('emulator stopping');
      const [code] = await exited;
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('exits with 1 and lists invalid variables', async () => {
    const child = startMain({ EMULATOR_PORT: 'x', EMULATOR_DAY_LIMIT: 'y' });
    const exited = once(child, 'exit');
    const [line] = await readLines(child, () => true);
    const [code] = await exited;
    expect(code).toBe(1);
    expect(line!.level).toBe('fatal');
    expect(line!.problems).toHaveLength(2);
  });
});
