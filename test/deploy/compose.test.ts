import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import { configVariableNames, loadYaml, repoPath } from './repo-files';

interface Service {
  build?: unknown;
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  ports?: string[];
  volumes?: string[];
  tmpfs?: string[];
  read_only?: boolean;
  stop_grace_period?: string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
}

interface ComposeFile {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
  volumes?: Record<string, unknown>;
}

const compose = loadYaml<ComposeFile>('docker-compose.yml');
const services = compose.services;
const proxy = services.proxy!;
const emulator = services.emulator!;
const proxyEnv = proxy.environment ?? {};

/** Maps /run/secrets/NAME values to the repository files that compose mounts there. */
function withSecretFiles(env: Record<string, string>): Record<string, string> {
  const resolved: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const secret = /^\/run\/secrets\/(.+)$/.exec(value)?.[1];
    const file = secret === undefined ? undefined : compose.secrets[secret]?.file;
    resolved[name] = file === undefined ? value : repoPath(file);
  }
  return resolved;
}

/** Converts a compose duration such as `30s` or `1m30s` to seconds. */
function durationSeconds(duration: string): number {
  let seconds = 0;
  for (const [, amount, unit] of duration.matchAll(/(\d+)(h|m|s)/g)) {
    seconds += Number(amount) * { h: 3600, m: 60, s: 1 }[unit as 'h' | 'm' | 's'];
  }
  return seconds;
}

/** Reads every TypeScript source below a folder of src/. */
function sourceText(folder: string): string {
  const root = repoPath('src', folder);
  if (!existsSync(root)) throw new Error(`src/${folder} is missing`);
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => readFileSync(join(root, file), 'utf8'))
    .join('\n');
}

describe('docker compose file', () => {
  test('has the whole stack', () => {
    for (const name of ['emulator', 'redis', 'proxy', 'lb', 'prometheus', 'grafana']) {
      expect(Object.keys(services)).toContain(name);
    }
  });

  test('runs two proxy replicas', () => {
    expect(proxy.deploy?.replicas).toBe(2);
    expect(proxyEnv.REDIS_URL).toBe('redis://redis:6379');
  });

  test('proxy variables are ones config.ts reads', () => {
    const known = configVariableNames();
    const unknown = Object.keys(proxyEnv).filter((name) => !known.has(name));
    expect(unknown).toEqual([]);
  });

  test('proxy configuration loads', () => {
    const config = loadConfig(withSecretFiles(proxyEnv));
    expect(config.connecteam.baseUrl).toBe('http://emulator:9090');
    expect(config.redis.url).toBe(proxyEnv.REDIS_URL);
    expect(config.clients.map((client) => client.name)).toEqual(['demo']);
  });

  test('proxy talks to the emulator', () => {
    const publicUrl = new URL(emulator.environment?.EMULATOR_PUBLIC_URL ?? '');
    expect(new URL(proxyEnv.CONNECTEAM_BASE_URL ?? '').origin).toBe(publicUrl.origin);
    expect(proxyEnv.UPLOAD_URL_ALLOWED_HOSTS).toBe(publicUrl.origin);
    expect(publicUrl.hostname).toBe('emulator');
    expect(publicUrl.port).toBe(emulator.environment?.EMULATOR_PORT);
  });

  test('emulator and proxy share the key', () => {
    expect(emulator.environment?.EMULATOR_API_KEY_FILE).toBe(proxyEnv.CONNECTEAM_API_KEY_FILE);
    expect(emulator.secrets).toContain('connecteam_api_key');
  });

  test('emulator variables exist in its source', () => {
    const source = sourceText('emulator');
    for (const name of Object.keys(emulator.environment ?? {})) {
      const base = name.replace(/_FILE$/, '');
      const read = new RegExp(`\\b(${name}|${base})\\b`).test(source);
      expect({ name, read }).toEqual({
        name,
        read: true,
      });
    }
  });

  test('emulator command has a source', () => {
    const script = emulator.command?.find((part) => part.startsWith('dist/')) ?? '';
    const source = script.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts');
    expect(existsSync(repoPath(source))).toBe(true);
  });

  test('secrets exist and are marked', () => {
    const referenced = new Set(Object.values(services).flatMap((service) => service.secrets ?? []));
    for (const name of referenced) {
      const file = compose.secrets[name]?.file;
      expect(file).toMatch(/^\.\/deploy\/compose\/secrets\//);
      const value = readFileSync(repoPath(file!), 'utf8');
      expect(value).toMatch(/dev-only/);
    }
  });

  test('proxy root filesystem is read-only', () => {
    expect(proxy.read_only).toBe(true);
    expect(proxy.tmpfs).toContain('/tmp');
    const dockerfile = readFileSync(repoPath('Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`VOLUME ["${proxyEnv.SPOOL_DIR}"]`);
  });

  test('stop grace exceeds the drain', () => {
    const drainSeconds = Number(proxyEnv.SHUTDOWN_GRACE_SECONDS ?? 25);
    expect(durationSeconds(proxy.stop_grace_period ?? '10s')).toBeGreaterThan(drainSeconds);
  });

  test('dependencies wait for health', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect({ name, dependency, condition }).toEqual({
          name,
          dependency,
          condition: 'service_healthy',
        });
        const image = services[dependency]?.image ?? '';
        const inheritsCheck = image.startsWith('connecteam-upload-proxy');
        expect(inheritsCheck || services[dependency]?.healthcheck !== undefined).toBe(true);
      }
    }
  });

  test('host ports are distinct', () => {
    const hostPorts = Object.values(services)
      .flatMap((service) => service.ports ?? [])
      .map((mapping) => mapping.split(':').slice(0, -1).join(':'));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    expect(hostPorts).toContain('127.0.0.1:8080');
  });

  test('mounted files exist', () => {
    for (const service of Object.values(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('./')) expect(existsSync(repoPath(source))).toBe(true);
        else expect(Object.keys(compose.volumes ?? {})).toContain(source);
      }
    }
  });

  test('images are pinned', () => {
    for (const service of Object.values(services)) {
      if (service.build !== undefined) continue;
      expect(service.image).toMatch(/:[\w.-]+$/);
      expect(service.image).not.toMatch(/:latest$/);
    }
  });

  test('balancer streams request bodies', () => {
    const nginx = readFileSync(repoPath('deploy/compose/nginx.conf'), 'utf8');
    expect(nginx).toMatch(/proxy_request_buffering off;/);
    expect(nginx).toMatch(/client_max_body_size 0;/);
    expect(nginx).toMatch(/server proxy:8080 resolve;/);
  });
});
