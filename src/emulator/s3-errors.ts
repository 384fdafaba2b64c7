import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';

/** An S3 error response: HTTP status, S3 error code, message and any extra elements. */
export interface S3Error {
  status: number;
  code: string;
  message: string;
  details?: Record<string, string>;
  /** Extra response headers, such as `Location` for a redirect. */
  headers?: Record<string, string>;
}

/** S3's codes and messages for the statuses that a storage fault may send. */
const FAULT_ERRORS: Record<number, { code: string; message: string }> = {
  400: { code: 'BadRequest', message: 'An error occurred when parsing the HTTP request.' },
  403: { code: 'AccessDenied', message: 'Access Denied' },
  404: { code: 'NoSuchBucket', message: 'The specified bucket does not exist' },
  500: { code: 'InternalError', message: 'We encountered an internal error. Please try again.' },
  501: {
    code: 'NotImplemented',
    message: 'A header you provided implies functionality that is not implemented',
  },
  503: { code: 'SlowDown', message: 'Please reduce your request rate.' },
};

/** Builds the S3 error for a fault with `status`. A given `code` replaces S3's code. */
export function faultError(status: number, code?: string): S3Error {
  const known = FAULT_ERRORS[status];
  const fallback = status >= 500 ? FAULT_ERRORS[500]! : FAULT_ERRORS[400]!;
  return { status, ...(known ?? fallback), ...(code === undefined ? {} : { code }) };
}

/** Returns a value for S3's `x-amz-request-id` header and `RequestId` element. */
export function newRequestId(): string {
  return randomBytes(8).toString('hex').toUpperCase();
}

/**
 * Sends an S3 error document. With `close`, the connection ends after the response, as S3
 * does when it responds before reading the whole body.
 */
export function sendS3Error(
  res: ServerResponse,
  error: S3Error,
  requestId: string,
  options: { close?: boolean } = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const extra = Object.entries(error.details ?? {})
    .map(([name, value]) => `<${name}>${escapeXml(value)}</${name}>`)
    .join('');
  const body = Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${error.code}</Code><Message>${escapeXml(error.message)}</Message>${extra}` +
      `<RequestId>${requestId}</RequestId><HostId>${hostId()}</HostId></Error>`,
  );
  const headers: Record<string, string | number> = {
    'content-type': 'application/xml',
    'content-length': body.length,
    'x-amz-request-id': requestId,
    server: 'AmazonS3',
    ...error.headers,
  };
  if (options.close) headers.connection = 'close';
  res.writeHead(error.status, headers);
  res.end(body);
}

function hostId(): string {
  return randomBytes(24).toString('base64');
}

function escapeXml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}
