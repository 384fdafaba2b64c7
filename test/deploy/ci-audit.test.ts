import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from './repo-files';

let fakeBin: string;

beforeEach(() => {
  fakeBin = mkdtempSync(join(tmpdir(), 'fake-npm-'));
});

afterEach(() => {
  rmSync(fakeBin, { recursive: true, force: true });
});

/** Runs .ci/audit with an `npm` that prints `output`, exits with `status` and logs its arguments. */
function runAudit(output: string, status: number) {
  writeFileSync(
    join(fakeBin, 'npm'),
    `#!/usr/bin/env bash\necho "$@" > "${fakeBin}/args"\nprintf '%s\\n' '${output}' >&2\nexit ${status}\n`,
  );
  chmodSync(join(fakeBin, 'npm'), 0o755);
  const result = spawnSync('bash', [repoPath('.ci/audit')], {
    encoding: 'utf8',
    env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH}` },
  });
  return { ...result, args: readFileSync(join(fakeBin, 'args'), 'utf8').trim() };
}

describe('.ci/audit', () => {
  it('is executable', () => {
    expect(statSync(repoPath('.ci/audit')).mode & 0o111).not.toBe(0);
  });

  it('audits production dependencies at high severity', () => {
    const result = runAudit('found 0 vulnerabilities', 0);

    expect(result.args).toBe('audit --omit=dev --audit-level=high');
    expect(result.status).toBe(0);
  });

  it('fails on a high severity advisory', () => {
    const result = runAudit('1 high severity vulnerability', 1);

    expect(result.status).toBe(1);
    expect(result.stdout).toContain('1 high severity vulnerability');
  });

  it('passes with a warning when the audit endpoint gives no report', () => {
    const result = runAudit('npm error audit endpoint returned an error', 1);

    expect(result.status).toBe(0);
    expect(result.stderr).toContain('advisories were not checked');
  });

  it('fails on any other npm failure', () => {
    const result = runAudit('npm error code EJSONPARSE', 1);

    expect(result.status).toBe(1);
  });
});
