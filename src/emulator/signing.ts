import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { MAX_URL_TTL_SECONDS } from './options';

/** Grant of a pre-signed URL: one method on one path, until it expires. */
export interface PresignInput {
  method: 'GET' | 'PUT';
  /** `scheme://host[:port]` the URL points at. Its host is a signed header. */
  origin: string;
  /** Path as it goes into the URL, each segment encoded with {@link encodeS3}. */
  path: string;
  /** When given, `content-type` becomes a signed header with exactly this value. */
  contentType?: string;
  nowMs: number;
  expiresSeconds: number;
}

/** The parts of an incoming request that a pre-signed URL's signature covers. */
export interface SignedRequest {
  method: string;
  /** Path exactly as received, before the `?`. */
  rawPath: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  nowMs: number;
}

/** Reason S3 rejects a pre-signed request: always HTTP 403, with S3's error code. */
export interface SignatureRejection {
  code: 'AccessDenied' | 'SignatureDoesNotMatch' | 'InvalidAccessKeyId';
  message: string;
  /** Extra elements S3 adds to the error document, such as `Expires` and `ServerTime`. */
  details?: Record<string, string>;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const REQUIRED_PARAMS = [
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
];
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/**
 * Issues and checks AWS Signature Version 4 query-string signatures, as S3 does for pre-signed
 * URLs, with an access key and secret generated for this instance only. The payload is
 * unsigned (`UNSIGNED-PAYLOAD`), as in the pre-signed PUT URLs that S3 SDKs generate.
 */
export class UrlSigner {
  readonly accessKeyId = `AKIAEMULATOR${randomBytes(4).toString('hex').toUpperCase()}`;
  private readonly secretKey = randomBytes(30).toString('base64');

  constructor(readonly region = 'us-east-1') {}

  /** Signs `input` and returns the full pre-signed URL. */
  presign(input: PresignInput): string {
    const amzDate = formatAmzDate(input.nowMs);
    const signedHeaders = input.contentType === undefined ? 'host' : 'content-type;host';
    const params = new Map([
      ['X-Amz-Algorithm', ALGORITHM],
      ['X-Amz-Credential', `${this.accessKeyId}/${this.scope(amzDate)}`],
      ['X-Amz-Date', amzDate],
      ['X-Amz-Expires', String(input.expiresSeconds)],
      ['X-Amz-SignedHeaders', signedHeaders],
    ]);
    const headers: IncomingHttpHeaders = { host: new URL(input.origin).host };
    if (input.contentType !== undefined) headers['content-type'] = input.contentType;
    const signature = this.sign(input.method, input.path, params, headers, amzDate);
    params.set('X-Amz-Signature', signature);
    return `${input.origin}${input.path}?${formatQuery([...params])}`;
  }

  /**
   * Checks the request against its query-string signature and expiry. Returns the reason S3
   * would reject it, or undefined when it is valid.
   */
  verify(request: SignedRequest): SignatureRejection | undefined {
    const { query } = request;
    if (REQUIRED_PARAMS.every((name) => !query.has(name))) {
      return { code: 'AccessDenied', message: 'Access Denied' };
    }

    // NOTE: S3 may respond 400 AuthorizationQueryParametersError to malformed parameters. The
    // emulator responds 403 to every signature problem, so clients handle them alike.
    if (REQUIRED_PARAMS.some((name) => query.getAll(name).length !== 1)) {
      return {
        code: 'AccessDenied',
        message: `Query-string authentication version 4 requires the ${REQUIRED_PARAMS.join(', ')} parameters, once each.`,
      };
    }

    const amzDate = query.get('X-Amz-Date') ?? '';
    const dateMs = parseAmzDate(amzDate);
    const expires = Number(query.get('X-Amz-Expires'));
    const credential = (query.get('X-Amz-Credential') ?? '').split('/');
    if (credential.length === 5 && credential[0] !== this.accessKeyId) {
      return {
        code: 'InvalidAccessKeyId',
        message: 'The AWS Access Key Id you provided does not exist in our records.',
      };
    }
    const wellFormed =
      query.get('X-Amz-Algorithm') === ALGORITHM &&
      dateMs !== undefined &&
      Number.isInteger(expires) &&
      expires >= 1 &&
      expires <= MAX_URL_TTL_SECONDS &&
      credential.slice(1).join('/') === this.scope(amzDate);
    if (!wellFormed) return signatureMismatch();

    const expiresMs = dateMs + expires * 1000;
    if (request.nowMs > expiresMs) return expired(expires, expiresMs, request.nowMs);
    return this.checkSignature(request, amzDate);
  }

  private checkSignature(request: SignedRequest, amzDate: string): SignatureRejection | undefined {
    const path = canonicalPath(request.rawPath);
    const signedHeaders = (request.query.get('X-Amz-SignedHeaders') ?? '').split(';');
    if (path === undefined || !signedHeaders.includes('host')) return signatureMismatch();
    const params = new Map<string, string>();
    for (const [name, value] of request.query) {
      if (name !== 'X-Amz-Signature') params.set(name, value);
    }
    const headers: IncomingHttpHeaders = {};
    for (const name of signedHeaders) headers[name] = request.headers[name];
    const expected = Buffer.from(this.sign(request.method, path, params, headers, amzDate));
    const provided = Buffer.from(request.query.get('X-Amz-Signature') ?? '');
    if (provided.length !== expected.length || !timingSafeEqual(provided, expected)) {
      return signatureMismatch();
    }
    return undefined;
  }

  private sign(
    method: string,
    path: string,
    params: Map<string, string>,
    headers: IncomingHttpHeaders,
    amzDate: string,
  ): string {
    const names = Object.keys(headers).sort();
    const canonicalHeaders = names.map((name) => `${name}:${headerValue(headers[name])}\n`);
    const canonicalQuery = formatQuery([...params].sort(([a], [b]) => (a < b ? -1 : 1)));
    const canonicalRequest = [
      method,
      path,
      canonicalQuery,
      canonicalHeaders.join(''),
      names.join(';'),
      'UNSIGNED-PAYLOAD',
    ].join('\n');
    const stringToSign = [ALGORITHM, amzDate, this.scope(amzDate), sha256Hex(canonicalRequest)];
    let key = hmac(`AWS4${this.secretKey}`, amzDate.slice(0, 8));
    for (const part of [this.region, 's3', 'aws4_request']) key = hmac(key, part);
    return hmac(key, stringToSign.join('\n')).toString('hex');
  }

  private scope(amzDate: string): string {
    return `${amzDate.slice(0, 8)}/${this.region}/s3/aws4_request`;
  }
}

/** Encodes a URI component as SigV4 requires: everything but `A-Za-z0-9-._~` as `%XX`. */
export function encodeS3(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * Re-encodes every segment of a received path the way SigV4 canonicalises it, so a client
 * that encodes a character differently (`%7E` for `~`) still matches the signature. Returns
 * undefined for malformed percent-encoding.
 */
export function canonicalPath(rawPath: string): string | undefined {
  try {
    return rawPath
      .split('/')
      .map((segment) => encodeS3(decodeURIComponent(segment)))
      .join('/');
  } catch {
    return undefined;
  }
}

/** Formats a time as SigV4's `YYYYMMDDTHHMMSSZ`. */
export function formatAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

function parseAmzDate(value: string): number | undefined {
  const parts = AMZ_DATE.exec(value);
  if (!parts) return undefined;
  const [year, month, day, hour, minute, second] = parts.slice(1).map(Number) as number[];
  return Date.UTC(year!, month! - 1, day!, hour, minute, second);
}

function formatQuery(params: Array<[string, string]>): string {
  return params.map(([name, value]) => `${encodeS3(name)}=${encodeS3(value)}`).join('&');
}

function headerValue(value: string | string[] | undefined): string {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return joined.trim().replace(/\s+/g, ' ');
}

function expired(expiresSeconds: number, expiresMs: number, nowMs: number): SignatureRejection {
  return {
    code: 'AccessDenied',
    message: 'Request has expired',
    details: {
      'X-Amz-Expires': String(expiresSeconds),
      Expires: new Date(expiresMs).toISOString(),
      ServerTime: new Date(nowMs).toISOString(),
    },
  };
}

function signatureMismatch(): SignatureRejection {
  return {
    code: 'SignatureDoesNotMatch',
    message:
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  };
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256Hex(data: string): string {
  return createHash('sha256').update(data).digest('hex');
}
