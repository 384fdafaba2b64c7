import { readdirSync } from 'node:fs';
import { buildMultipart, MULTIPART_TYPE } from '../support/multipart';
import { randomFile, sha256 } from '../support/files';
import { send } from '../support/send';
import { AUTH, startStack, type Stack } from '../support/stack';

function openDescriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

async function settle(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check()) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('upload URL expiry', () => {
  let skewMs = 0;
  let stack: Stack;

  beforeAll(async () => {
    // Only the emulator's clock jumps, as if the transfer had taken longer than 300 s.
    stack = await startStack({ emulator: { now: () => Date.now() + skewMs } });
    stack.emulator.events.on('api-call', (call: { operation?: string }) => {
      if (call.operation === 'generate' && skewMs === 0) skewMs = 400_000;
    });
  });

  afterAll(async () => {
    await stack.close();
  });

  beforeEach(() => {
    skewMs = 0;
    stack.emulator.stats.reset();
  });

  it('answers 504 when the upload URL has expired and completes nothing', async () => {
    // Over SMALL_FILE_BYTES, so the file streams and no copy can be sent again.
    const response = await send(`${stack.url}/v1/files?fileName=late.bin&featureType=chat`, {
      headers: AUTH,
      body: randomFile(100_000),
    });
    expect(response.status).toBe(504);
    expect(response.json.error.code).toBe('upload_url_expired');
    expect(response.json.error.message).toContain('300 s');
    expect(stack.emulator.stats.completes).toBe(0);
  });

  // 100,000 bytes stream beside a disk copy, while 30,000 (at most SMALL_FILE_BYTES) are read whole.
  it.each([
    ['a disk copy', 100_000],
    ['memory', 30_000],
  ])('re-uploads from %s after expiry', async (_copy, firstSize) => {
    const first = randomFile(firstSize);
    const second = randomFile(10_000);
    const response = await send(`${stack.url}/v1/files`, {
      headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
      body: buildMultipart([
        { name: 'featureType', value: 'chat' },
        { name: 'a', filename: 'a.bin', content: first },
        { name: 'b', filename: 'b.bin', content: second },
      ]),
    });
    expect(response.status).toBe(201);
    expect(response.json.files.map((file: { sha256: string }) => file.sha256)).toEqual([
      sha256(first),
      sha256(second),
    ]);
    expect(stack.emulator.stats.calls.generate.total).toBe(3);
  });
});

describe('idle and slow transfers', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ env: { CLIENT_IDLE_TIMEOUT_SECONDS: '0.5' } });
  });

  afterAll(async () => {
    await stack.close();
  });

  beforeEach(() => {
    stack.emulator.faults.reset();
    stack.emulator.stats.reset();
  });

  it('lands a slow but steady upload', async () => {
    const content = randomFile(30 * 1024);
    const response = await send(`${stack.url}/v1/files?fileName=slow.bin&featureType=chat`, {
      headers: AUTH,
      body: content,
      chunkSize: 1024,
      delayMs: 100,
    });
    expect(response.status).toBe(201);
    expect(response.json.files[0].sha256).toBe(sha256(content));
  });

  it('answers 408 when the client stops sending, and aborts the PUT', async () => {
    const response = await send(`${stack.url}/v1/files?fileName=stall.bin&featureType=chat`, {
      headers: AUTH,
      body: randomFile(100_000),
      stallAfterBytes: 20_000,
    });
    expect(response.status).toBe(408);
    expect(response.json.error.code).toBe('client_timeout');
    expect(stack.emulator.stats.completes).toBe(0);
    await settle(() => stack.emulator.stats.calls.storage.total === 1);
    expect(stack.emulator.object(response.json.requestId)).toBeUndefined();
  });

  it('answers 504 when storage stops reading', async () => {
    stack.emulator.faults.stallStorage(1, { afterBytes: 64 * 1024 });
    const response = await send(`${stack.url}/v1/files?fileName=big.bin&featureType=chat`, {
      headers: AUTH,
      body: randomFile(16 * 1024 * 1024),
    }).catch((error: Error) => ({
      status: 0,
      json: { error: { code: error.message } },
      headers: {},
    }));
    expect(response.status).toBe(504);
    expect(response.json.error.code).toBe('storage_timeout');
    expect(stack.emulator.stats.completes).toBe(0);
  });
});

describe('client disconnects', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ emulator: { minuteLimit: 1000 } });
  });

  afterAll(async () => {
    await stack.close();
  });

  it('leaks nothing over 100 aborted uploads', async () => {
    // One finished upload first, so that pooled connections and lazy handles exist already.
    await send(`${stack.url}/v1/files?fileName=warm.bin&featureType=chat`, {
      headers: AUTH,
      body: randomFile(10),
    });
    stack.emulator.stats.reset();
    const descriptorsBefore = openDescriptors();
    const body = buildMultipart([
      { name: 'featureType', value: 'chat' },
      { name: 'file', filename: 'gone.bin', content: randomFile(256 * 1024) },
    ]);
    for (let batch = 0; batch < 10; batch += 1) {
      await Promise.all(
        Array.from({ length: 10 }, () =>
          send(`${stack.url}/v1/files`, {
            headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
            body,
            chunkSize: 16 * 1024,
            abortAfterBytes: 100 * 1024,
          }).catch(() => undefined),
        ),
      );
    }
    const metrics = async () => stack.proxy.metrics.registry.metrics();
    const inFlight = async () => (await stack.proxy.metrics.uploadsInFlight.get()).values[0]?.value;
    await settle(async () => (await inFlight()) === 0);
    // A leak of one descriptor per upload would show as 100 or more. Up to 10 pooled keep-alive
    // connections to the emulator's API (both ends live in this process) may stay open for the
    // client's 30 s idle timeout, so the bound leaves room for them but not for a leak.
    const bound = descriptorsBefore + 24;
    await settle(() => openDescriptors() <= descriptorsBefore + 2, 8_000);
    expect(stack.emulator.stats.completes).toBe(0);
    const connections = await new Promise<number>((resolve) =>
      stack.proxy.server.getConnections((_error, count) => resolve(count)),
    );
    expect(connections).toBe(0);
    expect(openDescriptors()).toBeLessThanOrEqual(bound);
    expect(readdirSync(stack.spoolDir)).toEqual([]);
    const text = await metrics();
    expect(text).toMatch(/connecteam_proxy_uploads_in_flight 0/);
    expect(text).toMatch(
      /connecteam_proxy_uploads_total\{client="alpha",feature_type="chat",outcome="aborted"\} 100/,
    );
  });
});
