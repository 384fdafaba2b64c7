import { createServer } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { QuotaPacer } from '../../src/connecteam/quota-pacer';
import type { RateLimitReading } from '../../src/connecteam/rate-limit-headers';
import { RedisQuotaGate } from '../../src/connecteam/redis-quota-gate';
import { QuotaExhaustedError, StoreUnavailableError } from '../../src/errors';
import { Metrics } from '../../src/metrics/metrics';
import { RedisConnection, type StoreFailurePolicy } from '../../src/store/redis-connection';
import { startRedisServer, type RedisServer } from '../support/redis-server';

let redis: RedisServer;
const connections: RedisConnection[] = [];
const gates: RedisQuotaGate[] = [];
let prefixes = 0;
let prefix = '';

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  for (const gate of gates) gate.close();
  await Promise.all(connections.map((connection) => connection.close()));
  await redis.kill();
});

beforeEach(() => {
  prefixes += 1;
  prefix = `gate-test-${prefixes}:`;
});

interface Replica {
  gate: RedisQuotaGate;
  connection: RedisConnection;
  metrics: Metrics;
}

interface ReplicaOptions {
  maxWaitMs?: number;
  leaseTtlMs?: number;
  url?: string;
  policy?: StoreFailurePolicy;
}

/** Starts a gate with a Redis connection of its own, as each replica of the proxy has. */
async function replica(options: ReplicaOptions = {}): Promise<Replica> {
  const metrics = new Metrics();
  const maxWaitMs = options.maxWaitMs ?? 100;
  const connection = new RedisConnection({
    url: options.url ?? redis.url,
    failurePolicy: options.policy ?? 'fail-closed',
    metrics,
    logger: pino({ level: 'silent' }),
  });
  connections.push(connection);
  await connection.connect();
  const gate = new RedisQuotaGate({
    connection,
    keyPrefix: prefix,
    maxWaitMs,
    metrics,
    local: new QuotaPacer({ maxWaitMs, metrics }),
    leaseTtlMs: options.leaseTtlMs,
  });
  gates.push(gate);
  return { gate, connection, metrics };
}

function minute(limit: number, remaining: number, resetInMs: number): RateLimitReading {
  return { minute: { limit, remaining, resetAtMs: Date.now() + resetInMs } };
}

/** Waits until Redis has run every command the replica sent so far. */
async function flushed(from: Replica): Promise<void> {
  await from.connection.redis.ping();
}

const signal = new AbortController().signal;

async function metricValue(metrics: Metrics, name: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  return metric?.values.reduce((sum, value) => sum + value.value, 0) ?? 0;
}

describe('RedisQuotaGate', () => {
  it('shares one budget between replicas', async () => {
    const a = await replica();
    const b = await replica();
    a.gate.observe(minute(4, 4, 30_000));
    await flushed(a);

    await a.gate.reserve(2, signal);
    await b.gate.reserve(2, signal);
    const refused = await b.gate.reserve(2, signal).catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(QuotaExhaustedError);
    const retryAfter = (refused as QuotaExhaustedError).retryAfterSeconds;
    expect(retryAfter).toBeGreaterThanOrEqual(30);
    expect(retryAfter).toBeLessThanOrEqual(31);
    expect(await metricValue(b.metrics, 'connecteam_proxy_quota_rejections_total')).toBe(1);
  });

  // Reserved calls are expected to be spent, so a replica waits for them only when the
  // window resets within its wait bound. The reset is 2.5 s away in these tests.
  it('gives released calls to another replica', async () => {
    const a = await replica();
    const b = await replica({ maxWaitMs: 4_000 });
    a.gate.observe(minute(2, 2, 2_500));
    await flushed(a);
    const reservation = await a.gate.reserve(2, signal);

    const started = Date.now();
    const waiting = b.gate.reserve(2, signal);
    await sleep(100);
    // A reading passes through the local pacer, whose empty queue must not reset the gauge.
    b.gate.observe(minute(2, 2, 2_500));
    expect(await metricValue(b.metrics, 'connecteam_proxy_quota_reservations_waiting')).toBe(1);
    reservation.release();

    await expect(waiting).resolves.toBeDefined();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await metricValue(b.metrics, 'connecteam_proxy_quota_reservations_waiting')).toBe(0);
  });

  it('expires leases of a dead replica', async () => {
    const a = await replica({ leaseTtlMs: 300 });
    const b = await replica({ maxWaitMs: 4_000 });
    a.gate.observe(minute(2, 2, 2_500));
    await flushed(a);
    await a.gate.reserve(2, signal);
    // A replica that dies neither releases nor renews its leases.
    a.gate.close();

    const started = Date.now();
    await b.gate.reserve(2, signal);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(200);
    expect(waited).toBeLessThan(1_500);
  });

  it('renews leases of a live replica', async () => {
    const a = await replica({ leaseTtlMs: 300 });
    const b = await replica();
    a.gate.observe(minute(2, 2, 30_000));
    await flushed(a);
    const reservation = await a.gate.reserve(2, signal);
    await sleep(800);

    await expect(b.gate.reserve(2, signal)).rejects.toBeInstanceOf(QuotaExhaustedError);
    reservation.release();
  });

  it('marks the window spent for every replica on a throttle', async () => {
    const a = await replica();
    const b = await replica();
    a.gate.observe(minute(10, 10, 20_000));
    // A throttle whose headers still show calls left: the minute window counts as spent.
    a.gate.throttled({});
    await flushed(a);

    const refused = await b.gate.reserve(1, signal).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(QuotaExhaustedError);
    expect((refused as QuotaExhaustedError).retryAfterSeconds).toBeGreaterThanOrEqual(20);
  });

  it('lets one upload learn an unknown budget', async () => {
    const a = await replica();
    const b = await replica({ maxWaitMs: 2_000 });
    const first = await a.gate.reserve(2, signal);

    const second = b.gate.reserve(2, signal);
    await sleep(100);
    a.gate.observe(minute(10, 9, 30_000));
    first.settle(true);

    await expect(second).resolves.toBeDefined();
  });

  it('charges a call that got no response', async () => {
    const a = await replica();
    a.gate.observe(minute(3, 3, 30_000));
    const reservation = await a.gate.reserve(1, signal);
    reservation.settle(false);

    await expect(a.gate.reserve(3, signal)).rejects.toBeInstanceOf(QuotaExhaustedError);
    await expect(a.gate.reserve(2, signal)).resolves.toBeDefined();
  });

  it('keeps the lowest remaining of one window', async () => {
    const a = await replica();
    const reading = minute(10, 5, 30_000);
    a.gate.observe(reading);
    a.gate.observe({ minute: { ...reading.minute!, remaining: 8 } });

    await expect(a.gate.reserve(6, signal)).rejects.toBeInstanceOf(QuotaExhaustedError);
    await expect(a.gate.reserve(5, signal)).resolves.toBeDefined();
  });

  it('starts a window afresh after its reset', async () => {
    const a = await replica({ maxWaitMs: 2_000 });
    a.gate.observe(minute(2, 0, 300));

    const started = Date.now();
    await a.gate.reserve(2, signal);
    // The reset plus the 500 ms margin for the clocks of Connecteam and Redis.
    expect(Date.now() - started).toBeGreaterThanOrEqual(700);
  });

  it('stops waiting when the upload is aborted', async () => {
    const a = await replica({ maxWaitMs: 5_000 });
    a.gate.observe(minute(2, 0, 4_000));
    const controller = new AbortController();

    const started = Date.now();
    const waiting = a.gate.reserve(2, controller.signal);
    await sleep(50);
    controller.abort(new Error('client gone'));

    await expect(waiting).rejects.toThrow('client gone');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(await metricValue(a.metrics, 'connecteam_proxy_quota_reservations_waiting')).toBe(0);
  });
});

describe('RedisQuotaGate without Redis', () => {
  let deadUrl = '';

  beforeAll(async () => {
    // A port that was free a moment ago, where no server listens.
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    deadUrl = `redis://127.0.0.1:${typeof address === 'object' && address ? address.port : 1}`;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('rejects with 503 under fail-closed', async () => {
    const a = await replica({ url: deadUrl, policy: 'fail-closed' });

    const refused = await a.gate.reserve(2, signal).catch((error: unknown) => error);

    expect(refused).toBeInstanceOf(StoreUnavailableError);
    expect((refused as StoreUnavailableError).status).toBe(503);
    expect((refused as StoreUnavailableError).headers['Retry-After']).toBe('5');
    expect(await metricValue(a.metrics, 'connecteam_proxy_quota_store_errors_total')).toBe(1);
  });

  it('paces locally under the local policy', async () => {
    const a = await replica({ url: deadUrl, policy: 'local' });
    a.gate.observe(minute(2, 2, 30_000));

    await expect(a.gate.reserve(2, signal)).resolves.toBeDefined();
    await expect(a.gate.reserve(2, signal)).rejects.toBeInstanceOf(QuotaExhaustedError);
    expect(await metricValue(a.metrics, 'connecteam_proxy_quota_store_errors_total')).toBe(3);
  });
});
