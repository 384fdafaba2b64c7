import { randomFile } from '../support/files';
import { send } from '../support/send';
import { AUTH, clockAt, startStack } from '../support/stack';

describe('quota pacing', () => {
  it('spends a 20-call minute without a 429', async () => {
    // 10 s into the minute: the reset is 50 s away, far beyond the 1 s wait bound.
    const stack = await startStack({
      now: clockAt(10),
      emulator: { minuteLimit: 20 },
      env: { QUOTA_MAX_WAIT_SECONDS: '1' },
    });
    try {
      const responses = await Promise.all(
        Array.from({ length: 30 }, (_, index) =>
          send(`${stack.url}/v1/files?fileName=f${index}.bin&featureType=chat`, {
            headers: AUTH,
            body: randomFile(4096),
          }),
        ),
      );
      const landed = responses.filter((response) => response.status === 201);
      const throttled = responses.filter((response) => response.status === 429);
      expect(stack.emulator.stats.tooManyRequests).toBe(0);
      expect(landed.length + throttled.length).toBe(30);
      expect(landed.length).toBe(10);
      expect(stack.emulator.stats.completes).toBe(10);
      const apiCalls =
        stack.emulator.stats.calls.generate.total + stack.emulator.stats.calls.complete.total;
      expect(apiCalls).toBe(20);
      for (const response of throttled) {
        expect(response.json.error.code).toBe('quota_exhausted');
        const retryAfter = Number(response.headers['retry-after']);
        expect(retryAfter).toBeGreaterThanOrEqual(49);
        expect(retryAfter).toBeLessThanOrEqual(52);
      }
    } finally {
      await stack.close();
    }
  });

  it('holds uploads until the minute resets when that is within the wait bound', async () => {
    const stack = await startStack({
      now: clockAt(58),
      emulator: { minuteLimit: 4 },
      env: { QUOTA_MAX_WAIT_SECONDS: '6' },
    });
    try {
      const responses = await Promise.all(
        Array.from({ length: 4 }, (_, index) =>
          send(`${stack.url}/v1/files?fileName=w${index}.bin&featureType=chat`, {
            headers: AUTH,
            body: randomFile(1024),
          }),
        ),
      );
      expect(responses.map((response) => response.status)).toEqual([201, 201, 201, 201]);
      expect(stack.emulator.stats.tooManyRequests).toBe(0);
    } finally {
      await stack.close();
    }
  });
});
