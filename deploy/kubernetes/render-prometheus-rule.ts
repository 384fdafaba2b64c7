/**
 * Writes monitoring/prometheus-rule.yaml from deploy/prometheus/alerts.yml, so that the
 * Prometheus Operator and the compose stack evaluate the same rules.
 *
 *   npx tsx deploy/kubernetes/render-prometheus-rule.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Document, isSeq, parseDocument } from 'yaml';

const root = join(__dirname, '..', '..');
export const ALERTS_PATH = join(root, 'deploy', 'prometheus', 'alerts.yml');
export const PROMETHEUS_RULE_PATH = join(
  root,
  'deploy',
  'kubernetes',
  'monitoring',
  'prometheus-rule.yaml',
);

const HEADER = [
  ' Generated from deploy/prometheus/alerts.yml: edit that file, then run',
  '   npx tsx deploy/kubernetes/render-prometheus-rule.ts',
  ' Your Prometheus resource may select rules by a label such as release: <name>. Add it to',
  ' metadata.labels of the generated file, and rendering again keeps it.',
].join('\n');

/** Builds the PrometheusRule manifest text carrying the rule groups of `alertsYaml`. */
export function renderPrometheusRule(
  alertsYaml: string,
  labels: Record<string, string> = {},
): string {
  const alerts = parseDocument(alertsYaml);
  const groups = alerts.get('groups', true);
  if (!isSeq(groups)) throw new Error('invalid alerts.yml: the "groups" list is missing');

  const manifest = new Document({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'connecteam-upload-proxy',
      namespace: 'connecteam-upload-proxy',
      labels: { 'app.kubernetes.io/name': 'connecteam-upload-proxy', ...labels },
    },
    spec: {},
  });
  // Moving the node, not its plain value, keeps the comments and block scalars of alerts.yml.
  manifest.setIn(['spec', 'groups'], groups);
  manifest.commentBefore = HEADER;
  return manifest.toString({ lineWidth: 96 });
}

/** Reads the labels of the current file, so that a selector label added by hand survives. */
function currentLabels(): Record<string, string> {
  try {
    const current = parseDocument(readFileSync(PROMETHEUS_RULE_PATH, 'utf8')).toJS() as {
      metadata?: { labels?: Record<string, string> };
    };
    return current.metadata?.labels ?? {};
  } catch {
    return {};
  }
}

async function main(): Promise<void> {
  const prettier = await import('prettier');
  const text = renderPrometheusRule(readFileSync(ALERTS_PATH, 'utf8'), currentLabels());
  const options = (await prettier.resolveConfig(PROMETHEUS_RULE_PATH)) ?? {};
  const formatted = await prettier.format(text, { ...options, filepath: PROMETHEUS_RULE_PATH });
  writeFileSync(PROMETHEUS_RULE_PATH, formatted);
  process.stdout.write(`wrote ${PROMETHEUS_RULE_PATH}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`rendering the PrometheusRule failed: ${String(error)}\n`);
    process.exit(1);
  });
}
