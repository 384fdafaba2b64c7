/** Settings of one emulator instance. Only `apiKeys` is required. */
export interface EmulatorOptions {
  /** Listen address. Default `127.0.0.1`. */
  host?: string;
  /** Listen port, 0 for a free one. Default 0. */
  port?: number;
  /** Accepted `X-API-KEY` values. They all belong to one account and share its quota. */
  apiKeys: string[];
  /** API calls per wall-clock minute for the account. Default 100 (Connecteam's Expert plan). */
  minuteLimit?: number;
  /** API calls per UTC day for the account. Default 10,000. */
  dayLimit?: number;
  /** Lifetime of a pre-signed upload URL in seconds. Default 300, as Connecteam issues them. */
  uploadUrlTtlSeconds?: number;
  /**
   * Maximum object size that complete-upload accepts. It deletes larger objects. Default 2^30,
   * the larger reading of Connecteam's documented 1 GB, which may mean 10^9 or 2^30 bytes.
   */
  maxFileBytes?: number;
  /** Time in ms a storage PUT may go without receiving a byte before S3's RequestTimeout. */
  storageIdleTimeoutMs?: number;
  /**
   * Origin put into upload and file URLs, such as `http://emulator:9090` under docker-compose.
   * Default: the listening address, with `127.0.0.1` in place of an unspecified address.
   */
  publicUrl?: string;
  /** Maximum object size in bytes whose content stays in memory for tests. Default 1 MiB. */
  keepBodiesUpToBytes?: number;
  /**
   * Maximum total bytes of kept object content. Older contents are dropped first, so a long
   * benchmark of small files cannot fill the memory. Default 64 MiB.
   */
  keptBodiesMaxTotalBytes?: number;
  /** Clock in ms since the epoch, for URL expiry and quota windows. Default `Date.now`. */
  now?: () => number;
}

/** {@link EmulatorOptions} with every default applied. */
export type ResolvedOptions = Required<Omit<EmulatorOptions, 'publicUrl'>> & {
  publicUrl: string | undefined;
};

/** Amazon S3's limit for the expiry of a SigV4 pre-signed URL: seven days. */
export const MAX_URL_TTL_SECONDS = 604_800;

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  minuteLimit: 100,
  dayLimit: 10_000,
  uploadUrlTtlSeconds: 300,
  maxFileBytes: 2 ** 30,
  storageIdleTimeoutMs: 20_000,
  keepBodiesUpToBytes: 1024 * 1024,
  keptBodiesMaxTotalBytes: 64 * 1024 * 1024,
};

/**
 * Applies the defaults and validates the options.
 *
 * @throws RangeError naming the first invalid option and its value.
 */
export function resolveOptions(options: EmulatorOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    ...DEFAULTS,
    now: Date.now,
    ...withoutUndefined(options),
    apiKeys: [...options.apiKeys],
    publicUrl: options.publicUrl === undefined ? undefined : parseOrigin(options.publicUrl),
  };
  if (resolved.apiKeys.length === 0 || resolved.apiKeys.some((key) => key.length === 0)) {
    throw new RangeError('apiKeys must contain at least one non-empty key');
  }
  requireInteger('port', resolved.port, 0, 65_535);
  requireInteger('minuteLimit', resolved.minuteLimit, 0);
  requireInteger('dayLimit', resolved.dayLimit, 0);
  requireInteger('uploadUrlTtlSeconds', resolved.uploadUrlTtlSeconds, 1, MAX_URL_TTL_SECONDS);
  requireInteger('maxFileBytes', resolved.maxFileBytes, 0);
  requireInteger('storageIdleTimeoutMs', resolved.storageIdleTimeoutMs, 1);
  requireInteger('keepBodiesUpToBytes', resolved.keepBodiesUpToBytes, 0);
  requireInteger('keptBodiesMaxTotalBytes', resolved.keptBodiesMaxTotalBytes, 0);
  return resolved;
}

/**
 * Parses an http(s) origin such as `http://emulator:9090` and returns it without a trailing
 * slash. A path, query or fragment is rejected because signatures cover the exact path the
 * server receives, and a path prefix would be stripped by whatever proxy added it.
 *
 * @throws RangeError when the value is not a bare http or https origin.
 */
export function parseOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new RangeError(`invalid URL '${value}': expected an origin such as http://host:9090`);
  }
  const bare = url.pathname === '/' && url.search === '' && url.hash === '';
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !bare || url.username) {
    throw new RangeError(`invalid origin '${value}': expected http(s)://host[:port] only`);
  }
  return url.origin;
}

function requireInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as Partial<T>;
}
