import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FEATURE_TYPES, type FeatureType, parseFeatureType } from './connecteam/feature-types';
import { parseClientTokens, type ClientCredential } from './http/client-tokens';
import { parseAllowedOrigins, type OriginPattern } from './upload/allowed-origins';

/** The proxy's settings, read once from the environment and frozen. */
export interface Config {
  connecteam: {
    apiKey: string;
    baseUrl: string;
  };
  uploadUrlAllowedOrigins: readonly OriginPattern[];
  clients: readonly ClientCredential[];
  /** Feature types each named client may use; a client missing here may use all four. */
  clientFeatureTypes: ReadonlyMap<string, readonly FeatureType[]>;
  port: number;
  host: string;
  maxFileBytes: number;
  maxFilesPerRequest: number;
  logLevel: string;
  logPretty: boolean;
  spool: {
    directory: string;
    /** Total bytes all disk copies may take at once; 0 switches disk copies off. */
    maxBytes: number;
  };
  shutdownGraceMs: number;
  quotaMaxWaitMs: number;
  clientIdleTimeoutMs: number;
  upstream: {
    connectTimeoutMs: number;
    /** Headers and body timeout of each Connecteam API call. */
    timeoutMs: number;
    /** Time storage may take to respond once the whole file has been sent. */
    storageResponseTimeoutMs: number;
    generateRetryBudgetMs: number;
    completeRetryBudgetMs: number;
  };
  limits: {
    maxConcurrentUploads: number;
    maxConcurrentUploadsPerClient: number;
    maxConnections: number;
  };
  server: {
    keepAliveTimeoutMs: number;
    headersTimeoutMs: number;
  };
  redis: {
    url: string | undefined;
    keyPrefix: string;
    failurePolicy: 'fail-closed' | 'local';
  };
  idempotencyTtlMs: number;
}

/** Thrown by {@link loadConfig} with every problem found, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Collects problems while reading variables, so start-up can report them all at once. */
class EnvReader {
  readonly problems: string[] = [];

  constructor(private readonly env: Env) {}

  string(name: string, fallback: string): string {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? fallback : value;
  }

  optional(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  /** Reads `NAME` or the file named by `NAME_FILE`, as Docker and Kubernetes secrets provide. */
  secret(name: string): string | undefined {
    const direct = this.optional(name);
    const file = this.optional(`${name}_FILE`);
    if (direct !== undefined && file !== undefined) {
      this.problems.push(`${name} and ${name}_FILE are both set; set only one of them`);
      return undefined;
    }
    if (file === undefined) {
      if (direct === undefined) this.problems.push(`${name} (or ${name}_FILE) is required`);
      return direct;
    }
    try {
      const content = readFileSync(file, 'utf8').trim();
      if (content === '') this.problems.push(`${name}_FILE: the file ${file} is empty`);
      return content;
    } catch (error) {
      this.problems.push(`${name}_FILE: cannot read ${file} (${(error as Error).message})`);
      return undefined;
    }
  }

  integer(name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      this.problems.push(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  }

  /** Reads a duration in seconds (decimals allowed) and returns milliseconds. */
  seconds(name: string, fallbackSeconds: number, minSeconds = 0): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallbackSeconds * 1000;
    const value = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || value < minSeconds || value > MAX_DURATION_SECONDS) {
      this.problems.push(
        `${name} must be a number of seconds from ${minSeconds} to ${MAX_DURATION_SECONDS}, ` +
          `got "${raw}"`,
      );
      return fallbackSeconds * 1000;
    }
    return Math.round(value * 1000);
  }

  /** Runs a parser that throws on bad input, recording the message as a problem. */
  parse<T>(name: string, raw: string | undefined, parser: (raw: string) => T, fallback: T): T {
    if (raw === undefined) return fallback;
    try {
      return parser(raw);
    } catch (error) {
      this.problems.push(`${name}: ${(error as Error).message}`);
      return fallback;
    }
  }
}

const GIB = 1024 ** 3;
/** Node's timers hold at most 2^31 - 1 ms (about 24.8 days); one day is plenty for any setting. */
const MAX_DURATION_SECONDS = 86_400;

/**
 * Parses `PROXY_CLIENT_FEATURE_TYPES`: comma-separated `client:type|type` entries, for example
 * `payroll:users,helpdesk:chat|quicktasks`.
 */
export function parseClientFeatureTypes(raw: string): Map<string, FeatureType[]> {
  const result = new Map<string, FeatureType[]>();
  for (const entry of raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)) {
    const separator = entry.indexOf(':');
    const client = entry.slice(0, separator).trim();
    if (separator <= 0 || client === '') {
      throw new Error(`entry "${entry}" must look like client:chat|users`);
    }
    const types = entry
      .slice(separator + 1)
      .split('|')
      .map((type) => parseFeatureType(type.trim()));
    if (types.some((type) => type === undefined)) {
      throw new Error(
        `entry "${entry}" names a feature type other than ${FEATURE_TYPES.join(', ')}`,
      );
    }
    result.set(client, types as FeatureType[]);
  }
  return result;
}

function parseBaseUrl(raw: string): string {
  const url = new URL(raw);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`must be an http(s) URL, got "${raw}"`);
  }
  return url.toString().replace(/\/+$/, '');
}

/** Checks a Redis URL. The message leaves the value out, because the URL may hold a password. */
function parseRedisUrl(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url === undefined || !['redis:', 'rediss:'].includes(url.protocol) || url.hostname === '') {
    throw new Error('must be a redis:// or rediss:// URL with a host, such as redis://redis:6379');
  }
  return raw;
}

/** Reads, validates and freezes the configuration; throws {@link ConfigError} listing every problem. */
export function loadConfig(env: Env = process.env): Config {
  const read = new EnvReader(env);
  const apiKey = read.secret('CONNECTEAM_API_KEY') ?? '';
  const tokens = read.secret('PROXY_CLIENT_TOKENS');
  const clients = read.parse('PROXY_CLIENT_TOKENS', tokens, parseClientTokens, []);
  const clientFeatureTypes = read.parse(
    'PROXY_CLIENT_FEATURE_TYPES',
    read.optional('PROXY_CLIENT_FEATURE_TYPES'),
    parseClientFeatureTypes,
    new Map(),
  );
  for (const name of clientFeatureTypes.keys()) {
    if (clients.length > 0 && !clients.some((client) => client.name === name)) {
      read.problems.push(
        `PROXY_CLIENT_FEATURE_TYPES names "${name}", which PROXY_CLIENT_TOKENS lacks`,
      );
    }
  }
  const keepAliveTimeoutMs = read.seconds('KEEP_ALIVE_TIMEOUT_SECONDS', 75, 1);
  const failurePolicy = read.string('QUOTA_STORE_FAILURE_POLICY', 'fail-closed');
  if (failurePolicy !== 'fail-closed' && failurePolicy !== 'local') {
    read.problems.push(
      `QUOTA_STORE_FAILURE_POLICY must be fail-closed or local, got "${failurePolicy}"`,
    );
  }
  const logLevel = read.string('LOG_LEVEL', 'info');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    read.problems.push(
      `LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "${logLevel}"`,
    );
  }

  // A listen address is an IP address: a name would need a DNS lookup just to start.
  const host = read.string('HOST', '0.0.0.0');
  if (isIP(host) === 0 && host !== 'localhost') {
    read.problems.push(`HOST must be an IP address such as 0.0.0.0 or ::, got "${host}"`);
  }
  const logFormat = read.string('LOG_FORMAT', 'json');
  if (logFormat !== 'json' && logFormat !== 'pretty') {
    read.problems.push(`LOG_FORMAT must be json or pretty, got "${logFormat}"`);
  } else if (logFormat === 'pretty' && !isInstalled('pino-pretty')) {
    read.problems.push(
      'LOG_FORMAT=pretty needs the pino-pretty package, a development dependency that ' +
        'production installs leave out; use json, or pipe the output through pino-pretty',
    );
  }

  const config: Config = {
    connecteam: {
      apiKey,
      baseUrl: read.parse(
        'CONNECTEAM_BASE_URL',
        read.string('CONNECTEAM_BASE_URL', 'https://api.connecteam.com'),
        parseBaseUrl,
        '',
      ),
    },
    uploadUrlAllowedOrigins: read.parse(
      'UPLOAD_URL_ALLOWED_HOSTS',
      read.string('UPLOAD_URL_ALLOWED_HOSTS', 'https://*.amazonaws.com'),
      parseAllowedOrigins,
      [],
    ),
    clients,
    clientFeatureTypes,
    port: read.integer('PORT', 8080, 0, 65535),
    host,
    maxFileBytes: read.integer('MAX_FILE_BYTES', GIB, 0),
    maxFilesPerRequest: read.integer('MAX_FILES_PER_REQUEST', 20, 1, 1000),
    logLevel,
    logPretty: logFormat === 'pretty',
    spool: {
      directory: read.string('SPOOL_DIR', join(tmpdir(), 'connecteam-upload-proxy')),
      maxBytes: read.integer('SPOOL_MAX_BYTES', 4 * GIB, 0),
    },
    shutdownGraceMs: read.seconds('SHUTDOWN_GRACE_SECONDS', 25),
    quotaMaxWaitMs: read.seconds('QUOTA_MAX_WAIT_SECONDS', 15),
    clientIdleTimeoutMs: read.seconds('CLIENT_IDLE_TIMEOUT_SECONDS', 30, 0.05),
    upstream: {
      connectTimeoutMs: read.seconds('UPSTREAM_CONNECT_TIMEOUT_SECONDS', 10, 0.05),
      timeoutMs: read.seconds('UPSTREAM_TIMEOUT_SECONDS', 30, 0.05),
      storageResponseTimeoutMs: read.seconds('STORAGE_RESPONSE_TIMEOUT_SECONDS', 60, 0.05),
      generateRetryBudgetMs: read.seconds('GENERATE_RETRY_BUDGET_SECONDS', 20),
      completeRetryBudgetMs: read.seconds('COMPLETE_RETRY_BUDGET_SECONDS', 120),
    },
    limits: {
      maxConcurrentUploads: read.integer('MAX_CONCURRENT_UPLOADS', 128, 1),
      maxConcurrentUploadsPerClient: read.integer('MAX_CONCURRENT_UPLOADS_PER_CLIENT', 32, 1),
      maxConnections: read.integer('MAX_CONNECTIONS', 1024, 1),
    },
    server: {
      keepAliveTimeoutMs,
      // Node requires headersTimeout above keepAliveTimeout, or idle sockets race new requests.
      headersTimeoutMs: read.seconds('HEADERS_TIMEOUT_SECONDS', keepAliveTimeoutMs / 1000 + 5, 1),
    },
    redis: {
      url: read.parse('REDIS_URL', read.optional('REDIS_URL'), parseRedisUrl, undefined),
      keyPrefix: read.string('REDIS_KEY_PREFIX', 'connecteam-upload-proxy:'),
      failurePolicy: failurePolicy === 'local' ? 'local' : 'fail-closed',
    },
    idempotencyTtlMs: read.seconds('IDEMPOTENCY_TTL_SECONDS', 24 * 3600, 1),
  };

  if (config.server.headersTimeoutMs <= config.server.keepAliveTimeoutMs) {
    read.problems.push('HEADERS_TIMEOUT_SECONDS must be greater than KEEP_ALIVE_TIMEOUT_SECONDS');
  }
  if (read.problems.length > 0) throw new ConfigError(read.problems);
  return deepFreeze(config);
}

// Skips Buffers such as the client token digests, because Object.freeze throws on a typed
// array that has elements.
function isInstalled(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
}

function deepFreeze<T>(value: T): T {
  if (
    value !== null &&
    typeof value === 'object' &&
    !(value instanceof Map) &&
    !ArrayBuffer.isView(value)
  ) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
