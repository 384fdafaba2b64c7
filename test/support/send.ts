import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SendOptions {
  method?: string;
  headers?: Record<string, string | number>;
  /** The body; sent in `chunkSize` pieces with `delayMs` between them when given. */
  body?: Buffer;
  chunkSize?: number;
  delayMs?: number;
  /** Sends Transfer-Encoding: chunked instead of Content-Length. */
  chunked?: boolean;
  /** Stops sending after this many bytes and destroys the socket. */
  abortAfterBytes?: number;
  /** Stops sending after this many bytes and stays silent, leaving the socket open. */
  stallAfterBytes?: number;
}

export interface SendResult {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: any;
}

/**
 * Sends one request with full control over framing and pacing, which supertest does not give:
 * exact Content-Length, chunked bodies, tiny chunks, a cut-off or stalled body.
 */
export function send(url: string, options: SendOptions = {}): Promise<SendResult> {
  const body = options.body ?? Buffer.alloc(0);
  const headers: Record<string, string | number> = { ...options.headers };
  if (!options.chunked && headers['content-length'] === undefined)
    headers['content-length'] = body.length;
  return new Promise<SendResult>((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'POST', headers, agent: false });
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: response.statusCode ?? 0, headers: response.headers, text, json });
      });
    });
    req.on('error', reject);
    void writeBody(req, body, options).catch(reject);
  });
}

async function writeBody(
  req: import('node:http').ClientRequest,
  body: Buffer,
  options: SendOptions,
): Promise<void> {
  const chunkSize = options.chunkSize ?? 64 * 1024;
  const limit = options.abortAfterBytes ?? options.stallAfterBytes ?? Infinity;
  for (let offset = 0; offset < body.length; offset += chunkSize) {
    const piece = body.subarray(offset, Math.min(offset + chunkSize, body.length, limit));
    if (piece.length > 0 && !req.write(piece))
      await new Promise((resolve) => req.once('drain', resolve));
    if (offset + chunkSize >= limit) break;
    if (options.delayMs) await sleep(options.delayMs);
  }
  if (options.abortAfterBytes !== undefined) {
    await sleep(50);
    req.destroy();
    return;
  }
  if (options.stallAfterBytes !== undefined) {
    // Without a body write, node:http would hold the headers back too.
    req.flushHeaders();
    return;
  }
  req.end();
}
