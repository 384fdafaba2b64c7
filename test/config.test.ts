import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseClientFeatureTypes } from '../src/config';

const TOKEN = 'payroll-token-0123456789';
const REQUIRED = {
  CONNECTEAM_API_KEY: 'test-api-key',
  PROXY_CLIENT_TOKENS: `payroll:${TOKEN}`,
};

let directory: string;

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'config-test-'));
});

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

function secretFile(name: string, content: string): string {
  const path = join(directory, name);
  writeFileSync(path, content);
  return path;
}

/** Returns the problems loadConfig reports for `env`, failing the test when it reports none. */
function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('loadConfig', () => {
  it('applies every default when only the required variables are set', () => {
    const config = loadConfig(REQUIRED);

    expect(config.connecteam).toEqual({
      apiKey: 'test-api-key',
      baseUrl: 'https://api.connecteam.com',
    });
    expect(config.uploadUrlAllowedOrigins).toEqual([
      { protocol: 'https:', host: 'amazonaws.com', wildcard: true, port: '443' },
    ]);
    expect(config.clients.map((client) => client.name)).toEqual(['payroll']);
    expect(config.clientFeatureTypes.size).toBe(0);
    expect(config.port).toBe(8080);
    expect(config.host).toBe('0.0.0.0');
    expect(config.maxFileBytes).toBe(1073741824);
    expect(config.maxFilesPerRequest).toBe(20);
    expect(config.logLevel).toBe('info');
    expect(config.logPretty).toBe(false);
    expect(config.spool).toEqual({
      directory: join(tmpdir(), 'connecteam-upload-proxy'),
      maxBytes: 4 * 1024 ** 3,
    });
    expect(config.shutdownGraceMs).toBe(25_000);
    expect(config.quotaMaxWaitMs).toBe(15_000);
    expect(config.clientIdleTimeoutMs).toBe(30_000);
    expect(config.upstream).toEqual({
      connectTimeoutMs: 10_000,
      timeoutMs: 30_000,
      storageResponseTimeoutMs: 60_000,
      generateRetryBudgetMs: 20_000,
      completeRetryBudgetMs: 120_000,
    });
    expect(config.limits).toEqual({
      maxConcurrentUploads: 128,
      maxConcurrentUploadsPerClient: 32,
      maxConnections: 1024,
    });
    expect(config.server).toEqual({ keepAliveTimeoutMs: 75_000, headersTimeoutMs: 80_000 });
    expect(config.redis).toEqual({
      url: undefined,
      keyPrefix: 'connecteam-upload-proxy:',
      failurePolicy: 'fail-closed',
    });
    expect(config.idempotencyTtlMs).toBe(24 * 3600 * 1000);
  });

  it('reads every variable when set', () => {
    const config = loadConfig({
      ...REQUIRED,
      PROXY_CLIENT_TOKENS: `payroll:${TOKEN},helpdesk:helpdesk-token-0123456789`,
      CONNECTEAM_BASE_URL: 'https://api-au.connecteam.com/',
      UPLOAD_URL_ALLOWED_HOSTS: 'https://*.amazonaws.com, http://127.0.0.1:9000',
      PROXY_CLIENT_FEATURE_TYPES: 'helpdesk:chat|quicktasks',
      PORT: '3000',
      HOST: '127.0.0.1',
      MAX_FILE_BYTES: '1000',
      MAX_FILES_PER_REQUEST: '5',
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'pretty',
      SPOOL_DIR: '/var/spool/proxy',
      SPOOL_MAX_BYTES: '0',
      SHUTDOWN_GRACE_SECONDS: '2.5',
      QUOTA_MAX_WAIT_SECONDS: '0',
      CLIENT_IDLE_TIMEOUT_SECONDS: '0.05',
      UPSTREAM_CONNECT_TIMEOUT_SECONDS: '1',
      UPSTREAM_TIMEOUT_SECONDS: '2',
      STORAGE_RESPONSE_TIMEOUT_SECONDS: '3',
      GENERATE_RETRY_BUDGET_SECONDS: '4',
      COMPLETE_RETRY_BUDGET_SECONDS: '5',
      MAX_CONCURRENT_UPLOADS: '6',
      MAX_CONCURRENT_UPLOADS_PER_CLIENT: '7',
      MAX_CONNECTIONS: '8',
      KEEP_ALIVE_TIMEOUT_SECONDS: '10',
      HEADERS_TIMEOUT_SECONDS: '12',
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: 'proxy-test:',
      QUOTA_STORE_FAILURE_POLICY: 'local',
      IDEMPOTENCY_TTL_SECONDS: '60',
    });

    expect(config.connecteam.baseUrl).toBe('https://api-au.connecteam.com');
    expect(config.uploadUrlAllowedOrigins).toEqual([
      { protocol: 'https:', host: 'amazonaws.com', wildcard: true, port: '443' },
      { protocol: 'http:', host: '127.0.0.1', wildcard: false, port: '9000' },
    ]);
    expect(config.clients.map((client) => client.name)).toEqual(['payroll', 'helpdesk']);
    expect([...config.clientFeatureTypes]).toEqual([['helpdesk', ['chat', 'quicktasks']]]);
    expect(config.port).toBe(3000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.maxFileBytes).toBe(1000);
    expect(config.maxFilesPerRequest).toBe(5);
    expect(config.logLevel).toBe('debug');
    expect(config.logPretty).toBe(true);
    expect(config.spool).toEqual({ directory: '/var/spool/proxy', maxBytes: 0 });
    expect(config.shutdownGraceMs).toBe(2500);
    expect(config.quotaMaxWaitMs).toBe(0);
    expect(config.clientIdleTimeoutMs).toBe(50);
    expect(config.upstream).toEqual({
      connectTimeoutMs: 1000,
      timeoutMs: 2000,
      storageResponseTimeoutMs: 3000,
      generateRetryBudgetMs: 4000,
      completeRetryBudgetMs: 5000,
    });
    expect(config.limits).toEqual({
      maxConcurrentUploads: 6,
      maxConcurrentUploadsPerClient: 7,
      maxConnections: 8,
    });
    expect(config.server).toEqual({ keepAliveTimeoutMs: 10_000, headersTimeoutMs: 12_000 });
    expect(config.redis).toEqual({
      url: 'redis://127.0.0.1:6379',
      keyPrefix: 'proxy-test:',
      failurePolicy: 'local',
    });
    expect(config.idempotencyTtlMs).toBe(60_000);
  });

  it('treats blank and padded values as unset or trimmed', () => {
    const config = loadConfig({ ...REQUIRED, PORT: '  ', HOST: ' ::1 ', MAX_FILE_BYTES: ' 42 ' });

    expect(config.port).toBe(8080);
    expect(config.host).toBe('::1');
    expect(config.maxFileBytes).toBe(42);
  });

  it('returns a frozen configuration', () => {
    const config = loadConfig(REQUIRED);

    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.connecteam)).toBe(true);
    expect(Object.isFrozen(config.uploadUrlAllowedOrigins)).toBe(true);
    expect(Object.isFrozen(config.clients)).toBe(true);
    expect(Object.isFrozen(config.clients[0])).toBe(true);
    expect(Object.isFrozen(config.server)).toBe(true);
  });

  it('keeps client token digests usable after freezing', () => {
    const config = loadConfig(REQUIRED);

    expect(config.clients[0]!.tokenSha256).toHaveLength(32);
  });

  it('reports every problem at once in one ConfigError', () => {
    const problems = problemsOf({
      PORT: '99999',
      MAX_FILE_BYTES: '-1',
      LOG_LEVEL: 'verbose',
      SHUTDOWN_GRACE_SECONDS: 'soon',
      CONNECTEAM_BASE_URL: 'ftp://api.connecteam.com',
    });

    expect(problems).toEqual([
      'CONNECTEAM_API_KEY (or CONNECTEAM_API_KEY_FILE) is required',
      'PROXY_CLIENT_TOKENS (or PROXY_CLIENT_TOKENS_FILE) is required',
      'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"',
      'CONNECTEAM_BASE_URL: must be an http(s) URL, got "ftp://api.connecteam.com"',
      'PORT must be a whole number from 0 to 65535, got "99999"',
      `MAX_FILE_BYTES must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got "-1"`,
      'SHUTDOWN_GRACE_SECONDS must be a number of seconds from 0 to 86400, got "soon"',
    ]);
  });

  it('lists the problems in the error message, one per line', () => {
    expect(() => loadConfig({})).toThrow(
      'invalid configuration:\n' +
        '  - CONNECTEAM_API_KEY (or CONNECTEAM_API_KEY_FILE) is required\n' +
        '  - PROXY_CLIENT_TOKENS (or PROXY_CLIENT_TOKENS_FILE) is required',
    );
  });

  it.each([
    ['PORT', '65536', 'a whole number from 0 to 65535'],
    ['PORT', '80.5', 'a whole number from 0 to 65535'],
    ['PORT', '0x50', 'a whole number from 0 to 65535'],
    ['MAX_FILES_PER_REQUEST', '0', 'a whole number from 1 to 1000'],
    ['MAX_FILES_PER_REQUEST', '1001', 'a whole number from 1 to 1000'],
    ['MAX_FILE_BYTES', '1e9', 'a whole number from 0 to'],
    ['MAX_FILE_BYTES', '9007199254740992', 'a whole number from 0 to'],
    ['MAX_CONCURRENT_UPLOADS', '0', 'a whole number from 1 to'],
    ['MAX_CONCURRENT_UPLOADS_PER_CLIENT', '0', 'a whole number from 1 to'],
    ['MAX_CONNECTIONS', '0', 'a whole number from 1 to'],
    ['SPOOL_MAX_BYTES', '4GiB', 'a whole number from 0 to'],
    ['QUOTA_MAX_WAIT_SECONDS', '-1', 'a number of seconds from 0 to 86400'],
    ['QUOTA_MAX_WAIT_SECONDS', '1.', 'a number of seconds from 0 to 86400'],
    ['CLIENT_IDLE_TIMEOUT_SECONDS', '0.01', 'a number of seconds from 0.05 to 86400'],
    ['UPSTREAM_CONNECT_TIMEOUT_SECONDS', '0', 'a number of seconds from 0.05 to 86400'],
    ['UPSTREAM_TIMEOUT_SECONDS', '0', 'a number of seconds from 0.05 to 86400'],
    ['STORAGE_RESPONSE_TIMEOUT_SECONDS', '0', 'a number of seconds from 0.05 to 86400'],
    ['GENERATE_RETRY_BUDGET_SECONDS', '1s', 'a number of seconds from 0 to 86400'],
    ['COMPLETE_RETRY_BUDGET_SECONDS', '1m', 'a number of seconds from 0 to 86400'],
    ['SHUTDOWN_GRACE_SECONDS', '3000000', 'a number of seconds from 0 to 86400'],
    ['LOG_FORMAT', 'yaml', 'json or pretty'],
    ['HOST', 'not-a-host', 'an IP address such as 0.0.0.0 or ::'],
    ['KEEP_ALIVE_TIMEOUT_SECONDS', '0.5', 'a number of seconds from 1 to 86400'],
    ['IDEMPOTENCY_TTL_SECONDS', '0', 'a number of seconds from 1 to 86400'],
  ])('rejects %s=%s', (name, value, expected) => {
    const problems = problemsOf({ ...REQUIRED, [name]: value });

    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`${name} must be ${expected}`);
    expect(problems[0]).toContain(`got "${value}"`);
  });

  it.each([
    ['CONNECTEAM_BASE_URL', 'not a url', 'CONNECTEAM_BASE_URL: '],
    ['UPLOAD_URL_ALLOWED_HOSTS', 'https://user@s3.amazonaws.com', 'UPLOAD_URL_ALLOWED_HOSTS: '],
    ['UPLOAD_URL_ALLOWED_HOSTS', ' , ', 'UPLOAD_URL_ALLOWED_HOSTS: at least one'],
    ['QUOTA_STORE_FAILURE_POLICY', 'open', 'QUOTA_STORE_FAILURE_POLICY must be fail-closed or'],
    ['LOG_LEVEL', 'INFO', 'LOG_LEVEL must be one of'],
    ['REDIS_URL', 'localhost:6379', 'REDIS_URL: must be a redis:// or rediss:// URL'],
    ['REDIS_URL', 'http://:secret@redis:6379', 'REDIS_URL: must be a redis:// or rediss:// URL'],
  ])('rejects %s=%j', (name, value, expected) => {
    const problems = problemsOf({ ...REQUIRED, [name]: value });

    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(expected);
    expect(problems[0]).not.toContain('secret');
  });
});

describe('loadConfig secrets', () => {
  it.each(['CONNECTEAM_API_KEY', 'PROXY_CLIENT_TOKENS'])(
    'reads %s from the file its _FILE variable names',
    (name) => {
      const value = name === 'CONNECTEAM_API_KEY' ? 'key-from-file' : `payroll:${TOKEN}`;
      const path = secretFile(`${name}-ok`, `${value}\n`);

      const config = loadConfig({ ...REQUIRED, [name]: undefined, [`${name}_FILE`]: path });

      expect(config.connecteam.apiKey).toBe(
        name === 'CONNECTEAM_API_KEY' ? 'key-from-file' : 'test-api-key',
      );
      expect(config.clients.map((client) => client.name)).toEqual(['payroll']);
    },
  );

  it('reads newline-separated client tokens from a file', () => {
    const path = secretFile(
      'tokens-lines',
      `payroll:${TOKEN}\nhelpdesk:helpdesk-token-0123456789\n`,
    );

    const config = loadConfig({
      ...REQUIRED,
      PROXY_CLIENT_TOKENS: '',
      PROXY_CLIENT_TOKENS_FILE: path,
    });

    expect(config.clients.map((client) => client.name)).toEqual(['payroll', 'helpdesk']);
  });

  it.each(['CONNECTEAM_API_KEY', 'PROXY_CLIENT_TOKENS'])(
    'reports %s and its _FILE both set',
    (name) => {
      const path = secretFile(`${name}-both`, 'unused');

      const problems = problemsOf({ ...REQUIRED, [`${name}_FILE`]: path });

      expect(problems).toEqual([`${name} and ${name}_FILE are both set; set only one of them`]);
    },
  );

  it('reports an unreadable secret file with its path', () => {
    const path = join(directory, 'missing-key');

    const problems = problemsOf({
      ...REQUIRED,
      CONNECTEAM_API_KEY: undefined,
      CONNECTEAM_API_KEY_FILE: path,
    });

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      new RegExp(`^CONNECTEAM_API_KEY_FILE: cannot read ${path} \\(ENOENT`),
    );
  });

  it('reports an empty secret file', () => {
    const path = secretFile('empty-key', ' \n');

    const problems = problemsOf({
      ...REQUIRED,
      CONNECTEAM_API_KEY: undefined,
      CONNECTEAM_API_KEY_FILE: path,
    });

    expect(problems).toEqual([`CONNECTEAM_API_KEY_FILE: the file ${path} is empty`]);
  });

  it('reports an empty client tokens file', () => {
    const path = secretFile('empty-tokens', '');

    const problems = problemsOf({
      ...REQUIRED,
      PROXY_CLIENT_TOKENS: undefined,
      PROXY_CLIENT_TOKENS_FILE: path,
    });

    expect(problems).toContain(`PROXY_CLIENT_TOKENS_FILE: the file ${path} is empty`);
  });

  it('never puts a secret value into a problem', () => {
    const problems = problemsOf({
      CONNECTEAM_API_KEY: 'secret-api-key-value',
      PROXY_CLIENT_TOKENS: 'payroll:tiny-secret',
      PORT: 'x',
    });

    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).not.toContain('secret-api-key-value');
    expect(problems.join('\n')).not.toContain('tiny-secret');
  });
});

describe('loadConfig timeouts', () => {
  it('derives the headers timeout from the keep-alive timeout', () => {
    const config = loadConfig({ ...REQUIRED, KEEP_ALIVE_TIMEOUT_SECONDS: '30' });

    expect(config.server).toEqual({ keepAliveTimeoutMs: 30_000, headersTimeoutMs: 35_000 });
  });

  it.each([
    ['10', '10'],
    ['10', '9.999'],
    ['75', '60'],
  ])(
    'rejects a keep-alive timeout of %s s with a headers timeout of %s s',
    (keepAlive, headers) => {
      const problems = problemsOf({
        ...REQUIRED,
        KEEP_ALIVE_TIMEOUT_SECONDS: keepAlive,
        HEADERS_TIMEOUT_SECONDS: headers,
      });

      expect(problems).toEqual([
        'HEADERS_TIMEOUT_SECONDS must be greater than KEEP_ALIVE_TIMEOUT_SECONDS',
      ]);
    },
  );

  it('accepts a headers timeout just above the keep-alive timeout', () => {
    const config = loadConfig({
      ...REQUIRED,
      KEEP_ALIVE_TIMEOUT_SECONDS: '10',
      HEADERS_TIMEOUT_SECONDS: '10.001',
    });

    expect(config.server).toEqual({ keepAliveTimeoutMs: 10_000, headersTimeoutMs: 10_001 });
  });
});

describe('loadConfig client feature types', () => {
  it('rejects a client that PROXY_CLIENT_TOKENS lacks', () => {
    const problems = problemsOf({ ...REQUIRED, PROXY_CLIENT_FEATURE_TYPES: 'helpdesk:chat' });

    expect(problems).toEqual([
      'PROXY_CLIENT_FEATURE_TYPES names "helpdesk", which PROXY_CLIENT_TOKENS lacks',
    ]);
  });

  it('reports only the token problem when the tokens are invalid too', () => {
    const problems = problemsOf({
      ...REQUIRED,
      PROXY_CLIENT_TOKENS: 'payroll:short',
      PROXY_CLIENT_FEATURE_TYPES: 'helpdesk:chat',
    });

    expect(problems).toEqual([
      'PROXY_CLIENT_TOKENS: client "payroll": the token must be at least 16 characters long',
    ]);
  });

  it('reports a malformed entry', () => {
    const problems = problemsOf({ ...REQUIRED, PROXY_CLIENT_FEATURE_TYPES: 'payroll:files' });

    expect(problems).toEqual([
      'PROXY_CLIENT_FEATURE_TYPES: entry "payroll:files" names a feature type other than ' +
        'chat, shiftscheduler, users, quicktasks',
    ]);
  });
});

describe('parseClientFeatureTypes', () => {
  it.each([
    ['payroll:users', [['payroll', ['users']]]],
    [
      'payroll:users, helpdesk:chat|quicktasks',
      [
        ['payroll', ['users']],
        ['helpdesk', ['chat', 'quicktasks']],
      ],
    ],
    [' helpdesk : chat | shiftscheduler ,', [['helpdesk', ['chat', 'shiftscheduler']]]],
    ['', []],
  ])('parses %j', (raw, expected) => {
    expect([...parseClientFeatureTypes(raw)]).toEqual(expected);
  });

  it.each([
    ['payroll', 'must look like client:chat|users'],
    [':chat', 'must look like client:chat|users'],
    [' :chat', 'must look like client:chat|users'],
    ['payroll:', 'names a feature type other than'],
    ['payroll:chat|', 'names a feature type other than'],
    ['payroll:Chat', 'names a feature type other than'],
    ['payroll:chat,users', 'must look like client:chat|users'],
  ])('rejects %j', (raw, message) => {
    expect(() => parseClientFeatureTypes(raw)).toThrow(message);
  });
});
