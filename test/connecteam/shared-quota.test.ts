import { setTimeout as sleep } from 'node:timers/promises';
import { startEmulator, type Emulator } from '../../src/emulator/emulator';
import type { ApiCallEvent } from '../../src/emulator/context';
import { startRedisServer, type RedisServer } from '../support/redis-server';
import { startReplicas, type Replica } from '../support/replicas';
import { send, type SendResult } from '../support/send';
import { API_KEY, AUTH } from '../support/stack';

let emulator: Emulator;
const completes = new Map<string, number>();

beforeAll(async () => {
  emulator = await startEmulator({ apiKeys: [API_KEY] });
  emulator.events.on('api-call', (event: ApiCallEvent) => {
    if (event.operation !== 'complete' || event.status !== 200) return;
    const fileId = event.path.split('/').pop() ?? '';
    completes.set(fileId, (completes.get(fileId) ?? 0) + 1);
  });
});

afterAll(async () => {
  await emulator.close();
});

beforeEach(() => {
  emulator.faults.reset();
  emulator.stats.reset();
  completes.clear();
});

function upload(replica: Replica, name: string, size = 64): Promise<SendResult> {
  return send(`${replica.url}/v1/files?featureType=chat&fileName=${name}`, {
    headers: { ...AUTH, 'content-type': 'text/plain' },
    body: Buffer.alloc(size, 'x'),
  });
}

/** Seconds until the emulator's minute window resets: it follows the wall-clock minute. */
function secondsToMinuteReset(): number {
  return (60_000 - (Date.now() % 60_000)) / 1000;
}

/** Waits for the next minute when less than `seconds` are left of this one. */
async function awayFromMinuteBoundary(seconds: number): Promise<void> {
  const left = secondsToMinuteReset();
  if (left < seconds) await sleep(left * 1000 + 250);
}

async function metricValue(replica: Replica, name: string): Promise<number> {
  const text = await replica.proxy.metrics.registry.getSingleMetricAsString(name);
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

function everyFileCompletedOnce(): void {
  for (const [fileId, count] of completes) expect([fileId, count]).toEqual([fileId, 1]);
}

describe('three replicas sharing one quota in Redis', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedisServer();
  });

  afterAll(async () => {
    await redis.kill();
  });

  it('stay within 20 calls a minute', async () => {
    // A new minute in the middle of the run, or within the 2 s wait bound, would bring a fresh
    // budget of 20 calls.
    await awayFromMinuteBoundary(8);
    emulator.faults.setLimits({ minute: 20 });
    const { replicas, close } = await startReplicas(3, emulator, {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'pacing-test:',
      QUOTA_MAX_WAIT_SECONDS: '2',
    });
    try {
      const results = await Promise.all(
        Array.from({ length: 30 }, async (_, index) => {
          const response = await upload(replicas[index % 3]!, `file-${index}.txt`);
          return { response, secondsToReset: secondsToMinuteReset() };
        }),
      );
      const landed = results.filter(({ response }) => response.status === 201);
      const rejected = results.filter(({ response }) => response.status === 429);
      const apiCalls = emulator.stats.calls.generate.total + emulator.stats.calls.complete.total;

      expect(landed.length + rejected.length).toBe(30);
      expect(emulator.stats.tooManyRequests).toBe(0);
      expect(apiCalls).toBeLessThanOrEqual(20);
      expect(apiCalls).toBe(2 * landed.length);
      expect(landed.length).toBe(10);
      for (const { response, secondsToReset } of rejected) {
        expect(response.json.error.code).toBe('quota_exhausted');
        const retryAfter = Number(response.headers['retry-after']);
        expect(retryAfter).toBeGreaterThanOrEqual(secondsToReset - 1);
        expect(retryAfter).toBeLessThanOrEqual(secondsToReset + 2);
      }
      const rejections = await Promise.all(
        replicas.map((replica) => metricValue(replica, 'connecteam_proxy_quota_rejections_total')),
      );
      expect(rejections.reduce((sum, value) => sum + value, 0)).toBe(rejected.length);
      everyFileCompletedOnce();
    } finally {
      await close();
    }
  });
});

describe('Redis killed while uploads run', () => {
  let redis: RedisServer;

  beforeEach(async () => {
    redis = await startRedisServer();
    // Storage reads slowly, so uploads are still in flight when Redis goes.
    emulator.faults.storageChunkDelayMs = 150;
  });

  afterEach(async () => {
    await redis.kill();
  });

  /** Starts four uploads of 4 chunks each and resolves once storage has their first bytes. */
  async function startSlowUploads(replicas: Replica[]): Promise<Array<Promise<SendResult>>> {
    const storing = new Set<string>();
    const started = new Promise<void>((resolve) => {
      const onData = ({ fileId }: { fileId: string }) => {
        storing.add(fileId);
        if (storing.size < 4) return;
        emulator.events.off('storage-data', onData);
        resolve();
      };
      emulator.events.on('storage-data', onData);
    });
    const uploads = Array.from({ length: 4 }, (_, index) =>
      send(`${replicas[index % 2]!.url}/v1/files?featureType=chat&fileName=slow-${index}.txt`, {
        headers: { ...AUTH, 'content-type': 'text/plain' },
        body: Buffer.alloc(4 * 16 * 1024, 'y'),
        chunkSize: 16 * 1024,
        delayMs: 20,
      }),
    );
    await started;
    return uploads;
  }

  it('fail-closed rejects new uploads with 503', async () => {
    const { replicas, close } = await startReplicas(2, emulator, {
      REDIS_URL: redis.url,
      QUOTA_STORE_FAILURE_POLICY: 'fail-closed',
    });
    try {
      const running = await startSlowUploads(replicas);
      await redis.kill();

      const refused = await upload(replicas[0]!, 'after-kill.txt');
      expect(refused.status).toBe(503);
      expect(refused.json.error.code).toBe('quota_store_unavailable');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      const readiness = await send(`${replicas[1]!.url}/readyz`, { method: 'GET' });
      expect(readiness.status).toBe(503);
      expect(readiness.json.reason).toMatch(/Redis/);

      const finished = await Promise.all(running);
      expect(finished.map((response) => response.status)).toEqual([201, 201, 201, 201]);
      expect(emulator.stats.completes).toBe(4);
      everyFileCompletedOnce();
      expect(
        await metricValue(replicas[0]!, 'connecteam_proxy_quota_store_errors_total'),
      ).toBeGreaterThan(0);

      // Redis back on its port: the replicas reconnect and take uploads again.
      redis = await startRedisServer(redis.port);
      const deadline = Date.now() + 8_000;
      let ready = 503;
      while (ready !== 200 && Date.now() < deadline) {
        await sleep(200);
        ready = (await send(`${replicas[1]!.url}/readyz`, { method: 'GET' })).status;
      }
      expect(ready).toBe(200);
      expect((await upload(replicas[1]!, 'after-restart.txt')).status).toBe(201);
    } finally {
      await close();
    }
  });

  it('local keeps uploads going', async () => {
    const { replicas, close } = await startReplicas(2, emulator, {
      REDIS_URL: redis.url,
      QUOTA_STORE_FAILURE_POLICY: 'local',
    });
    try {
      const running = await startSlowUploads(replicas);
      await redis.kill();

      const after = await Promise.all([
        upload(replicas[0]!, 'after-kill-0.txt'),
        upload(replicas[1]!, 'after-kill-1.txt'),
        upload(replicas[0]!, 'after-kill-2.txt'),
      ]);
      expect(after.map((response) => response.status)).toEqual([201, 201, 201]);
      const readiness = await send(`${replicas[0]!.url}/readyz`, { method: 'GET' });
      expect(readiness.status).toBe(200);

      const finished = await Promise.all(running);
      expect(finished.map((response) => response.status)).toEqual([201, 201, 201, 201]);
      expect(emulator.stats.completes).toBe(7);
      everyFileCompletedOnce();
      expect(emulator.stats.tooManyRequests).toBe(0);

      const errors = await metricValue(replicas[0]!, 'connecteam_proxy_quota_store_errors_total');
      expect(errors).toBeGreaterThan(0);
      // Repeated failures are counted, but logged at most once per 10 s.
      const warnings = replicas[0]!.logs.lines.filter(
        (line) => line.level === 'warn' && /shared store \(Redis\) request failed/.test(line.msg),
      );
      expect(warnings.length).toBeGreaterThanOrEqual(1);
      expect(warnings.length).toBeLessThanOrEqual(2);
    } finally {
      await close();
    }
  });
});
