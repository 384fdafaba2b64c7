import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { BUCKET } from './api-routes';
import type { EmulatorContext } from './context';
import type { FileRecord } from './file-store';
import { newRequestId, sendS3Error, type S3Error } from './s3-errors';
import { canonicalPath } from './signing';
import type { CountedOperation } from './stats';
import { StorageUpload } from './storage-upload';

/** Path prefix of every storage URL. */
export const STORAGE_PREFIX = '/storage/';

/** S3's maximum size of an object uploaded with one PUT: 5 GiB. */
const MAX_PUT_BYTES = 5 * 1024 ** 3;

/**
 * How long a rejected request's body may keep arriving before the socket is destroyed. Reading
 * it lets the client see the error instead of a connection reset.
 */
const DRAIN_MS = 2000;

/** Serves pre-signed PUTs and GETs under {@link STORAGE_PREFIX}, as S3 does. */
export class StorageRoutes {
  /** Uploads in progress by socket, for the half-close that Node.js reports per socket. */
  private readonly uploads = new WeakMap<Socket, StorageUpload>();

  constructor(private readonly context: EmulatorContext) {}

  /** Serves one request. `expectsContinue` is set for `Expect: 100-continue`. */
  handle(req: IncomingMessage, res: ServerResponse, expectsContinue = false): void {
    const requestId = newRequestId();
    try {
      this.route(req, res, requestId, expectsContinue);
    } catch {
      // A bug here must not stop the whole emulator, so the client gets S3's generic error.
      const message = 'We encountered an internal error. Please try again.';
      sendS3Error(res, { status: 500, code: 'InternalError', message }, requestId, { close: true });
    }
  }

  private route(
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    expectsContinue: boolean,
  ): void {
    const reject = (error: S3Error) => this.reject(req, res, error, requestId, expectsContinue);
    const method = req.method ?? '';
    if (method !== 'PUT' && method !== 'GET' && method !== 'HEAD') {
      const message = 'The specified method is not allowed against this resource.';
      reject({ status: 405, code: 'MethodNotAllowed', message });
      return;
    }
    const located = this.authorize(req);
    if ('error' in located) {
      reject(located.error);
    } else if (method === 'PUT') {
      this.acceptPut(req, res, located.record, requestId, expectsContinue, reject);
    } else {
      this.sendObject(req, res, located.record, requestId);
    }
  }

  /**
   * Responds 400 IncompleteBody when a client half-closes its connection in the middle of a
   * PUT body. Returns false when no upload was in progress on the socket.
   */
  handleEndOfInput(socket: Socket): boolean {
    const upload = this.uploads.get(socket);
    if (!upload) return false;
    upload.endOfInput();
    return true;
  }

  /** Checks headers and signature in S3's order and returns the file the URL was issued for. */
  private authorize(req: IncomingMessage): { record: FileRecord } | { error: S3Error } {
    if (req.method === 'PUT') {
      const error = checkPutHeaders(req);
      if (error) return { error };
    }
    const [rawPath = '', search = ''] = (req.url ?? '').split('?', 2);
    const rejection = this.context.signer.verify({
      method: req.method ?? '',
      rawPath,
      query: new URLSearchParams(search),
      headers: req.headers,
      nowMs: this.context.options.now(),
    });
    if (rejection) return { error: { status: 403, ...rejection } };
    const fileId = rawPath.slice(STORAGE_PREFIX.length + BUCKET.length + 1).split('/')[0] ?? '';
    const record = this.context.files.get(fileId);
    if (!record || record.storagePath !== canonicalPath(rawPath)) {
      // Only this emulator signs URLs, so a valid signature names a known file.
      return { error: { status: 403, code: 'AccessDenied', message: 'Access Denied' } };
    }
    return { record };
  }

  private acceptPut(
    req: IncomingMessage,
    res: ServerResponse,
    record: FileRecord,
    requestId: string,
    expectsContinue: boolean,
    reject: (error: S3Error) => void,
  ): void {
    const fault = this.context.faults.take('storage');
    if (fault?.kind === 'redirect') {
      reject({
        status: 307,
        code: 'TemporaryRedirect',
        message: 'Please re-send this request to the specified temporary endpoint.',
        details: { Endpoint: new URL(fault.location).host },
        headers: { location: fault.location },
      });
      return;
    }
    const key = `${record.fileId}/${record.fileName}`;
    const strikingFault = fault?.kind === 'delay' ? undefined : fault;
    const declaredBytes = Number(req.headers['content-length']);
    const start = () => {
      const upload = new StorageUpload(
        this.context,
        { req, res, record, key, declaredBytes, requestId, fault: strikingFault },
        () => this.uploads.delete(req.socket),
      );
      this.uploads.set(req.socket, upload);
      if (expectsContinue) res.writeContinue();
      upload.start();
    };
    if (fault?.kind === 'delay') {
      this.context.schedule(start, fault.ms);
      return;
    }
    start();
  }

  private sendObject(
    req: IncomingMessage,
    res: ServerResponse,
    record: FileRecord,
    requestId: string,
  ): void {
    const object = record.object;
    if (!object) {
      const message = 'The specified key does not exist.';
      sendS3Error(res, { status: 404, code: 'NoSuchKey', message }, requestId);
      this.context.stats.recordResponse('download', 404);
      return;
    }
    const headers = {
      'content-type': object.contentType,
      'content-length': object.size,
      etag: object.etag,
      'x-amz-request-id': requestId,
      server: 'AmazonS3',
    };
    if (req.method === 'GET' && object.body === undefined) {
      const message = `The emulator keeps the content of objects up to ${this.context.options.keepBodiesUpToBytes} bytes only.`;
      sendS3Error(res, { status: 501, code: 'NotImplemented', message }, requestId);
      this.context.stats.recordResponse('download', 501);
      return;
    }
    res.writeHead(200, headers);
    res.end(req.method === 'GET' ? object.body : undefined);
    this.context.stats.recordResponse('download', 200);
  }

  /**
   * Sends an error before reading the body, then discards the body for up to
   * {@link DRAIN_MS} so the client reads the response rather than a connection reset.
   */
  private reject(
    req: IncomingMessage,
    res: ServerResponse,
    error: S3Error,
    requestId: string,
    expectsContinue: boolean,
  ): void {
    // A client waiting for 100 Continue sends no body, so the connection cannot be reused.
    sendS3Error(res, error, requestId, { close: expectsContinue });
    const operation = storageOperation(req.method);
    this.context.stats.recordResponse(operation, error.status);
    if (operation === 'storage') {
      const { key, fileId } = parseObjectKey(req.url ?? '');
      const event = { key, fileId, status: error.status, code: error.code, received: 0 };
      this.context.events.emit('storage-put', event);
    }
    if (req.complete) return;
    const destroy = this.context.schedule(() => req.socket.destroy(), DRAIN_MS);
    req.once('end', destroy.cancel);
    req.resume();
  }
}

function storageOperation(method: string | undefined): CountedOperation {
  if (method === 'PUT') return 'storage';
  return method === 'GET' || method === 'HEAD' ? 'download' : 'other';
}

/** Reads the object key and file id from a storage URL, for the events of rejected PUTs. */
function parseObjectKey(url: string): { key: string; fileId: string } {
  const encodedKey = url.split('?')[0]!.slice(STORAGE_PREFIX.length + BUCKET.length + 1);
  let key = encodedKey;
  try {
    key = decodeURIComponent(encodedKey);
  } catch {
    // A malformed path is reported as received.
  }
  return { key, fileId: key.split('/')[0] ?? '' };
}

/** S3 needs the exact length before the body: no chunked encoding, no unknown length. */
function checkPutHeaders(req: IncomingMessage): S3Error | undefined {
  if (req.headers['transfer-encoding'] !== undefined) {
    return {
      status: 501,
      code: 'NotImplemented',
      message: 'A header you provided implies functionality that is not implemented',
      details: { Header: 'Transfer-Encoding' },
    };
  }
  const length = req.headers['content-length'];
  if (length === undefined) {
    const message = 'You must provide the Content-Length HTTP header.';
    return { status: 411, code: 'MissingContentLength', message };
  }
  if (Number(length) > MAX_PUT_BYTES) {
    return {
      status: 400,
      code: 'EntityTooLarge',
      message: 'Your proposed upload exceeds the maximum allowed size',
      details: { ProposedSize: length, MaxSizeAllowed: String(MAX_PUT_BYTES) },
    };
  }
  return undefined;
}
