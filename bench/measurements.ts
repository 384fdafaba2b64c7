import { cpuSeconds, peakRssBytes, resetPeakRss } from './proc-stats';
import type { ServerProcess } from './processes';
import { percentile } from './statistics';
import { API_KEY, CLIENT_TOKENS, type Subject } from './subjects';
import { upload, type Target } from './upload-client';

/** Cost of one upload; process figures are missing for uploads straight to the emulator. */
export interface Sample {
  ms: number;
  cpuSeconds?: number;
  peakRssBytes?: number;
}

export type Log = (line: string) => void;

export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;

/** Builds the upload target of a subject; `server` is undefined for the emulator itself. */
export function targetOf(
  subject: Subject,
  server: ServerProcess | undefined,
  emulatorUrl: string,
): Target {
  if (server === undefined) return { style: subject.style, url: emulatorUrl, credential: API_KEY };
  if (!subject.proxy) return { style: subject.style, url: server.url };
  return { style: subject.style, url: server.url, credential: `Bearer ${CLIENT_TOKENS[0]}` };
}

/** Uploads one file and reads the server's CPU time and peak RSS around it. */
export async function measureUpload(
  target: Target,
  server: ServerProcess | undefined,
  size: number,
): Promise<Sample> {
  if (server === undefined) return { ms: await upload(target, size) };
  resetPeakRss(server.pid);
  const cpuBefore = cpuSeconds(server.pid);
  const ms = await upload(target, size);
  return {
    ms,
    cpuSeconds: cpuSeconds(server.pid) - cpuBefore,
    peakRssBytes: peakRssBytes(server.pid),
  };
}

/**
 * Runs `runs` rounds of one upload per subject, the subjects taking turns inside each round
 * so that drift in the machine's speed spreads over all of them alike.
 */
export async function measureRounds(
  subjects: readonly Subject[],
  servers: ReadonlyMap<string, ServerProcess>,
  emulatorUrl: string,
  size: number,
  runs: number,
  log: Log,
): Promise<Map<string, Sample[]>> {
  const samples = new Map(subjects.map((subject) => [subject.name, [] as Sample[]]));
  for (let run = 1; run <= runs; run += 1) {
    for (const subject of subjects) {
      const server = servers.get(subject.name);
      const sample = await measureUpload(targetOf(subject, server, emulatorUrl), server, size);
      samples.get(subject.name)!.push(sample);
      const speed = size / MIB / (sample.ms / 1000);
      const rss = sample.peakRssBytes === undefined ? '' : `, peak RSS ${mib(sample.peakRssBytes)}`;
      log(`${subject.name} ${describeSize(size)} ${run}/${runs}: ${speed.toFixed(0)} MiB/s${rss}`);
    }
  }
  return samples;
}

/** Outcome of one round of parallel uploads. */
export interface ParallelSample {
  errors: number;
  firstError?: string;
  mibPerSecond: number;
  peakRssBytes: number;
}

/** Sends `count` uploads at once, alternating between the two client tokens. */
export async function measureParallel(
  proxy: ServerProcess,
  count: number,
  size: number,
): Promise<ParallelSample> {
  resetPeakRss(proxy.pid);
  const started = performance.now();
  const results = await Promise.allSettled(
    Array.from({ length: count }, (_, i) =>
      upload(
        {
          style: 'proxy-multipart',
          url: proxy.url,
          credential: `Bearer ${CLIENT_TOKENS[i % CLIENT_TOKENS.length]}`,
        },
        size,
      ),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const failures = results.filter((result) => result.status === 'rejected');
  return {
    errors: failures.length,
    firstError: failures[0] === undefined ? undefined : String(failures[0].reason),
    mibPerSecond: ((count - failures.length) * size) / MIB / seconds,
    peakRssBytes: peakRssBytes(proxy.pid),
  };
}

/** Latency percentiles of one block of sequential uploads, in ms. */
export interface LatencySample {
  p50: number;
  p99: number;
}

/** Sends `count` small uploads one after another, after a few untimed ones. */
export async function measureLatency(
  target: Target,
  size: number,
  count: number,
): Promise<LatencySample> {
  for (let i = 0; i < 20; i += 1) await upload(target, size);
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) times.push(await upload(target, size));
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

export function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

export function describeSize(bytes: number): string {
  if (bytes >= GIB && bytes % GIB === 0) return `${bytes / GIB} GiB`;
  if (bytes >= MIB) return `${bytes / MIB} MiB`;
  return `${bytes / 1024} KiB`;
}
