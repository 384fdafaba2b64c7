import { readdirSync } from 'node:fs';
import { startEmulator, type Emulator } from '../../src/emulator/emulator';
import { exitCode, startChildProxy } from '../support/child-proxy';
import { randomFile, sha256 } from '../support/files';
import { send } from '../support/send';
import { API_KEY, AUTH } from '../support/stack';

let emulator: Emulator;

beforeAll(async () => {
  emulator = await startEmulator({ apiKeys: [API_KEY] });
});

afterAll(async () => {
  await emulator.close();
});

describe('graceful shutdown on SIGTERM', () => {
  it('finishes the running upload, turns away new ones, and exits 0', async () => {
    const child = await startChildProxy(emulator, { SHUTDOWN_GRACE_SECONDS: '20' });
    const content = randomFile(40 * 1024);
    const slowUpload = send(`${child.url}/v1/files?fileName=slow.bin&featureType=chat`, {
      headers: AUTH,
      body: content,
      chunkSize: 2048,
      delayMs: 50,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.process.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const ready = await send(`${child.url}/readyz`, { method: 'GET' });
    expect(ready.status).toBe(503);
    const rejected = await send(`${child.url}/v1/files?fileName=new.bin&featureType=chat`, {
      headers: AUTH,
      body: Buffer.from('new'),
    });
    expect(rejected.status).toBe(503);
    expect(rejected.headers['retry-after']).toBeDefined();
    const finished = await slowUpload;
    expect(finished.status).toBe(201);
    expect(finished.json.files[0].sha256).toBe(sha256(content));
    expect(await exitCode(child.process)).toBe(0);
  });

  it('aborts uploads still running when the grace period ends, completing nothing', async () => {
    const child = await startChildProxy(emulator, { SHUTDOWN_GRACE_SECONDS: '0.5' });
    const completesBefore = emulator.stats.completes;
    const stalled = send(`${child.url}/v1/files?fileName=stuck.bin&featureType=chat`, {
      headers: AUTH,
      body: randomFile(50_000),
      stallAfterBytes: 10_000,
    }).catch((error: Error) => error);
    // A chunked body goes to a disk copy, which must be gone once the process has exited.
    const spooling = send(`${child.url}/v1/files?fileName=chunked.bin&featureType=chat`, {
      headers: AUTH,
      body: randomFile(50_000),
      chunked: true,
      stallAfterBytes: 20_000,
    }).catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.process.kill('SIGTERM');
    expect(await exitCode(child.process)).toBe(0);
    await Promise.all([stalled, spooling]);
    expect(emulator.stats.completes).toBe(completesBefore);
    expect(readdirSync(child.spoolDir)).toEqual([]);
  });

  it('exits at once on a second signal', async () => {
    const child = await startChildProxy(emulator, { SHUTDOWN_GRACE_SECONDS: '60' });
    const stalled = send(`${child.url}/v1/files?fileName=stuck.bin&featureType=chat`, {
      headers: AUTH,
      body: randomFile(50_000),
      stallAfterBytes: 10_000,
    }).catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 300));
    child.process.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    child.process.kill('SIGTERM');
    expect(await exitCode(child.process)).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
    await stalled;
  });
});
