import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { ALERTS_PATH, renderPrometheusRule } from '../../deploy/kubernetes/render-prometheus-rule';
import { checkExpression, labelValueSets, seriesCatalog, seriesNames } from './metric-catalog';
import { promtool } from './prometheus-tools';
import { loadYaml, loadYamlDocuments } from './repo-files';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

interface RuleManifest {
  kind: string;
  metadata: { labels?: Record<string, string> };
  spec: RuleFile;
}

interface RuleTestFile {
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const JOB = 'connecteam-upload-proxy';
const alerts = loadYaml<RuleFile>('deploy/prometheus/alerts.yml');
const rules = alerts.groups.flatMap((group) => group.rules);
const alertNames = rules.map((rule) => rule.alert ?? '');

describe('promtool', () => {
  test('checks alerts.yml', () => {
    const result = promtool('check', 'rules', 'deploy/prometheus/alerts.yml');
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  test('passes the rule unit tests', () => {
    const result = promtool('test', 'rules', 'deploy/prometheus/alerts.test.yml');
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  test('checks prometheus.yml', () => {
    const result = promtool('check', 'config', 'deploy/prometheus/prometheus.yml');
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });
});

describe('alert rules', () => {
  test('are all alerts', () => {
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) expect(rule.alert).toMatch(/^Connecteam[A-Za-z]+$/);
    expect(new Set(alertNames).size).toBe(alertNames.length);
  });

  test.each(rules.map((rule) => [rule.alert, rule] as const))('%s is complete', (_name, rule) => {
    expect(rule.for).toMatch(/^\d+[smh]$/);
    expect(['warning', 'critical']).toContain(rule.labels?.severity);
    expect(rule.annotations?.summary).toBeTruthy();
    expect(rule.annotations?.description?.length).toBeGreaterThan(80);
  });

  test('watch the required signals', () => {
    const required = [
      'ConnecteamQuotaMinuteLow',
      'ConnecteamQuotaDayLow',
      'ConnecteamQuotaDayExhaustionPredicted',
      'ConnecteamUploadErrorRatioHigh',
      'ConnecteamUploadsSlow',
      'ConnecteamNoCompletedUploads',
      'ConnecteamProxyTargetDown',
    ];
    for (const name of required) expect(alertNames).toContain(name);
  });

  test('name only exported series', async () => {
    const catalog = await seriesCatalog();
    const valueSets = labelValueSets();
    const problems = rules.flatMap((rule) => {
      const found = checkExpression(rule.expr, catalog, valueSets);
      const annotations = Object.values(rule.annotations ?? {}).join('\n');
      for (const name of seriesNames(annotations)) {
        // Prose may name a histogram by its family name.
        const known = catalog.has(name) || catalog.has(`${name}_bucket`);
        if (!known) found.push(`annotation names unknown series ${name}`);
      }
      return found.map((problem) => `${rule.alert}: ${problem}`);
    });
    expect(problems).toEqual([]);
  });

  test('select the scrape job', () => {
    const prometheus = loadYaml<{ scrape_configs: { job_name: string }[] }>(
      'deploy/prometheus/prometheus.yml',
    );
    expect(prometheus.scrape_configs.map((config) => config.job_name)).toContain(JOB);
    for (const rule of rules) {
      for (const match of rule.expr.matchAll(/job="([^"]*)"/g)) expect(match[1]).toBe(JOB);
    }
  });

  test('each has firing and quiet tests', () => {
    const ruleTests = loadYaml<RuleTestFile>('deploy/prometheus/alerts.test.yml');
    const checks = ruleTests.tests.flatMap((test) => test.alert_rule_test ?? []);
    for (const name of alertNames) {
      const own = checks.filter((check) => check.alertname === name);
      expect({ name, fires: own.some((check) => check.exp_alerts.length > 0) }).toEqual({
        name,
        fires: true,
      });
      expect({ name, quiet: own.some((check) => check.exp_alerts.length === 0) }).toEqual({
        name,
        quiet: true,
      });
    }
  });
});

describe('kubernetes PrometheusRule', () => {
  const [manifest] = loadYamlDocuments<RuleManifest>(
    'deploy/kubernetes/monitoring/prometheus-rule.yaml',
  );
  const regenerate = 'run npx tsx deploy/kubernetes/render-prometheus-rule.ts';

  test('is a PrometheusRule', () => {
    expect(manifest?.kind).toBe('PrometheusRule');
  });

  test('carries the groups of alerts.yml', () => {
    const equal = isDeepStrictEqual(manifest?.spec.groups, alerts.groups);
    if (!equal) throw new Error(`prometheus-rule.yaml differs from alerts.yml: ${regenerate}`);
  });

  test('equals a fresh rendering', () => {
    const labels = manifest?.metadata.labels ?? {};
    const fresh = parse(renderPrometheusRule(readFileSync(ALERTS_PATH, 'utf8'), labels));
    expect(fresh).toEqual(manifest);
  });
});
