import { spawnSync } from 'node:child_process';
import { buildMultipart, MULTIPART_TYPE } from '../support/multipart';
import { randomFile } from '../support/files';
import { send } from '../support/send';
import { AUTH, startStack, type Stack } from '../support/stack';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  // One success, one spooled file, one rejection and one throttle, so labelled series exist.
  await send(`${stack.url}/v1/files`, {
    headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
    body: buildMultipart([
      { name: 'featureType', value: 'chat' },
      // Large enough to stream beside a disk copy; the smaller b is read whole into memory.
      { name: 'a', filename: 'a.bin', content: randomFile(100_000) },
      { name: 'b', filename: 'b.bin', content: randomFile(2000) },
    ]),
  });
  await send(`${stack.url}/v1/files?featureType=nope&fileName=x`, {
    headers: AUTH,
    body: Buffer.from('x'),
  });
  stack.emulator.faults.throttleNext('generate', 1, 'ok-200');
  stack.emulator.faults.failNext('complete', 1, 503);
  await send(`${stack.url}/v1/files?featureType=chat&fileName=x`, {
    headers: AUTH,
    body: Buffer.from('x'),
  });
});

afterAll(async () => {
  await stack.close();
});

/**
 * prom-client's default gauges named nodejs_active_*_total break the rule that only counters
 * end in _total; they are the one accepted exception.
 */
const ACCEPTED = /^nodejs_active_(handles|requests|resources)_total /;

describe('metrics exposition', () => {
  it('passes promtool check metrics', async () => {
    const exposition = await (await fetch(`${stack.url}/metrics`)).text();
    const result = spawnSync('promtool', ['check', 'metrics'], {
      input: exposition,
      encoding: 'utf8',
    });
    if (result.error) {
      throw new Error(
        `promtool is missing (${result.error.message}); install Debian's prometheus package`,
      );
    }
    const problems = `${result.stdout}${result.stderr}`
      .split('\n')
      .filter((line) => line.trim() !== '' && !ACCEPTED.test(line));
    expect(problems).toEqual([]);
  });

  it('carries units in names and no ids or file names in labels', async () => {
    const exposition = await (await fetch(`${stack.url}/metrics`)).text();
    const samples = exposition.split('\n').filter((line) => line.startsWith('connecteam_proxy_'));
    expect(samples.length).toBeGreaterThan(50);
    expect(exposition).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-/);
    expect(exposition).not.toContain('a.bin');
    expect(exposition).toMatch(/connecteam_proxy_disk_copies_total\{reason="inferred_size"\} 1/);
    expect(exposition).toMatch(
      /connecteam_proxy_spooled_uploads_total\{reason="size_guess_wrong"\} 1/,
    );
    expect(exposition).toMatch(
      /connecteam_proxy_connecteam_throttled_total\{operation="generate",kind="ok_200"\} 1/,
    );
    expect(exposition).toMatch(
      /connecteam_proxy_upload_step_duration_seconds_count\{step="transfer"\} \d+/,
    );
  });
});
