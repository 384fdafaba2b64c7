import { createHash } from 'node:crypto';
import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http';
import { connect } from 'node:net';
import { request } from 'undici';
import { startEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/emulator';

export const API_KEY = 'emulator-test-key-7c1d';

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  json: any;
}

export interface StorageResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** S3 error code from the XML body, if any. */
  code?: string;
}

/** Starts an emulator that accepts {@link API_KEY}. */
export function startTestEmulator(options: Partial<EmulatorOptions> = {}): Promise<Emulator> {
  return startEmulator({ apiKeys: [API_KEY], ...options });
}

/** Sends one API call; `body` objects go as JSON, strings as they are. */
export async function callApi(
  emulator: Emulator,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  options: { body?: unknown; key?: string | null; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== null) headers['x-api-key'] = options.key ?? API_KEY;
  let body: string | undefined;
  if (typeof options.body === 'string') body = options.body;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const reply = await request(`${emulator.apiUrl}${path}`, { method, headers, body });
  const text = await reply.body.text();
  return { status: reply.statusCode, headers: reply.headers, json: text && JSON.parse(text) };
}

/** Calls generate-upload-url and returns its data, failing the test on any other response. */
export async function generate(
  emulator: Emulator,
  body: Record<string, unknown> = { fileName: 'report.pdf', featureType: 'chat' },
): Promise<{ fileId: string; uploadFileUrl: string }> {
  const response = await callApi(emulator, 'POST', '/attachments/v1/files/generate-upload-url', {
    body,
  });
  expect(response.status).toBe(200);
  return response.json.data;
}

/**
 * PUTs a body with an exact Content-Length, as S3 needs. `contentLength: null` leaves the
 * header out. Network errors resolve with status 0 and the error code as `code`.
 */
export function putStorage(
  url: string,
  body: Buffer,
  options: {
    contentType?: string | null;
    contentLength?: number | null;
    headers?: OutgoingHttpHeaders;
  } = {},
): Promise<StorageResponse> {
  const headers: OutgoingHttpHeaders = { ...options.headers };
  if (options.contentType !== null)
    headers['content-type'] = options.contentType ?? 'application/pdf';
  if (options.contentLength !== null)
    headers['content-length'] = options.contentLength ?? body.length;
  return new Promise((resolve) => {
    const req = httpRequest(url, { method: 'PUT', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, code: s3Code(text) });
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      resolve({ status: 0, headers: {}, text: '', code: error.code });
    });
    req.end(body);
  });
}

/**
 * Writes `head` and `body` to a raw TCP connection, then half-closes or destroys it, and
 * returns whatever came back before the server closed.
 */
export function rawExchange(
  origin: string,
  head: string,
  body: Buffer,
  ending: 'half-close' | 'keep-open' = 'half-close',
): Promise<string> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(head);
      socket.write(body);
      if (ending === 'half-close') socket.end();
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Request line and headers of a PUT to `url`, ending with the blank line. */
export function putHead(url: string, headers: Record<string, string | number>): string {
  const { host, pathname, search } = new URL(url);
  const lines = [`PUT ${pathname}${search} HTTP/1.1`, `Host: ${host}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export function s3Code(text: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
