import { Metrics } from '../../src/metrics/metrics';
import { readRepoFile } from './repo-files';

/** What an expression may name: a series the proxy exports and the labels it carries. */
export interface SeriesInfo {
  labels: Set<string>;
}

/** Labels that Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];

/** Label names whose values are a closed union type in src/metrics/metrics.ts. */
const LABEL_VALUE_TYPES: Record<string, string> = {
  outcome: 'UploadOutcome',
  step: 'UploadStep',
  operation: 'ConnecteamOperation',
  window: 'QuotaWindow',
  reason: 'SpoolReason',
};

/**
 * Builds the catalog of series names the proxy exports, from a fresh `Metrics` registry:
 * each histogram contributes its `_bucket`, `_sum` and `_count` series.
 */
export async function seriesCatalog(): Promise<Map<string, SeriesInfo>> {
  const metrics = new Metrics();
  const catalog = new Map<string, SeriesInfo>();
  for (const { name, type } of await metrics.registry.getMetricsAsJSON()) {
    // prom-client 15 keeps the declared label names on each metric object.
    const declared = (metrics.registry.getSingleMetric(name) as { labelNames?: string[] })
      .labelNames;
    const labels = new Set([...(declared ?? []), ...TARGET_LABELS]);
    if (String(type) === 'histogram') {
      catalog.set(`${name}_bucket`, { labels: new Set([...labels, 'le']) });
      catalog.set(`${name}_sum`, { labels });
      catalog.set(`${name}_count`, { labels });
    } else {
      catalog.set(name, { labels });
    }
  }
  return catalog;
}

/** Reads the allowed values of each closed label from the union types of metrics.ts. */
export function labelValueSets(): Map<string, Set<string>> {
  const source = readRepoFile('src', 'metrics', 'metrics.ts');
  const sets = new Map<string, Set<string>>();
  for (const [label, typeName] of Object.entries(LABEL_VALUE_TYPES)) {
    const match = new RegExp(`export type ${typeName} =([^;]+);`).exec(source);
    if (!match) {
      throw new Error(
        `src/metrics/metrics.ts no longer exports type ${typeName}: update LABEL_VALUE_TYPES`,
      );
    }
    const values = [...match[1]!.matchAll(/'([^']+)'/g)].map((value) => value[1]!);
    sets.set(label, new Set(values));
  }
  return sets;
}

/** Prefixes of every series the proxy exports, its own and prom-client's default ones. */
const SERIES_NAME = /\b(?:connecteam_proxy|process|nodejs)_[a-z0-9_]*[a-z0-9]\b/g;

export interface SelectorMatcher {
  series: string;
  label: string;
  value: string;
  regex: boolean;
}

/** Finds the exported series names that a PromQL expression or an annotation text mentions. */
export function seriesNames(text: string): string[] {
  return [...new Set(text.match(SERIES_NAME) ?? [])];
}

/** Lists the label matchers of each `name{...}` selector in a PromQL expression. */
export function selectorMatchers(expr: string): SelectorMatcher[] {
  const matchers: SelectorMatcher[] = [];
  for (const selector of expr.matchAll(/\b([a-z_:][a-z0-9_:]*)\s*\{([^}]*)\}/gi)) {
    const body = selector[2]!;
    for (const matcher of body.matchAll(/([a-z_][a-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"/gi)) {
      matchers.push({
        series: selector[1]!,
        label: matcher[1]!,
        value: matcher[3]!,
        regex: matcher[2] === '=~' || matcher[2] === '!~',
      });
    }
  }
  return matchers;
}

/** Lists the label names in `by (...)`, `without (...)`, `on (...)` and `ignoring (...)`. */
export function groupingLabels(expr: string): string[] {
  const labels: string[] = [];
  for (const clause of expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
    for (const label of clause[1]!.split(',')) {
      if (label.trim() !== '') labels.push(label.trim());
    }
  }
  return labels;
}

/**
 * Checks a PromQL expression against the catalog and returns one line per problem: unknown
 * series, label names a series does not carry, and values outside a closed label's set.
 * Values with template variables (`$instance`) are skipped, and alternations (`a|b`) split.
 */
export function checkExpression(
  expr: string,
  catalog: Map<string, SeriesInfo>,
  valueSets: Map<string, Set<string>>,
): string[] {
  const problems: string[] = [];
  const names = seriesNames(expr);
  for (const name of names) {
    if (!catalog.has(name)) problems.push(`unknown series ${name}`);
  }
  for (const matcher of selectorMatchers(expr)) {
    const info = catalog.get(matcher.series);
    if (!info) continue;
    if (!info.labels.has(matcher.label)) {
      problems.push(`${matcher.series} has no label ${matcher.label}`);
      continue;
    }
    const allowed = valueSets.get(matcher.label);
    if (!allowed || matcher.value.includes('$')) continue;
    const values = matcher.regex ? matcher.value.split('|') : [matcher.value];
    for (const value of values) {
      if (!allowed.has(value)) problems.push(`${matcher.label}="${value}" is not a known value`);
    }
  }
  const known = new Set(names.flatMap((name) => [...(catalog.get(name)?.labels ?? [])]));
  for (const label of groupingLabels(expr)) {
    if (names.length > 0 && !known.has(label)) {
      problems.push(`grouping label ${label} is on none of ${names.join(', ')}`);
    }
  }
  return problems;
}
