/** One entry of `UPLOAD_URL_ALLOWED_HOSTS`: `scheme://host[:port]`, host may start with `*.`. */
export interface OriginPattern {
  protocol: 'http:' | 'https:';
  /** Lower-case host; with `wildcard` set, the suffix that subdomains must end in. */
  host: string;
  wildcard: boolean;
  /** The port as a string, the scheme's default port when the pattern gave none. */
  port: string;
}

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** Parses the comma-separated patterns, throwing on the first malformed one. */
export function parseAllowedOrigins(raw: string): OriginPattern[] {
  const patterns = raw
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map(parsePattern);
  if (patterns.length === 0) throw new Error('at least one scheme://host pattern is required');
  return patterns;
}

function parsePattern(pattern: string): OriginPattern {
  const match = /^(https?):\/\/(\*\.)?([a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?\/?$/i.exec(
    pattern,
  );
  if (!match) {
    throw new Error(
      `"${pattern}" must look like https://host, https://*.domain or http://host:port`,
    );
  }
  const protocol = `${match[1]!.toLowerCase()}:` as OriginPattern['protocol'];
  return {
    protocol,
    wildcard: match[2] !== undefined,
    host: match[3]!.toLowerCase(),
    port: match[4] ?? DEFAULT_PORTS[protocol]!,
  };
}

/** Tells whether a URL's scheme, host and port match one of the patterns. */
export function isAllowedOrigin(url: URL, patterns: readonly OriginPattern[]): boolean {
  if (url.username !== '' || url.password !== '') return false;
  const host = url.hostname.toLowerCase();
  const port = url.port === '' ? DEFAULT_PORTS[url.protocol] : url.port;
  return patterns.some(
    (pattern) =>
      pattern.protocol === url.protocol &&
      pattern.port === port &&
      (pattern.wildcard ? host.endsWith(`.${pattern.host}`) : host === pattern.host),
  );
}
