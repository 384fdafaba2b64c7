import { isAllowedOrigin, parseAllowedOrigins } from '../../src/upload/allowed-origins';

function allowed(url: string, patterns: string): boolean {
  return isAllowedOrigin(new URL(url), parseAllowedOrigins(patterns));
}

describe('parseAllowedOrigins', () => {
  it.each([
    [
      'https://*.amazonaws.com',
      [{ protocol: 'https:', host: 'amazonaws.com', wildcard: true, port: '443' }],
    ],
    [
      'http://storage.example',
      [{ protocol: 'http:', host: 'storage.example', wildcard: false, port: '80' }],
    ],
    [
      'HTTP://Storage.Example:9000/',
      [{ protocol: 'http:', host: 'storage.example', wildcard: false, port: '9000' }],
    ],
    ['http://[::1]:9000', [{ protocol: 'http:', host: '[::1]', wildcard: false, port: '9000' }]],
    [
      ' https://a.example , ,http://127.0.0.1:1 ',
      [
        { protocol: 'https:', host: 'a.example', wildcard: false, port: '443' },
        { protocol: 'http:', host: '127.0.0.1', wildcard: false, port: '1' },
      ],
    ],
  ])('parses %j', (raw, expected) => {
    expect(parseAllowedOrigins(raw)).toEqual(expected);
  });

  it.each([
    ['a missing scheme', 'storage.example'],
    ['a wildcard without a scheme', '*.amazonaws.com'],
    ['another scheme', 'ftp://storage.example'],
    ['a bare wildcard', 'https://*'],
    ['a wildcard in the middle', 'https://s3.*.amazonaws.com'],
    ['two wildcards', 'https://*.*.amazonaws.com'],
    ['a wildcard without a dot', 'https://*amazonaws.com'],
    ['userinfo', 'https://user@storage.example'],
    ['a path', 'https://storage.example/bucket'],
    ['a query', 'https://storage.example?x=1'],
    ['a port of six digits', 'https://storage.example:100000'],
    ['an empty port', 'https://storage.example:'],
    ['an unbracketed IPv6 address', 'http://::1:9000'],
    ['an underscore in the host', 'https://my_bucket.example'],
  ])('rejects %s', (_case, raw) => {
    expect(() => parseAllowedOrigins(raw)).toThrow(
      `"${raw}" must look like https://host, https://*.domain or http://host:port`,
    );
  });

  it.each(['', ' ', ' , , '])('rejects the empty list %j', (raw) => {
    expect(() => parseAllowedOrigins(raw)).toThrow('at least one scheme://host pattern');
  });
});

describe('isAllowedOrigin', () => {
  describe('with a subdomain pattern', () => {
    const pattern = 'https://*.amazonaws.com';

    it.each([
      'https://s3.amazonaws.com/bucket/key?X-Amz-Signature=abc',
      'https://bucket.s3.eu-west-1.amazonaws.com/key',
      'https://BUCKET.S3.AMAZONAWS.COM/key',
      'https://s3.amazonaws.com:443/key',
    ])('allows %s', (url) => {
      expect(allowed(url, pattern)).toBe(true);
    });

    it.each([
      ['the bare domain', 'https://amazonaws.com/key'],
      ['a look-alike suffix', 'https://evilamazonaws.com/key'],
      ['a look-alike subdomain', 'https://s3.evilamazonaws.com/key'],
      ['the domain as a prefix', 'https://s3.amazonaws.com.evil.example/key'],
      ['a trailing-dot host', 'https://s3.amazonaws.com./key'],
      ['the domain in the path', 'https://evil.example/.amazonaws.com'],
      ['the domain in the query', 'https://evil.example/?h=.amazonaws.com'],
      ['the domain in the fragment', 'https://evil.example/#.amazonaws.com'],
      ['a backslash before the domain', 'https://evil.example\\.amazonaws.com'],
      ['userinfo that looks like the host', 'https://s3.amazonaws.com@evil.example/key'],
      ['userinfo before the right host', 'https://user@s3.amazonaws.com/key'],
      ['a password before the right host', 'https://:secret@s3.amazonaws.com/key'],
      ['plain http', 'http://s3.amazonaws.com/key'],
      ['another port', 'https://s3.amazonaws.com:8443/key'],
    ])('rejects %s', (_case, url) => {
      expect(allowed(url, pattern)).toBe(false);
    });
  });

  describe('with an exact host pattern', () => {
    it.each([
      [
        'the host on the default https port',
        'https://storage.example/key',
        'https://storage.example',
      ],
      ['an explicit default port', 'https://storage.example:443/k', 'https://storage.example'],
      [
        'a pattern with the default port',
        'https://storage.example/k',
        'https://storage.example:443',
      ],
      ['the default http port', 'http://storage.example/key', 'http://storage.example'],
      ['a pattern with port 80', 'http://storage.example:80/key', 'http://storage.example:80'],
      ['a given port', 'http://127.0.0.1:9000/key', 'http://127.0.0.1:9000'],
      ['an upper-case pattern', 'https://storage.example/key', 'HTTPS://STORAGE.EXAMPLE'],
      [
        'the second of two patterns',
        'http://127.0.0.1:9000/k',
        'https://a.example,http://127.0.0.1:9000',
      ],
      ['an IPv6 loopback', 'http://[::1]:9000/key', 'http://[::1]:9000'],
    ])('allows %s', (_case, url, patterns) => {
      expect(allowed(url, patterns)).toBe(true);
    });

    it.each([
      ['a subdomain', 'https://a.storage.example/key', 'https://storage.example'],
      ['a longer host', 'https://storage.example.org/key', 'https://storage.example'],
      ['another scheme', 'http://storage.example/key', 'https://storage.example'],
      ['https for an http pattern', 'https://storage.example/key', 'http://storage.example'],
      ['another port', 'http://127.0.0.1:9001/key', 'http://127.0.0.1:9000'],
      ['no port for a pattern with one', 'http://127.0.0.1/key', 'http://127.0.0.1:9000'],
      [
        'a port for a pattern without one',
        'https://storage.example:8443/',
        'https://storage.example',
      ],
      ['the http port for https', 'https://storage.example:80/key', 'https://storage.example'],
      ['another IPv6 address', 'http://[::2]:9000/key', 'http://[::1]:9000'],
      ['an IPv4 address for IPv6', 'http://127.0.0.1:9000/key', 'http://[::1]:9000'],
      ['userinfo', 'http://user:pass@127.0.0.1:9000/key', 'http://127.0.0.1:9000'],
    ])('rejects %s', (_case, url, patterns) => {
      expect(allowed(url, patterns)).toBe(false);
    });
  });
});
