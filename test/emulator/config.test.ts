import { DEV_API_KEY, EmulatorConfigError, readEmulatorConfig } from '../../src/emulator/config';

function problemsOf(env: NodeJS.ProcessEnv, readFile?: (path: string) => string): string[] {
  try {
    readEmulatorConfig(env, readFile);
  } catch (error) {
    if (error instanceof EmulatorConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('readEmulatorConfig', () => {
  it('applies defaults and the development key', () => {
    const config = readEmulatorConfig({});
    expect(config.options).toEqual({
      host: '127.0.0.1',
      port: 9090,
      apiKeys: [DEV_API_KEY],
      minuteLimit: 100,
      dayLimit: 10_000,
      uploadUrlTtlSeconds: 300,
      maxFileBytes: 2 ** 30,
      storageIdleTimeoutMs: 20_000,
      keepBodiesUpToBytes: 1024 * 1024,
    });
    expect(config.usesDevKey).toBe(true);
    expect(config.logLevel).toBe('info');
  });

  it('reads every variable', () => {
    const config = readEmulatorConfig({
      EMULATOR_HOST: '0.0.0.0',
      EMULATOR_PORT: '9191',
      EMULATOR_API_KEY: 'one, two',
      EMULATOR_MINUTE_LIMIT: '5',
      EMULATOR_DAY_LIMIT: '100',
      EMULATOR_PUBLIC_URL: 'http://emulator:9191/',
      EMULATOR_UPLOAD_URL_TTL_SECONDS: '60',
      EMULATOR_LOG_LEVEL: 'debug',
    });
    expect(config.options).toMatchObject({
      host: '0.0.0.0',
      port: 9191,
      apiKeys: ['one', 'two'],
      minuteLimit: 5,
      dayLimit: 100,
      publicUrl: 'http://emulator:9191',
      uploadUrlTtlSeconds: 60,
    });
    expect(config.usesDevKey).toBe(false);
    expect(config.logLevel).toBe('debug');
  });

  it('reads keys from EMULATOR_API_KEY_FILE', () => {
    const config = readEmulatorConfig({ EMULATOR_API_KEY_FILE: '/run/secrets/key' }, (path) => {
      expect(path).toBe('/run/secrets/key');
      return 'secret-key\n';
    });
    expect(config.options.apiKeys).toEqual(['secret-key']);
  });

  it('lists every invalid variable at once', () => {
    const problems = problemsOf({
      EMULATOR_PORT: '70000',
      EMULATOR_MINUTE_LIMIT: 'ten',
      EMULATOR_DAY_LIMIT: '-1',
      EMULATOR_UPLOAD_URL_TTL_SECONDS: '0',
      EMULATOR_PUBLIC_URL: 'emulator:9090',
      EMULATOR_LOG_LEVEL: 'loud',
    });
    expect(problems).toHaveLength(6);
    expect(problems[0]).toBe("EMULATOR_PORT must be an integer from 0 to 65535, got '70000'");
    expect(problems[4]).toMatch(/^EMULATOR_PUBLIC_URL: invalid/);
  });

  it('rejects both key variables together', () => {
    expect(problemsOf({ EMULATOR_API_KEY: 'a', EMULATOR_API_KEY_FILE: '/k' })).toEqual([
      'set EMULATOR_API_KEY or EMULATOR_API_KEY_FILE, not both',
    ]);
  });

  it('rejects an unreadable key file', () => {
    const problems = problemsOf({ EMULATOR_API_KEY_FILE: '/k' }, () => {
      throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
    });
    expect(problems).toEqual(["EMULATOR_API_KEY_FILE: cannot read '/k' (ENOENT)"]);
  });

  it('rejects an empty key file', () => {
    expect(problemsOf({ EMULATOR_API_KEY_FILE: '/k' }, () => '\n')).toEqual([
      "the file '/k' contains no key",
    ]);
  });
});
