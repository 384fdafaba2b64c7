import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { EmulatorContext } from './context';
import type { FaultAction } from './faults';
import type { FileRecord } from './file-store';
import { faultError, sendS3Error, type S3Error } from './s3-errors';

/** An accepted storage PUT whose body is about to be read. */
export interface UploadRequest {
  req: IncomingMessage;
  res: ServerResponse;
  record: FileRecord;
  /** Object key inside the bucket: `<fileId>/<fileName>`. */
  key: string;
  /** The request's Content-Length. */
  declaredBytes: number;
  requestId: string;
  /** A fault that strikes during or after the body. It is never `delay` or `redirect`. */
  fault?: FaultAction;
}

const REQUEST_TIMEOUT: Omit<S3Error, 'status'> = {
  code: 'RequestTimeout',
  message:
    'Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.',
};

/**
 * Reads one storage PUT body as it streams in: hashes and counts each chunk, keeps the bytes
 * only for small objects, and replaces the stored object only when every declared byte
 * arrived. Every way the request can end goes through {@link StorageUpload.finish}, once.
 */
export class StorageUpload {
  private readonly hash: Hash = createHash('sha256');
  private readonly chunks: Buffer[] | undefined;
  private received = 0;
  private lastActivity = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private finished = false;
  /** Set while the emulator itself pauses reading, which must not count as sender idleness. */
  private pausedByEmulator = false;
  /** Body bytes after which the fault strikes, or Infinity for a fault that waits for the end. */
  private readonly strikeAt: number;

  constructor(
    private readonly context: EmulatorContext,
    private readonly upload: UploadRequest,
    private readonly onFinish: () => void,
  ) {
    const { keepBodiesUpToBytes } = context.options;
    const keep = upload.declaredBytes <= keepBodiesUpToBytes;
    this.chunks = keep && context.files.canKeep(upload.declaredBytes) ? [] : undefined;
    const fault = upload.fault;
    const defaultStrike = fault?.kind === 'fail' ? Infinity : 0;
    const afterBytes = fault && 'afterBytes' in fault ? fault.afterBytes : undefined;
    this.strikeAt = fault ? (afterBytes ?? defaultStrike) : Infinity;
  }

  /** Starts reading the body, which must not have been read before. */
  start(): void {
    const { req, res } = this.upload;
    req.on('error', () => this.abandon());
    // The response closes with the connection, also when the request has been read in full.
    res.on('close', () => this.abandon());
    if (req.destroyed) {
      // The sender went away during a delay fault, before the body was read.
      this.abandon();
      return;
    }
    this.armIdleTimer(this.context.options.storageIdleTimeoutMs);
    if (this.strikeAt === 0 && this.strike()) return;
    req.on('data', (chunk: Buffer) => this.receive(chunk));
    req.on('end', () => this.complete());
  }

  /**
   * Responds 400 IncompleteBody when the sender half-closed its side before sending every
   * declared byte. Node.js reports this as a client error on the socket, not on the request.
   */
  endOfInput(): void {
    this.fail({ status: 400, ...this.incompleteBody() }, true);
  }

  private receive(chunk: Buffer): void {
    if (this.finished) return;
    this.received += chunk.length;
    this.lastActivity = performance.now();
    this.hash.update(chunk);
    this.chunks?.push(chunk);
    this.context.stats.storageBytesReceived += chunk.length;
    const { events } = this.context;
    if (events.listenerCount('storage-data') > 0) {
      const { key, record } = this.upload;
      const event = { key, fileId: record.fileId, bytes: chunk.length, received: this.received };
      events.emit('storage-data', event);
    }
    if (this.received >= this.strikeAt && this.strike()) return;
    const chunkDelay = this.context.faults.storageChunkDelayMs;
    if (chunkDelay > 0) this.pauseFor(chunkDelay);
  }

  private complete(): void {
    if (this.finished) return;
    if (this.upload.fault && this.strike()) return;
    const { record, req, res, requestId } = this.upload;
    const sha256 = this.hash.digest('hex');
    // S3's ETag is the MD5 of a single-part object. A slice of the SHA-256 looks the same and
    // saves hashing every byte twice.
    const etag = `"${sha256.slice(0, 32)}"`;
    this.context.files.putObject(record, {
      size: this.received,
      sha256,
      etag,
      contentType: req.headers['content-type'] ?? '',
      body: this.chunks && Buffer.concat(this.chunks, this.received),
    });
    res.writeHead(200, {
      etag,
      'x-amz-request-id': requestId,
      server: 'AmazonS3',
      'content-length': 0,
    });
    res.end();
    this.finish(200);
  }

  /** Applies the queued fault and returns false when it lets the request go on. */
  private strike(): boolean {
    const fault = this.upload.fault;
    this.upload.fault = undefined;
    if (fault?.kind === 'fail') {
      const beforeEnd = !this.upload.req.complete;
      this.fail(faultError(fault.status, fault.code), beforeEnd);
      return true;
    }
    if (fault?.kind === 'reset') {
      this.finish(0);
      this.upload.req.socket.destroy();
      return true;
    }
    if (fault?.kind === 'stall') {
      // The idle timer ends the request with RequestTimeout, as S3 ends a silent sender.
      this.upload.req.pause();
      return true;
    }
    return false;
  }

  private pauseFor(ms: number): void {
    const { req } = this.upload;
    req.pause();
    this.pausedByEmulator = true;
    this.context.schedule(() => {
      this.pausedByEmulator = false;
      this.lastActivity = performance.now();
      if (!this.finished) req.resume();
    }, ms);
  }

  private armIdleTimer(delayMs: number): void {
    this.idleTimer = setTimeout(() => this.checkIdle(), delayMs);
  }

  /** Re-arms itself instead of resetting a timer on every chunk, which would cost more. */
  private checkIdle(): void {
    const timeoutMs = this.context.options.storageIdleTimeoutMs;
    const idleMs = this.pausedByEmulator ? 0 : performance.now() - this.lastActivity;
    if (idleMs < timeoutMs) {
      this.armIdleTimer(timeoutMs - idleMs);
      return;
    }
    this.fail({ status: 400, ...REQUEST_TIMEOUT }, true);
  }

  /**
   * Records a connection that closed before the response, and stores nothing. It is S3's
   * IncompleteBody when declared bytes are missing. Otherwise a stall fault held the response.
   */
  private abandon(): void {
    if (this.finished) return;
    if (this.upload.req.complete) this.finish(0);
    else this.finish(400, this.incompleteBody().code);
  }

  private incompleteBody(): Omit<S3Error, 'status'> {
    return {
      code: 'IncompleteBody',
      message:
        'You did not provide the number of bytes specified by the Content-Length HTTP header.',
      details: {
        NumberBytesExpected: String(this.upload.declaredBytes),
        NumberBytesProvided: String(this.received),
      },
    };
  }

  private fail(error: S3Error, close: boolean): void {
    if (this.finished) return;
    sendS3Error(this.upload.res, error, this.upload.requestId, { close });
    this.finish(error.status, error.code);
  }

  private finish(status: number, code?: string): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.idleTimer);
    this.chunks?.splice(0);
    const { stats, events } = this.context;
    if (status === 0) stats.recordReset('storage');
    else stats.recordResponse('storage', status);
    const { key, record } = this.upload;
    const event = { key, fileId: record.fileId, status, received: this.received };
    events.emit('storage-put', code === undefined ? event : { ...event, code });
    this.onFinish();
  }
}
