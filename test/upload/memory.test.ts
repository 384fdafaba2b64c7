import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { startEmulator, type Emulator } from '../../src/emulator/emulator';
import { exitCode, startChildProxy, type ChildProxy } from '../support/child-proxy';
import { BOUNDARY, MULTIPART_TYPE } from '../support/multipart';
import { randomFile } from '../support/files';
import { API_KEY, AUTH } from '../support/stack';

let emulator: Emulator;
let child: ChildProxy;

beforeAll(async () => {
  emulator = await startEmulator({ apiKeys: [API_KEY] });
  child = await startChildProxy(emulator);
});

afterAll(async () => {
  child.process.kill('SIGTERM');
  await exitCode(child.process);
  await emulator.close();
});

/** Peak resident memory of the proxy process, from the kernel's high-water mark. */
function peakRssBytes(): number {
  const status = readFileSync(`/proc/${child.process.pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
}

/** Streams a multipart upload of `size` bytes without holding it in the test's memory. */
function uploadGenerated(size: number): Promise<number> {
  const head = Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="featureType"\r\n\r\nchat\r\n` +
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
  const block = randomFile(1024 * 1024);
  return new Promise((resolve, reject) => {
    const req = request(`${child.url}/v1/files`, {
      method: 'POST',
      headers: {
        ...AUTH,
        'content-type': MULTIPART_TYPE,
        'content-length': head.length + size + tail.length,
      },
    });
    req.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    req.on('error', reject);
    req.write(head);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        const piece = block.subarray(0, Math.min(block.length, size - sent));
        sent += piece.length;
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end(tail);
    };
    pump();
  });
}

describe('memory while streaming', () => {
  it('stays flat when the file grows from 16 MiB to 512 MiB', async () => {
    // The first upload warms up the code paths; the second sets the baseline.
    expect(await uploadGenerated(16 * 1024 * 1024)).toBe(201);
    expect(await uploadGenerated(16 * 1024 * 1024)).toBe(201);
    const afterSmall = peakRssBytes();
    expect(await uploadGenerated(512 * 1024 * 1024)).toBe(201);
    const afterLarge = peakRssBytes();
    // A buffering proxy would grow by the 496 MiB difference. Garbage collection timing moves
    // the peak by a few tens of MiB from run to run, hence the margin.
    expect(afterLarge - afterSmall).toBeLessThan(64 * 1024 * 1024);
  });
});
