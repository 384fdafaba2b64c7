import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { checkExpression, labelValueSets, seriesCatalog } from './metric-catalog';
import { startPrometheus, type PrometheusServer } from './prometheus-tools';
import { listRepoFiles, loadYaml, readRepoFile, repoPath } from './repo-files';

interface Target {
  expr: string;
  datasource?: { uid?: string };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid?: string };
  targets?: Target[];
  repeat?: string;
}

interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: unknown }[] };
}

interface ComposeFile {
  services: Record<string, { volumes?: string[]; environment?: Record<string, string> }>;
}

const DASHBOARD_FILE = 'deploy/grafana/dashboards/connecteam-upload-proxy.json';
const dashboard = JSON.parse(readRepoFile(DASHBOARD_FILE)) as Dashboard;
const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
const targets = panels.flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({ panel: panel.title, expr: target.expr, target })),
);
const variables = new Set(dashboard.templating.list.map((variable) => variable.name));

/** Replaces Grafana's variables with values Prometheus accepts. */
function concreteQuery(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$instance', '.+')
    .replaceAll('$step', 'transfer');
}

describe('grafana dashboard', () => {
  test('has a stable uid', () => {
    expect(dashboard.uid).toBe('connecteam-upload-proxy');
  });

  test('panel ids are unique', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('panels fit the 24-column grid', () => {
    const overflowing = dashboard.panels
      .filter((panel) => panel.gridPos.x + panel.gridPos.w > 24)
      .map((panel) => panel.title);
    expect(overflowing).toEqual([]);
  });

  test('every panel queries the datasource variable', () => {
    const wrongSource = panels
      .filter((panel) => panel.datasource?.uid !== '${datasource}')
      .map((panel) => panel.title);
    const withoutQuery = panels
      .filter((panel) => (panel.targets ?? []).length === 0)
      .map((panel) => panel.title);
    expect(wrongSource).toEqual([]);
    expect(withoutQuery).toEqual([]);
  });

  test('variables used are defined', () => {
    const used = new Set<string>();
    for (const { expr } of targets) {
      for (const match of expr.matchAll(/\$(?!__)([a-z_]+)/g)) used.add(match[1]!);
    }
    for (const panel of panels) if (panel.repeat) used.add(panel.repeat);
    for (const name of used) expect(variables).toContain(name);
    expect(variables).toContain('datasource');
  });

  test('queries name only exported series', async () => {
    const catalog = await seriesCatalog();
    const valueSets = labelValueSets();
    const problems = targets.flatMap(({ panel, expr }) =>
      checkExpression(expr, catalog, valueSets).map((problem) => `${panel}: ${problem}`),
    );
    expect(problems).toEqual([]);
  });

  test('covers the operator signals', () => {
    const all = targets.map((target) => target.expr).join('\n');
    const required = [
      'connecteam_proxy_quota_remaining',
      'connecteam_proxy_quota_reset_timestamp_seconds',
      'sum by (outcome) (rate(connecteam_proxy_uploads_total',
      'connecteam_proxy_upload_step_duration_seconds_bucket',
      'histogram_quantile(0.5,',
      'histogram_quantile(0.95,',
      'histogram_quantile(0.99,',
      'connecteam_proxy_storage_sent_bytes_total',
      'connecteam_proxy_uploads_in_flight',
      'connecteam_proxy_spooled_uploads_total',
      'connecteam_proxy_connecteam_throttled_total',
      'outcome=~"failed|timeout|expired"',
    ];
    for (const fragment of required) expect(all).toContain(fragment);
  });

  describe('queries run on Prometheus', () => {
    let prometheus: PrometheusServer;

    beforeAll(async () => {
      prometheus = await startPrometheus();
    }, 20_000);

    afterAll(async () => {
      await prometheus?.stop();
    });

    test('all parse and evaluate', async () => {
      const failures: string[] = [];
      for (const { panel, expr } of targets) {
        try {
          await prometheus.query(concreteQuery(expr));
        } catch (error) {
          failures.push(`${panel}: ${(error as Error).message}`);
        }
      }
      expect(failures).toEqual([]);
    });
  });
});

describe('grafana provisioning', () => {
  const compose = loadYaml<ComposeFile>('docker-compose.yml');
  const grafana = compose.services.grafana!;
  const mounts = new Map(
    (grafana.volumes ?? []).map((volume) => {
      const [source, target] = volume.split(':');
      return [source!, target!];
    }),
  );

  test('datasource points at compose prometheus', () => {
    const file = loadYaml<{ datasources: { type: string; url: string }[] }>(
      'deploy/grafana/provisioning/datasources/prometheus.yml',
    );
    const [datasource] = file.datasources;
    expect(datasource?.type).toBe('prometheus');
    const url = new URL(datasource!.url);
    expect(Object.keys(compose.services)).toContain(url.hostname);
    expect(url.port).toBe('9090');
  });

  test('dashboard provider reads the mounted folder', () => {
    const file = loadYaml<{ providers: { options: { path: string } }[] }>(
      'deploy/grafana/provisioning/dashboards/connecteam-upload-proxy.yml',
    );
    expect(mounts.get('./deploy/grafana/provisioning')).toBe('/etc/grafana/provisioning');
    expect(file.providers[0]?.options.path).toBe(mounts.get('./deploy/grafana/dashboards'));
  });

  test('home dashboard exists', () => {
    const home = grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    const folder = mounts.get('./deploy/grafana/dashboards') ?? '';
    expect(posix.dirname(home)).toBe(folder);
    expect(existsSync(repoPath('deploy/grafana/dashboards', posix.basename(home)))).toBe(true);
  });

  test('every dashboard file is json', () => {
    const files = listRepoFiles('deploy/grafana/dashboards', ['']);
    for (const file of files) expect(file.endsWith('.json')).toBe(true);
  });
});
