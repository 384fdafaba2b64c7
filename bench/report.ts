import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import {
  GIB,
  MIB,
  describeSize,
  type LatencySample,
  type ParallelSample,
  type Sample,
} from './measurements';
import type { Settings } from './run';
import { summarize, type Summary } from './statistics';
import type { Subject } from './subjects';

/** Everything one benchmark run measured. */
export interface Results {
  settings: Settings;
  subjects: Subject[];
  small: Map<string, Sample[]>;
  large: Map<string, Sample[]>;
  latency: Map<string, LatencySample[]>;
  parallel: ParallelSample[];
  /** /proc/loadavg's 1, 5 and 15 minute averages when the run began. */
  loadBefore: string;
}

/** Reads the 1, 5 and 15 minute load averages, since other work on the machine skews every figure. */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

function machine(): string {
  const model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  return `${availableParallelism()} CPUs (${model ?? 'unknown model'}), Node.js ${process.version}`;
}

interface Row {
  figure: string;
  value: string;
  target: string;
  result: string;
}

const TARGET_RATIO = 0.8;
const TARGET_CPU_SECONDS_PER_GIB = 1.8;
const TARGET_PEAK_MIB = 100;
const TARGET_PEAK_GROWTH_MIB = 16;
const TARGET_PARALLEL_PEAK_MIB = 256;
const TARGET_ADDED_P99_MS = 3;

/** Prints the table of figures, each the median of its runs with their range. */
export function printReport(results: Results): void {
  const { settings } = results;
  const large = describeSize(settings.largeSize);
  const small = describeSize(settings.smallSize);
  const rows = [
    ...throughputRows(results, large),
    ...cpuRows(results, large),
    ...memoryRows(results, small, large),
    ...diskCopyRows(results),
    ...parallelRows(results),
    ...latencyRows(results),
  ];
  const runs =
    `${settings.largeRuns} runs of ${large}, ${settings.smallRuns} of ${small}, ` +
    `${settings.parallelRuns} of ${settings.parallelCount} x ${describeSize(settings.parallelSize)}, ` +
    `${settings.latencyBlocks} blocks of ${settings.latencyCount} x ${describeSize(settings.latencySize)}`;
  process.stdout.write(
    `\n${machine()}\nload average before ${results.loadBefore}, after ${loadAverage()}\n` +
      `${settings.quick ? 'quick run: ' : ''}${runs}; median (min-max)\n\n`,
  );
  process.stdout.write(`${formatTable(rows)}\n`);
}

function throughputRows(results: Results, large: string): Row[] {
  const size = results.settings.largeSize;
  const rows = results.subjects.map((subject) =>
    info(
      `a. ${large} throughput, ${subject.label}`,
      format(speeds(results.large.get(subject.name)!, size), 0, ' MiB/s'),
    ),
  );
  const baseline = fasterRelay(results);
  for (const name of ['proxy-multipart', 'proxy-raw']) {
    const ratio = speedRatio(results.large.get(name)!, baseline.samples);
    rows.push(
      check(
        `a. ${labelOf(results, name)} / ${baseline.label}`,
        format(ratio, 2),
        `>= ${TARGET_RATIO}`,
        ratio.median >= TARGET_RATIO,
      ),
    );
  }
  // What a relay keeps of the bare relay's speed once it hashes every byte, and how close the
  // proxy comes to that: the hash alone sets how far below the ceiling any proxy must stay.
  const hashing = results.large.get('relay-hash')!;
  rows.push(
    info(
      `a. ${labelOf(results, 'relay-hash')} / ${baseline.label}`,
      format(speedRatio(hashing, baseline.samples), 2),
    ),
  );
  for (const name of ['proxy-multipart', 'proxy-raw']) {
    rows.push(
      info(
        `a. ${labelOf(results, name)} / ${labelOf(results, 'relay-hash')}`,
        format(speedRatio(results.large.get(name)!, hashing), 2),
      ),
    );
  }
  return rows;
}

function cpuRows(results: Results, large: string): Row[] {
  const size = results.settings.largeSize;
  const baseline = fasterRelay(results);
  const hashing = results.large.get('relay-hash')!;
  const rows = [
    info(`b. CPU s/GiB, ${baseline.label}`, format(cpuPerGib(baseline.samples, size), 2, ' s')),
    info(
      `b. CPU s/GiB, ${labelOf(results, 'relay-hash')}`,
      format(cpuPerGib(hashing, size), 2, ' s'),
    ),
  ];
  for (const subject of results.subjects.filter((s) => s.proxy)) {
    const cpu = cpuPerGib(results.large.get(subject.name)!, size);
    rows.push(
      check(
        `b. CPU s/GiB (${large} file), ${subject.label}`,
        format(cpu, 2, ' s'),
        `<= ${TARGET_CPU_SECONDS_PER_GIB} s`,
        cpu.median <= TARGET_CPU_SECONDS_PER_GIB,
      ),
    );
  }
  return rows;
}

function memoryRows(results: Results, small: string, large: string): Row[] {
  const rows: Row[] = [];
  for (const subject of results.subjects.filter((s) => s.server !== undefined)) {
    const smallPeak = peaks(results.small.get(subject.name)!);
    const largePeak = peaks(results.large.get(subject.name)!);
    const smallFigure = `c. peak RSS, ${small} upload, ${subject.label}`;
    const largeFigure = `c. peak RSS, ${large} upload, ${subject.label}`;
    if (!subject.proxy) {
      rows.push(info(smallFigure, format(smallPeak, 1, ' MiB')));
      rows.push(info(largeFigure, format(largePeak, 1, ' MiB')));
      continue;
    }
    const growth = largePeak.median - smallPeak.median;
    rows.push(
      check(
        smallFigure,
        format(smallPeak, 1, ' MiB'),
        `<= ${TARGET_PEAK_MIB} MiB`,
        smallPeak.median <= TARGET_PEAK_MIB,
      ),
      check(
        largeFigure,
        `${format(largePeak, 1, ' MiB')}, ${growth >= 0 ? '+' : ''}${growth.toFixed(1)}`,
        `<= ${TARGET_PEAK_MIB} MiB, +${TARGET_PEAK_GROWTH_MIB}`,
        largePeak.median <= TARGET_PEAK_MIB && growth <= TARGET_PEAK_GROWTH_MIB,
      ),
    );
  }
  return rows;
}

/**
 * Compares multipart uploads without and with a size field: only the first writes a disk
 * copy alongside the PUT, so the difference is what the copy costs.
 */
function diskCopyRows(results: Results): Row[] {
  const size = results.settings.largeSize;
  const inferred = results.large.get('proxy-multipart')!;
  const sized = results.large.get('proxy-multipart-sized')!;
  const throughputRatio = speedRatio(inferred, sized);
  const cpu = summarize(
    inferred.map((sample, i) => (sample.cpuSeconds! - sized[i]!.cpuSeconds!) / (size / GIB)),
  );
  return [
    info('a. disk copy cost: throughput without / with size field', format(throughputRatio, 2)),
    info('b. disk copy cost: CPU s/GiB added', format(cpu, 2, ' s')),
  ];
}

function parallelRows(results: Results): Row[] {
  const { parallelCount, parallelSize } = results.settings;
  const what = `d. ${parallelCount} x ${describeSize(parallelSize)} in parallel`;
  const errors = summarize(results.parallel.map((sample) => sample.errors));
  const speed = summarize(results.parallel.map((sample) => sample.mibPerSecond));
  const peak = summarize(results.parallel.map((sample) => sample.peakRssBytes / MIB));
  return [
    check(`${what}, errors`, format(errors, 0), '0', errors.max === 0),
    info(`${what}, aggregate throughput`, format(speed, 0, ' MiB/s')),
    check(
      `${what}, peak RSS`,
      format(peak, 1, ' MiB'),
      `<= ${TARGET_PARALLEL_PEAK_MIB} MiB`,
      peak.median <= TARGET_PARALLEL_PEAK_MIB,
    ),
  ];
}

function latencyRows(results: Results): Row[] {
  const size = describeSize(results.settings.latencySize);
  const direct = results.latency.get('direct')!;
  const rows = [
    info(
      `e. ${size} latency p50 / p99, ${labelOf(results, 'direct')}, three calls`,
      percentiles(direct),
    ),
  ];
  for (const name of ['proxy-multipart', 'proxy-raw']) {
    const samples = results.latency.get(name)!;
    rows.push(
      info(`e. ${size} latency p50 / p99, ${labelOf(results, name)}`, percentiles(samples)),
    );
    const added = summarize(samples.map((sample, i) => sample.p99 - direct[i]!.p99));
    rows.push(
      check(
        `e. ${size} added p99, ${labelOf(results, name)}`,
        format(added, 2, ' ms'),
        `<= ${TARGET_ADDED_P99_MS} ms`,
        added.median <= TARGET_ADDED_P99_MS,
      ),
    );
  }
  return rows;
}

function fasterRelay(results: Results): { label: string; samples: Sample[] } {
  const size = results.settings.largeSize;
  const [fast] = ['relay-http', 'relay-undici']
    .map((name) => ({ name, samples: results.large.get(name)! }))
    .sort((a, b) => speeds(b.samples, size).median - speeds(a.samples, size).median);
  return { label: labelOf(results, fast!.name), samples: fast!.samples };
}

function labelOf(results: Results, name: string): string {
  return results.subjects.find((subject) => subject.name === name)!.label;
}

/** Compares each run's speed with the reference subject's run in the same round. */
function speedRatio(samples: Sample[], reference: Sample[]): Summary {
  return summarize(samples.map((sample, i) => reference[i]!.ms / sample.ms));
}

function speeds(samples: Sample[], size: number): Summary {
  return summarize(samples.map((sample) => size / MIB / (sample.ms / 1000)));
}

function cpuPerGib(samples: Sample[], size: number): Summary {
  return summarize(samples.map((sample) => sample.cpuSeconds! / (size / GIB)));
}

function peaks(samples: Sample[]): Summary {
  return summarize(samples.map((sample) => sample.peakRssBytes! / MIB));
}

function percentiles(samples: LatencySample[]): string {
  const p50 = summarize(samples.map((sample) => sample.p50));
  const p99 = summarize(samples.map((sample) => sample.p99));
  return `${format(p50, 2)} / ${format(p99, 2, ' ms')}`;
}

function format(summary: Summary, digits: number, unit = ''): string {
  const value = (n: number) => n.toFixed(digits);
  if (summary.runs === 1) return `${value(summary.median)}${unit}`;
  return `${value(summary.median)}${unit} (${value(summary.min)}-${value(summary.max)})`;
}

function info(figure: string, value: string): Row {
  return { figure, value, target: '', result: '' };
}

function check(figure: string, value: string, target: string, pass: boolean): Row {
  return { figure, value, target, result: pass ? 'PASS' : 'FAIL' };
}

function formatTable(rows: Row[]): string {
  const header: Row = { figure: 'figure', value: 'value', target: 'target', result: 'result' };
  const all = [header, ...rows];
  const keys = ['figure', 'value', 'target', 'result'] as const;
  const widths = keys.map((key) => Math.max(...all.map((row) => row[key].length)));
  const line = (row: Row) => `| ${keys.map((key, i) => row[key].padEnd(widths[i]!)).join(' | ')} |`;
  const rule = `| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
