import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { repoPath } from './repo-files';

const script = readFileSync(repoPath('.ci/run'), 'utf8');
const commands = script
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

describe('.ci/run', () => {
  test('is valid bash', () => {
    const result = spawnSync('bash', ['-n', repoPath('.ci/run')], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  test('is executable', () => {
    expect(statSync(repoPath('.ci/run')).mode & 0o111).not.toBe(0);
  });

  test('stops on the first failure', () => {
    expect(commands[0]).toBe('set -euo pipefail');
  });

  test('installs the test tools', () => {
    expect(script).toMatch(/missing\+=\(prometheus\)/);
    expect(script).toMatch(/missing\+=\(redis-server\)/);
    expect(script).toMatch(/DEBIAN_FRONTEND=noninteractive/);
    expect(script).toMatch(/exit 101/);
  });

  test('runs every check in order', () => {
    const steps = [
      'npm ci',
      '.ci/audit',
      'npm run lint',
      'npm run typecheck',
      'npm run build',
      'npm test',
    ];
    const positions = steps.map((step) =>
      commands.findIndex((command) => command.startsWith(step)),
    );
    for (const position of positions) expect(position).toBeGreaterThanOrEqual(0);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });
});
