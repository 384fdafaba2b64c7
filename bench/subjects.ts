import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerSpec } from './processes';
import type { UploadStyle } from './upload-client';

/** Repository root, from bench/dist/bench/ where the compiled benchmark runs. */
export const ROOT = join(__dirname, '..', '..', '..');
const SERVERS = join(__dirname, 'servers');

export const API_KEY = 'bench-connecteam-key-0123456789';
/** Two proxy clients, so 64 parallel uploads stay within the default 32 per client. */
export const CLIENT_TOKENS = ['bench-token-a-0123456789abcdef', 'bench-token-b-0123456789abcdef'];

/** Something measured with single uploads: a server process, or the emulator itself. */
export interface Subject {
  name: string;
  label: string;
  style: UploadStyle;
  /** Undefined for uploads that go straight to the emulator. */
  server?: (emulatorUrl: string, spoolDir: string) => ServerSpec;
  /** True for the proxy under test. */
  proxy: boolean;
  /**
   * True for a subject measured alone after the others. A process that allocates and frees
   * the whole file leaves the memory it gave back slow to touch on a VM, which would slow
   * down whatever runs next.
   */
  measuredLast?: boolean;
}

/** Describes the compiled emulator as `npm run emulator` runs it, with no object kept. */
export function emulatorSpec(): ServerSpec {
  return {
    name: 'emulator',
    script: join(ROOT, 'dist', 'emulator', 'main.js'),
    env: {
      EMULATOR_HOST: '127.0.0.1',
      EMULATOR_API_KEY: API_KEY,
      // High enough that no upload waits for the quota.
      EMULATOR_MINUTE_LIMIT: '1000000000',
      EMULATOR_DAY_LIMIT: '1000000000',
      EMULATOR_KEEP_BODIES_UP_TO_BYTES: '0',
      EMULATOR_LOG_LEVEL: 'warn',
    },
  };
}

/** Returns the Node.js flags that `npm start` gives the proxy, so the benchmark runs it alike. */
export function startFlags(): string[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const words = String(manifest.scripts.start).split(/\s+/);
  const script = words.indexOf('dist/main.js');
  if (words[0] !== 'node' || script === -1) {
    throw new Error(
      `invalid npm start script "${manifest.scripts.start}": expected "node [flags] dist/main.js"`,
    );
  }
  return words.slice(1, script);
}

/** Describes the compiled proxy as `npm start` runs it, quiet except for warnings. */
export function proxySpec(
  emulatorUrl: string,
  spoolDir: string,
  extraNodeArgs: string[] = [],
): ServerSpec {
  return {
    name: 'proxy',
    script: join(ROOT, 'dist', 'main.js'),
    nodeArgs: [...startFlags(), ...extraNodeArgs],
    readyPath: '/readyz',
    env: {
      CONNECTEAM_API_KEY: API_KEY,
      CONNECTEAM_BASE_URL: emulatorUrl,
      UPLOAD_URL_ALLOWED_HOSTS: emulatorUrl,
      PROXY_CLIENT_TOKENS: CLIENT_TOKENS.map((token, i) => `bench${i}:${token}`).join(','),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      SPOOL_DIR: spoolDir,
    },
  };
}

function baselineSpec(name: string, script: string, extra: Record<string, string> = {}) {
  return (emulatorUrl: string): ServerSpec => ({
    name,
    script: join(SERVERS, script),
    env: { CONNECTEAM_BASE_URL: emulatorUrl, CONNECTEAM_API_KEY: API_KEY, ...extra },
  });
}

/** Lists every subject of the single-upload measurements, in the order of the table. */
export function subjects(proxyNodeArgs: string[]): Subject[] {
  const proxy = (emulatorUrl: string, spoolDir: string) =>
    proxySpec(emulatorUrl, spoolDir, proxyNodeArgs);
  return [
    { name: 'direct', label: 'direct PUT to the emulator', style: 'direct', proxy: false },
    {
      name: 'relay-http',
      label: 'bare relay, node:http',
      style: 'relay',
      server: baselineSpec('relay-http', 'bare-relay.js', { RELAY_CLIENT: 'http' }),
      proxy: false,
    },
    {
      name: 'relay-undici',
      label: 'bare relay, undici',
      style: 'relay',
      server: baselineSpec('relay-undici', 'bare-relay.js', { RELAY_CLIENT: 'undici' }),
      proxy: false,
    },
    {
      name: 'relay-hash',
      label: 'bare relay with SHA-256, node:http',
      style: 'relay',
      server: baselineSpec('relay-hash', 'bare-relay.js', {
        RELAY_CLIENT: 'http',
        RELAY_HASH: '1',
      }),
      proxy: false,
    },
    {
      name: 'buffering',
      label: 'buffering proxy (multer)',
      style: 'buffering',
      server: baselineSpec('buffering', 'buffering-proxy.js'),
      proxy: false,
      measuredLast: true,
    },
    {
      name: 'proxy-multipart',
      label: 'proxy, multipart, size inferred',
      style: 'proxy-multipart',
      server: proxy,
      proxy: true,
    },
    {
      name: 'proxy-raw',
      label: 'proxy, raw body with Content-Length',
      style: 'proxy-raw',
      server: proxy,
      proxy: true,
    },
    {
      name: 'proxy-multipart-sized',
      label: 'proxy, multipart with size field',
      style: 'proxy-multipart-sized',
      server: proxy,
      proxy: true,
    },
  ];
}
