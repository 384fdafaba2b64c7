import { readFileSync } from 'node:fs';
import { MAX_URL_TTL_SECONDS, parseOrigin, type EmulatorOptions } from './options';

/** Key accepted when neither EMULATOR_API_KEY nor EMULATOR_API_KEY_FILE is set. */
export const DEV_API_KEY = 'dev-connecteam-key';

/** Settings of the standalone emulator, read from the environment. */
export interface EmulatorConfig {
  options: EmulatorOptions;
  /** Whether no key was configured, so only {@link DEV_API_KEY} is accepted. */
  usesDevKey: boolean;
  /** pino level name. */
  logLevel: string;
}

/** Invalid environment variables, every problem listed. */
export class EmulatorConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid emulator configuration: ${problems.join('; ')}`);
    this.name = 'EmulatorConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Reads the EMULATOR_* variables, applies defaults and validates them all at once.
 *
 * @throws EmulatorConfigError listing every invalid variable.
 */
export function readEmulatorConfig(
  env: NodeJS.ProcessEnv,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): EmulatorConfig {
  const problems: string[] = [];
  const integer = (name: string, fallback: number, min: number, max?: number) =>
    readInteger(env, problems, { name, fallback, min, max });
  const options: EmulatorOptions = {
    host: env.EMULATOR_HOST || '127.0.0.1',
    port: integer('EMULATOR_PORT', 9090, 0, 65_535),
    apiKeys: readApiKeys(env, problems, readFile),
    minuteLimit: integer('EMULATOR_MINUTE_LIMIT', 100, 0),
    dayLimit: integer('EMULATOR_DAY_LIMIT', 10_000, 0),
    uploadUrlTtlSeconds: integer('EMULATOR_UPLOAD_URL_TTL_SECONDS', 300, 1, MAX_URL_TTL_SECONDS),
    maxFileBytes: integer('EMULATOR_MAX_FILE_BYTES', 2 ** 30, 0),
    storageIdleTimeoutMs: integer('EMULATOR_STORAGE_IDLE_TIMEOUT_MS', 20_000, 1),
    keepBodiesUpToBytes: integer('EMULATOR_KEEP_BODIES_UP_TO_BYTES', 1024 * 1024, 0),
  };
  if (env.EMULATOR_PUBLIC_URL) {
    try {
      options.publicUrl = parseOrigin(env.EMULATOR_PUBLIC_URL);
    } catch (error) {
      problems.push(`EMULATOR_PUBLIC_URL: ${(error as Error).message}`);
    }
  }
  const logLevel = env.EMULATOR_LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`EMULATOR_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got '${logLevel}'`);
  }
  if (problems.length > 0) throw new EmulatorConfigError(problems);
  return { options, usesDevKey: !env.EMULATOR_API_KEY && !env.EMULATOR_API_KEY_FILE, logLevel };
}

/** Reads comma-separated keys from EMULATOR_API_KEY or the file EMULATOR_API_KEY_FILE names. */
function readApiKeys(
  env: NodeJS.ProcessEnv,
  problems: string[],
  readFile: (path: string) => string,
): string[] {
  const { EMULATOR_API_KEY: inline, EMULATOR_API_KEY_FILE: file } = env;
  if (inline && file) {
    problems.push('set EMULATOR_API_KEY or EMULATOR_API_KEY_FILE, not both');
    return [];
  }
  if (!inline && !file) return [DEV_API_KEY];
  let text = inline ?? '';
  if (file) {
    try {
      text = readFile(file);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      problems.push(`EMULATOR_API_KEY_FILE: cannot read '${file}' (${reason})`);
      return [];
    }
  }
  const keys = text
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key.length > 0);
  if (keys.length === 0) {
    problems.push(`${file ? `the file '${file}'` : 'EMULATOR_API_KEY'} contains no key`);
  }
  return keys;
}

function readInteger(
  env: NodeJS.ProcessEnv,
  problems: string[],
  spec: { name: string; fallback: number; min: number; max?: number },
): number {
  const raw = env[spec.name];
  if (raw === undefined || raw === '') return spec.fallback;
  const value = Number(raw);
  const max = spec.max ?? Number.MAX_SAFE_INTEGER;
  if (!/^\d+$/.test(raw.trim()) || value < spec.min || value > max) {
    problems.push(`${spec.name} must be an integer from ${spec.min} to ${max}, got '${raw}'`);
    return spec.fallback;
  }
  return value;
}
