import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GIB,
  MIB,
  measureLatency,
  measureParallel,
  measureRounds,
  measureUpload,
  targetOf,
  type LatencySample,
  type ParallelSample,
} from './measurements';
import { startServer, type ServerProcess } from './processes';
import { loadAverage, printReport, type Results } from './report';
import { emulatorSpec, proxySpec, subjects, type Subject } from './subjects';
import { agent } from './upload-client';

/** How much to measure: `--quick` trades precision and the 1 GiB size for time. */
export interface Settings {
  quick: boolean;
  smallSize: number;
  smallRuns: number;
  largeSize: number;
  largeRuns: number;
  parallelCount: number;
  parallelSize: number;
  parallelRuns: number;
  latencySize: number;
  latencyCount: number;
  latencyBlocks: number;
  /** Directory for the proxies' V8 CPU profiles; none are written without it. */
  cpuProfileDir?: string;
}

function parseArguments(args: string[]): Settings {
  const quick = args.includes('--quick');
  const profileAt = args.indexOf('--cpu-prof');
  const unknown = args.filter(
    (arg, i) => arg !== '--quick' && arg !== '--cpu-prof' && i !== profileAt + 1,
  );
  if (unknown.length > 0 || (profileAt !== -1 && args[profileAt + 1] === undefined)) {
    throw new Error('usage: npm run bench -- [--quick] [--cpu-prof DIRECTORY]');
  }
  return {
    quick,
    smallSize: 16 * MIB,
    smallRuns: quick ? 2 : 5,
    largeSize: quick ? 256 * MIB : GIB,
    largeRuns: quick ? 2 : 7,
    parallelCount: 64,
    parallelSize: 16 * MIB,
    parallelRuns: quick ? 1 : 3,
    latencySize: 4 * 1024,
    latencyCount: quick ? 200 : 500,
    latencyBlocks: quick ? 2 : 3,
    cpuProfileDir: profileAt === -1 ? undefined : args[profileAt + 1],
  };
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const settings = parseArguments(process.argv.slice(2));
  const started = performance.now();
  const loadBefore = loadAverage();
  const spoolDir = mkdtempSync(join(tmpdir(), 'bench-spool-'));
  const running: ServerProcess[] = [];
  const start = async (spec: Parameters<typeof startServer>[0], portVariable = 'PORT') => {
    const server = await startServer(spec, portVariable);
    running.push(server);
    return server;
  };
  try {
    const emulator = await start(emulatorSpec(), 'EMULATOR_PORT');
    const profileArgs = settings.cpuProfileDir
      ? ['--cpu-prof', `--cpu-prof-dir=${settings.cpuProfileDir}`]
      : [];
    const list = subjects(profileArgs);
    const servers = new Map<string, ServerProcess>();
    for (const subject of list) {
      if (subject.server)
        servers.set(subject.name, await start(subject.server(emulator.url, spoolDir)));
    }

    log('warming up');
    await measureRounds(list, servers, emulator.url, settings.smallSize, 1, () => undefined);
    const rounds = (group: Subject[], size: number, runs: number) =>
      measureRounds(group, servers, emulator.url, size, runs, log);
    const streaming = list.filter((subject) => !subject.measuredLast);
    const last = list.filter((subject) => subject.measuredLast);
    const small = await rounds(streaming, settings.smallSize, settings.smallRuns);
    const large = await rounds(streaming, settings.largeSize, settings.largeRuns);
    for (const subject of last) {
      const alone = async (size: number, runs: number) =>
        (await rounds([subject], size, runs)).get(subject.name)!;
      small.set(subject.name, await alone(settings.smallSize, settings.smallRuns));
      large.set(subject.name, await alone(settings.largeSize, settings.largeRuns));
      // Stopped now, so its memory goes back to the system before the latency runs.
      await servers.get(subject.name)?.stop();
    }

    const latency = new Map<string, LatencySample[]>();
    const latencySubjects = list.filter((s) =>
      ['direct', 'proxy-multipart', 'proxy-raw'].includes(s.name),
    );
    for (let block = 1; block <= settings.latencyBlocks; block += 1) {
      for (const subject of latencySubjects) {
        const target = targetOf(subject, servers.get(subject.name), emulator.url);
        const sample = await measureLatency(target, settings.latencySize, settings.latencyCount);
        latency.set(subject.name, [...(latency.get(subject.name) ?? []), sample]);
        log(
          `${subject.name} 4 KiB latency ${block}/${settings.latencyBlocks}: p50 ${sample.p50.toFixed(2)} ms, p99 ${sample.p99.toFixed(2)} ms`,
        );
      }
    }
    for (const server of servers.values()) await server.stop();

    // A fresh proxy, so its peak RSS reflects the parallel uploads alone.
    const proxy = await start(proxySpec(emulator.url, spoolDir, profileArgs));
    await measureUpload(
      targetOf(
        list.find((s) => s.name === 'proxy-multipart')!,
        proxy,
        emulator.url,
      ),
      proxy,
      settings.parallelSize,
    );
    const parallel: ParallelSample[] = [];
    for (let run = 1; run <= settings.parallelRuns; run += 1) {
      const sample = await measureParallel(proxy, settings.parallelCount, settings.parallelSize);
      parallel.push(sample);
      log(
        `parallel ${run}/${settings.parallelRuns}: ${sample.errors} errors, ${sample.mibPerSecond.toFixed(0)} MiB/s, peak RSS ${(sample.peakRssBytes / MIB).toFixed(1)} MiB`,
      );
      if (sample.firstError) log(`  first error: ${sample.firstError}`);
    }
    await proxy.stop();

    const results: Results = {
      settings,
      subjects: list,
      small,
      large,
      latency,
      parallel,
      loadBefore,
    };
    printReport(results);
    log(`finished in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    for (const server of running.reverse()) await server.stop();
    agent.destroy();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`benchmark failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
});
