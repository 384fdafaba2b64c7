import { randomBytes } from 'node:crypto';
import { Agent, request, type ClientRequest, type OutgoingHttpHeaders } from 'node:http';

/** One random MiB, written again and again: bodies are streamed, never built whole. */
const SOURCE = randomBytes(1024 * 1024);
const BOUNDARY = '----bench7MA4YWxkTrZu0gW';
const FILE_NAME = 'bench.bin';
const FILE_TYPE = 'application/octet-stream';

export const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** Way a file is sent, which also fixes the kind of server it goes to. */
export type UploadStyle =
  /** The client runs generate-upload-url, the PUT and complete-upload itself. */
  | 'direct'
  /** The raw body to a baseline relay, name and feature type in the query. */
  | 'relay'
  /** multipart/form-data to the buffering baseline. */
  | 'buffering'
  /** multipart/form-data to the proxy as `curl -F file=@x` sends it: no size field. */
  | 'proxy-multipart'
  /** multipart/form-data to the proxy with a size field before the file. */
  | 'proxy-multipart-sized'
  /** The raw body to the proxy with Content-Length. */
  | 'proxy-raw';

export interface Target {
  style: UploadStyle;
  /** Base URL of the server that receives the upload, or of the emulator for `direct`. */
  url: string;
  /** Authorization header for the proxy, or the X-API-KEY for `direct`. */
  credential?: string;
}

interface Reply {
  status: number;
  text: string;
}

/** Uploads `size` bytes and returns the wall time in ms; throws unless the upload landed. */
export async function upload(target: Target, size: number): Promise<number> {
  const started = performance.now();
  if (target.style === 'direct') await uploadDirect(target, size);
  else {
    const reply = await sendUpload(target, size);
    if (reply.status !== 201)
      throw new Error(`${target.style}: HTTP ${reply.status} ${reply.text}`);
  }
  return performance.now() - started;
}

function sendUpload(target: Target, size: number): Promise<Reply> {
  const auth = target.credential === undefined ? {} : { authorization: target.credential };
  switch (target.style) {
    case 'relay':
      return send('POST', `${target.url}/upload?fileName=${FILE_NAME}&featureType=chat`, {
        headers: { 'content-type': FILE_TYPE },
        size,
      });
    case 'proxy-raw':
      return send('POST', `${target.url}/v1/files?fileName=${FILE_NAME}&featureType=chat`, {
        headers: { ...auth, 'content-type': FILE_TYPE },
        size,
      });
    case 'buffering':
      return sendMultipart(`${target.url}/upload`, {}, size, false);
    case 'proxy-multipart':
      return sendMultipart(`${target.url}/v1/files`, auth, size, false);
    case 'proxy-multipart-sized':
      return sendMultipart(`${target.url}/v1/files`, auth, size, true);
    case 'direct':
      throw new Error('direct uploads take three calls');
  }
}

async function uploadDirect(target: Target, size: number): Promise<void> {
  const api = `${target.url}/attachments/v1/files`;
  const headers = { 'x-api-key': target.credential ?? '', 'content-type': 'application/json' };
  const body = JSON.stringify({
    fileName: FILE_NAME,
    featureType: 'chat',
    fileTypeHint: FILE_TYPE,
  });
  const generated = await send('POST', `${api}/generate-upload-url`, { headers, head: body });
  if (generated.status !== 200) throw new Error(`generate: HTTP ${generated.status}`);
  const { fileId, uploadFileUrl } = JSON.parse(generated.text).data;
  const put = await send('PUT', uploadFileUrl, { headers: { 'content-type': FILE_TYPE }, size });
  if (put.status !== 200) throw new Error(`storage: HTTP ${put.status} ${put.text}`);
  const completed = await send('PUT', `${api}/complete-upload/${fileId}`, { headers });
  if (completed.status !== 200) throw new Error(`complete: HTTP ${completed.status}`);
}

function sendMultipart(
  url: string,
  headers: OutgoingHttpHeaders,
  size: number,
  declareSize: boolean,
): Promise<Reply> {
  const field = (name: string, value: string) =>
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  let head = field('featureType', 'chat');
  if (declareSize) head += field('size', String(size));
  head +=
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${FILE_NAME}"\r\n` +
    `Content-Type: ${FILE_TYPE}\r\n\r\n`;
  const tail = `\r\n--${BOUNDARY}--\r\n`;
  return send('POST', url, {
    headers: { ...headers, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    head,
    size,
    tail,
  });
}

interface Body {
  headers: OutgoingHttpHeaders;
  head?: string;
  /** Bytes of file content streamed after `head`. */
  size?: number;
  tail?: string;
}

async function send(method: string, url: string, body: Body): Promise<Reply> {
  const head = Buffer.from(body.head ?? '');
  const tail = Buffer.from(body.tail ?? '');
  const size = body.size ?? 0;
  const length = head.length + size + tail.length;
  const outgoing = request(url, {
    method,
    agent,
    headers: { ...body.headers, 'content-length': length },
  });
  const reply = new Promise<Reply>((resolve, reject) => {
    outgoing.on('error', reject);
    outgoing.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
      response.on('error', reject);
    });
  });
  // A server may respond early, with an error before the whole body; the reply then wins.
  await Promise.race([writeBody(outgoing, head, size, tail), reply]);
  return reply;
}

async function writeBody(outgoing: ClientRequest, head: Buffer, size: number, tail: Buffer) {
  if (head.length > 0) outgoing.write(head);
  for (let sent = 0; sent < size && !outgoing.destroyed;) {
    const chunk = SOURCE.subarray(0, Math.min(SOURCE.length, size - sent));
    sent += chunk.length;
    if (!outgoing.write(chunk)) await drained(outgoing);
  }
  outgoing.end(tail);
}

/** Resolves on 'drain', or on 'close' when the server responded early or the socket failed. */
function drained(outgoing: ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      outgoing.off('drain', done);
      outgoing.off('close', done);
      resolve();
    };
    outgoing.on('drain', done);
    outgoing.on('close', done);
  });
}
