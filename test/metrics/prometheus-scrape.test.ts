import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import { startProxy, type ProxyServer } from '../../src/server';
import {
  delay,
  startPrometheus,
  type PrometheusServer,
  type QuerySample,
} from '../deploy/prometheus-tools';

// A real Prometheus server scrapes a running proxy, so this checks what the text format
// alone cannot: that Prometheus accepts the exposition and stores the quota gauges.

const WAIT_MS = 12_000;
const POLL_MS = 200;

let proxy: ProxyServer | undefined;
let prometheus: PrometheusServer | undefined;
let spoolDir: string;

beforeAll(async () => {
  spoolDir = mkdtempSync(join(tmpdir(), 'scrape-test-spool-'));
  const config = loadConfig({
    CONNECTEAM_API_KEY: 'scrape-test-key-not-a-secret',
    // Nothing is uploaded, so no call ever reaches this address.
    CONNECTEAM_BASE_URL: 'http://127.0.0.1:9',
    PROXY_CLIENT_TOKENS: 'scrape-test:scrape-test-token-0001',
    HOST: '127.0.0.1',
    PORT: '0',
    SPOOL_DIR: spoolDir,
    LOG_LEVEL: 'silent',
  });
  proxy = await startProxy(config);
  proxy.metrics.quotaRemaining.set({ window: 'minute' }, 42);
  proxy.metrics.quotaRemaining.set({ window: 'day' }, 9000);
  proxy.metrics.quotaLimit.set({ window: 'minute' }, 100);
  proxy.metrics.quotaLimit.set({ window: 'day' }, 10000);

  prometheus = await startPrometheus({ targets: [new URL(proxy.url).host], scrapeInterval: '1s' });
}, 30_000);

afterAll(async () => {
  await prometheus?.stop();
  await proxy?.shutdown();
  rmSync(spoolDir, { recursive: true, force: true });
});

/** Repeats an instant query until it returns samples, for at most WAIT_MS. */
async function queryUntilPresent(expr: string): Promise<QuerySample[]> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const samples = await prometheus!.query(expr);
    if (samples.length > 0 || Date.now() > deadline) return samples;
    await delay(POLL_MS);
  }
}

describe('prometheus scrape of the proxy', () => {
  test('target comes up', async () => {
    const up = await queryUntilPresent('up{job="connecteam-upload-proxy"} == 1');
    expect(up).toHaveLength(1);
  });

  test('quota gauges read back', async () => {
    const samples = await queryUntilPresent('connecteam_proxy_quota_remaining');
    const byWindow = Object.fromEntries(
      samples.map((sample) => [sample.metric.window, Number(sample.value[1])]),
    );
    expect(byWindow).toEqual({ minute: 42, day: 9000 });
  });

  test('quota ratio computes', async () => {
    const samples = await queryUntilPresent(
      'connecteam_proxy_quota_remaining{window="minute"} / connecteam_proxy_quota_limit{window="minute"}',
    );
    expect(samples).toHaveLength(1);
    expect(Number(samples[0]!.value[1])).toBeCloseTo(0.42);
  });

  test('default process metrics arrive', async () => {
    const samples = await queryUntilPresent('process_resident_memory_bytes');
    expect(samples).toHaveLength(1);
    expect(Number(samples[0]!.value[1])).toBeGreaterThan(0);
  });
});
