import { createHash } from 'node:crypto';
import { Agent as HttpAgent, createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Agent, request } from 'undici';

/**
 * The ceiling for the benchmark: a relay that does only Connecteam's three steps and pipes
 * the raw request body into the pre-signed PUT. No parsing, hashing, byte checks or disk.
 * `RELAY_CLIENT` picks node:http or undici for the outgoing calls. With `RELAY_HASH=1` it also
 * computes the body's SHA-256, as the proxy must, which gives the ceiling for a hashing relay.
 */
const apiUrl = process.env.CONNECTEAM_BASE_URL ?? '';
const apiKey = process.env.CONNECTEAM_API_KEY ?? '';
const useUndici = process.env.RELAY_CLIENT === 'undici';
const hashing = process.env.RELAY_HASH === '1';
const dispatcher = new Agent({ keepAliveTimeout: 30_000 });
const agent = new HttpAgent({ keepAlive: true });

type Send = (
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: IncomingMessage | string,
) => Promise<{ status: number; text: string }>;

const sendWithUndici: Send = async (method, url, headers, body) => {
  const response = await request(url, { method: method as 'PUT', headers, body, dispatcher });
  return { status: response.statusCode, text: await response.body.text() };
};

const sendWithHttp: Send = (method, url, headers, body) =>
  new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method, headers, agent }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    if (typeof body === 'object') pipeline(body, outgoing).catch(reject);
    else outgoing.end(body);
  });

const send = useUndici ? sendWithUndici : sendWithHttp;

async function callApi(method: string, path: string, body?: unknown): Promise<any> {
  const json = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> = { 'x-api-key': apiKey };
  if (json !== undefined) headers['content-type'] = 'application/json';
  const answer = await send(method, apiUrl + path, headers, json ?? '');
  if (answer.status !== 200) throw new Error(`${path} responded ${answer.status}: ${answer.text}`);
  return JSON.parse(answer.text).data;
}

async function relay(req: IncomingMessage): Promise<{ fileId: string; sha256?: string }> {
  const query = new URL(req.url ?? '/', 'http://relay').searchParams;
  const contentType = req.headers['content-type'] ?? 'application/octet-stream';
  const { fileId, uploadFileUrl } = await callApi(
    'POST',
    '/attachments/v1/files/generate-upload-url',
    {
      fileName: query.get('fileName'),
      featureType: query.get('featureType'),
      fileTypeHint: contentType,
    },
  );
  const headers = {
    'content-length': req.headers['content-length'] ?? '0',
    'content-type': contentType,
  };
  const hash = hashing ? createHash('sha256') : undefined;
  if (hash !== undefined) req.on('data', (chunk: Buffer) => hash.update(chunk));
  const put = await send('PUT', uploadFileUrl, headers, req);
  if (put.status !== 200) throw new Error(`storage responded ${put.status}: ${put.text}`);
  await callApi('PUT', `/attachments/v1/files/complete-upload/${fileId}`);
  return { fileId, sha256: hash?.digest('hex') };
}

createServer((req, res) => {
  relay(req).then(
    (file) => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(file)),
    (error: Error) => res.writeHead(502).end(error.message),
  );
}).listen(Number(process.env.PORT), '127.0.0.1');

process.once('SIGTERM', () => process.exit(0));
