import { randomFile, sha256 } from '../support/files';
import { send } from '../support/send';
import { AUTH, clockAt, startStack, type Stack } from '../support/stack';

function uploadRaw(stack: Stack, content = randomFile(2_000)) {
  return send(`${stack.url}/v1/files?fileName=r.bin&featureType=chat`, {
    headers: AUTH,
    body: content,
  });
}

function metricValue(stack: Stack, pattern: RegExp): Promise<number> {
  return stack.proxy.metrics.registry
    .metrics()
    .then((text) => Number(pattern.exec(text)?.[1] ?? 0));
}

describe('Connecteam client retries', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack();
  });

  afterAll(async () => {
    await stack.close();
  });

  beforeEach(() => {
    stack.emulator.faults.reset();
    stack.emulator.stats.reset();
  });

  it('retries generate-upload-url after 503s', async () => {
    stack.emulator.faults.failNext('generate', 2, 503);
    const content = randomFile(1000);
    const response = await uploadRaw(stack, content);
    expect(response.status).toBe(201);
    expect(response.json.files[0].sha256).toBe(sha256(content));
    expect(stack.emulator.stats.calls.generate.total).toBe(3);
    expect(
      await metricValue(
        stack,
        /connecteam_proxy_connecteam_retries_total\{operation="generate"\} (\d+)/,
      ),
    ).toBeGreaterThanOrEqual(2);
  });

  it('retries complete-upload after a 500 and a dropped connection', async () => {
    stack.emulator.faults.failNext('complete', 1, 500);
    stack.emulator.faults.resetNext('complete', 1);
    const response = await uploadRaw(stack);
    expect(response.status).toBe(201);
    expect(stack.emulator.stats.calls.complete.total).toBe(3);
    expect(stack.emulator.stats.completes).toBe(1);
  });

  it('retries generate-upload-url after a dropped connection', async () => {
    stack.emulator.faults.resetNext('generate', 1);
    const response = await uploadRaw(stack);
    expect(response.status).toBe(201);
  });

  it('does not retry a 422 and answers 400', async () => {
    stack.emulator.faults.failNext('generate', 1, 422);
    const response = await uploadRaw(stack);
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe('connecteam_rejected_file');
    expect(stack.emulator.stats.calls.generate.total).toBe(1);
    expect(stack.emulator.stats.calls.storage.total).toBe(0);
  });

  it('gives up with 502 once the retry budget is spent', async () => {
    stack.emulator.faults.failNext('generate', 1000, 503);
    const started = Date.now();
    const response = await uploadRaw(stack);
    expect(response.status).toBe(502);
    expect(response.json.error.code).toBe('connecteam_error');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stack.emulator.stats.calls.storage.total).toBe(0);
  });

  it('answers 504 when Connecteam does not answer in time', async () => {
    await stack.close();
    stack = await startStack({
      env: { UPSTREAM_TIMEOUT_SECONDS: '0.3', GENERATE_RETRY_BUDGET_SECONDS: '0' },
    });
    stack.emulator.faults.delayNext('generate', 5, 2_000);
    const response = await uploadRaw(stack);
    expect(response.status).toBe(504);
    expect(response.json.error.code).toBe('connecteam_timeout');
  });

  it('answers 413 when complete-upload rejects the file, and nothing stays completed', async () => {
    stack.emulator.faults.failNext('complete', 1, 400);
    const response = await uploadRaw(stack);
    expect(response.status).toBe(413);
    expect(stack.emulator.stats.completes).toBe(0);
  });
});

describe('throttling by Connecteam', () => {
  it.each([
    ['a 429', '429' as const],
    ['a 200 saying Too many requests', 'ok-200' as const],
  ])('waits for the reset after %s and then lands the file', async (_label, mode) => {
    // The shared clock sits 57 s into a minute, so the window resets within the wait bound.
    const stack = await startStack({ now: clockAt(57), env: { QUOTA_MAX_WAIT_SECONDS: '8' } });
    try {
      stack.emulator.faults.throttleNext('generate', 1, mode);
      const response = await uploadRaw(stack);
      expect(response.status).toBe(201);
      expect(stack.emulator.stats.calls.generate.total).toBe(2);
      const kind = mode === '429' ? '429' : 'ok_200';
      expect(
        await metricValue(
          stack,
          new RegExp(
            `connecteam_proxy_connecteam_throttled_total\\{operation="generate",kind="${kind}"\\} (\\d+)`,
          ),
        ),
      ).toBe(1);
    } finally {
      await stack.close();
    }
  });

  it('answers 429 with Retry-After when the reset is beyond the wait bound', async () => {
    const stack = await startStack({ now: clockAt(10), env: { QUOTA_MAX_WAIT_SECONDS: '1' } });
    try {
      stack.emulator.faults.throttleNext('generate', 1, '429');
      const response = await uploadRaw(stack);
      expect(response.status).toBe(429);
      expect(response.json.error.code).toBe('quota_exhausted');
      const retryAfter = Number(response.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(49);
      expect(retryAfter).toBeLessThanOrEqual(52);
      expect(stack.emulator.stats.completes).toBe(0);
    } finally {
      await stack.close();
    }
  });
});
