import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { loadConfig } from '../../src/config';
import { findObject, loadManifests, selects, type K8sObject } from './kubernetes-manifests';
import { configVariableNames, parseQuantity } from './repo-files';

interface Container {
  name: string;
  image: string;
  ports?: { name: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string } }[];
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
}

interface Probe {
  httpGet?: { path: string; port: string | number };
}

const NAME = 'connecteam-upload-proxy';
const manifests = loadManifests();
const deployment = findObject(manifests, 'Deployment', NAME);
const configMap = findObject(manifests, 'ConfigMap', NAME);
const secret = findObject(manifests, 'Secret', NAME);
const service = findObject(manifests, 'Service', NAME);
const podSpec = deployment.spec.template.spec;
const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
const proxy = (podSpec.containers as Container[]).find((container) => container.name === 'proxy')!;
const settings = configMap.data ?? {};

/** Resolves a probe or Service port, given by name or number, to the container's port. */
function containerPort(port: string | number | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return proxy.ports?.find((candidate) => candidate.name === port)?.containerPort;
}

function preStopSleepSeconds(): number {
  const command = proxy.lifecycle?.preStop?.exec?.command ?? [];
  return command[0] === 'sleep' ? Number(command[1]) : 0;
}

describe('kubernetes manifests', () => {
  test('objects are complete', () => {
    expect(manifests.length).toBeGreaterThan(8);
    for (const { file, object } of manifests) {
      expect({ file, apiVersion: typeof object.apiVersion, kind: typeof object.kind }).toEqual({
        file,
        apiVersion: 'string',
        kind: 'string',
      });
      expect(object.metadata.name).toMatch(/^[a-z0-9-]+$/);
      if (object.kind !== 'Namespace') expect(object.metadata.namespace).toBe(NAME);
    }
  });

  test('namespace exists', () => {
    expect(findObject(manifests, 'Namespace', NAME).kind).toBe('Namespace');
  });

  test('deployment runs two replicas', () => {
    expect(deployment.spec.replicas).toBe(2);
    expect(selects(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
  });

  test('container port matches PORT', () => {
    expect(containerPort('http')).toBe(Number(settings.PORT ?? 8080));
  });

  test('probes use the health routes', () => {
    expect(proxy.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(proxy.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(proxy.startupProbe?.httpGet?.path).toBe('/healthz');
    for (const probe of [proxy.livenessProbe, proxy.readinessProbe, proxy.startupProbe]) {
      expect(containerPort(probe?.httpGet?.port)).toBe(Number(settings.PORT ?? 8080));
    }
  });

  test('grace period covers the drain', () => {
    const drainSeconds = Number(settings.SHUTDOWN_GRACE_SECONDS ?? 25);
    expect(drainSeconds).toBeGreaterThan(0);
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(
      drainSeconds + preStopSleepSeconds(),
    );
  });

  test('proxy runs unprivileged', () => {
    expect(podSpec.securityContext.runAsNonRoot).toBe(true);
    expect(podSpec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(proxy.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(proxy.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(proxy.securityContext?.capabilities?.drop).toContain('ALL');
    expect(podSpec.automountServiceAccountToken).toBe(false);
  });

  test('every container runs read-only', () => {
    const workloads = manifests.filter(({ object }) => object.kind === 'Deployment');
    for (const { object } of workloads) {
      const spec = object.spec.template.spec;
      for (const container of spec.containers as Container[]) {
        const label = `${object.metadata.name}/${container.name}`;
        expect({ label, readOnly: container.securityContext?.readOnlyRootFilesystem }).toEqual({
          label,
          readOnly: true,
        });
        expect({ label, nonRoot: spec.securityContext?.runAsNonRoot }).toEqual({
          label,
          nonRoot: true,
        });
        expect(container.image).toMatch(/:[\w.-]+$/);
        expect(container.image).not.toMatch(/:latest$/);
      }
    }
  });

  test('spool volume mounted at SPOOL_DIR', () => {
    const spoolDir = settings.SPOOL_DIR;
    expect(spoolDir).toBeDefined();
    const mount = proxy.volumeMounts?.find((candidate) => candidate.mountPath === spoolDir);
    expect(mount).toBeDefined();
    const volume = (podSpec.volumes as { name: string; emptyDir?: { sizeLimit?: string } }[]).find(
      (candidate) => candidate.name === mount?.name,
    );
    expect(volume?.emptyDir?.sizeLimit).toBeDefined();
    const sizeLimit = parseQuantity(volume!.emptyDir!.sizeLimit!);
    expect(sizeLimit).toBeGreaterThanOrEqual(Number(settings.SPOOL_MAX_BYTES));
  });

  test('resources are set', () => {
    expect(proxy.resources?.requests?.cpu).toBeDefined();
    expect(proxy.resources?.requests?.memory).toBeDefined();
    expect(proxy.resources?.limits?.memory).toBeDefined();
    const storageLimit = parseQuantity(proxy.resources?.limits?.['ephemeral-storage'] ?? '0');
    expect(storageLimit).toBeGreaterThan(Number(settings.SPOOL_MAX_BYTES));
  });

  test('secret files come from the secret', () => {
    const secretVolume = (
      podSpec.volumes as { name: string; secret?: { secretName: string } }[]
    ).find((volume) => volume.secret?.secretName === secret.metadata.name);
    const mount = proxy.volumeMounts?.find((candidate) => candidate.name === secretVolume?.name);
    expect(mount?.readOnly).toBe(true);
    const fileVariables = (proxy.env ?? []).filter((variable) => variable.name.endsWith('_FILE'));
    expect(fileVariables.map((variable) => variable.name).sort()).toEqual([
      'CONNECTEAM_API_KEY_FILE',
      'PROXY_CLIENT_TOKENS_FILE',
    ]);
    for (const variable of fileVariables) {
      expect(posix.dirname(variable.value ?? '')).toBe(mount?.mountPath);
      expect(Object.keys(secret.stringData ?? {})).toContain(posix.basename(variable.value!));
    }
  });

  test('variables are ones config.ts reads', () => {
    const known = configVariableNames();
    const names = [...Object.keys(settings), ...(proxy.env ?? []).map((variable) => variable.name)];
    const unknown = names.filter((name) => !known.has(name));
    expect(unknown).toEqual([]);
    expect(proxy.envFrom?.[0]?.configMapRef?.name).toBe(configMap.metadata.name);
  });

  test('configuration loads', () => {
    const directory = mkdtempSync(join(tmpdir(), 'k8s-secrets-'));
    try {
      const env: Record<string, string> = { ...settings };
      for (const variable of proxy.env ?? []) {
        const key = posix.basename(variable.value ?? '');
        const file = join(directory, key);
        writeFileSync(file, secret.stringData?.[key] ?? '');
        env[variable.name] = file;
      }
      const config = loadConfig(env);
      expect(config.spool.directory).toBe(settings.SPOOL_DIR);
      expect(config.shutdownGraceMs).toBe(Number(settings.SHUTDOWN_GRACE_SECONDS) * 1000);
      expect(config.redis.url).toBe(settings.REDIS_URL);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test('redis url names the redis service', () => {
    const url = new URL(settings.REDIS_URL ?? '');
    const redis = findObject(manifests, 'Service', url.hostname);
    const ports = (redis.spec.ports as { port: number }[]).map((port) => port.port);
    expect(ports).toContain(Number(url.port || 6379));
  });

  test('service reaches the pods', () => {
    expect(selects(service.spec.selector, podLabels)).toBe(true);
    for (const port of service.spec.ports as { name: string; targetPort: string | number }[]) {
      expect(containerPort(port.targetPort)).toBeDefined();
    }
  });

  test('disruption budget keeps one pod', () => {
    const budget = findObject(manifests, 'PodDisruptionBudget', NAME);
    expect(selects(budget.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(budget.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(budget.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
  });

  test('autoscaler targets the deployment', () => {
    const autoscaler = findObject(manifests, 'HorizontalPodAutoscaler', NAME);
    expect(autoscaler.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: NAME,
    });
    expect(autoscaler.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(autoscaler.spec.maxReplicas).toBeGreaterThan(autoscaler.spec.minReplicas);
    expect(proxy.resources?.requests?.cpu).toBeDefined();
  });

  test('service monitor scrapes /metrics', () => {
    const monitor: K8sObject = findObject(manifests, 'ServiceMonitor', NAME);
    expect(selects(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
    const servicePorts = (service.spec.ports as { name: string }[]).map((port) => port.name);
    for (const endpoint of monitor.spec.endpoints as { port: string; path: string }[]) {
      expect(servicePorts).toContain(endpoint.port);
      expect(endpoint.path).toBe('/metrics');
    }
  });
});
