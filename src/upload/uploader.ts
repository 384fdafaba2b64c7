import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ConnecteamClient, UploadUrl } from '../connecteam/connecteam-client';
import type { FeatureType } from '../connecteam/feature-types';
import type { QuotaGate, QuotaReservation } from '../connecteam/quota-pacer';
import { backoffDelay, pause } from '../connecteam/retry';
import {
  ClientAbortedError,
  InvalidRequestError,
  LengthRequiredError,
  ProxyError,
  UpstreamError,
} from '../errors';
import { redactUrl } from '../logger';
import type { Metrics, SpoolReason, UploadStep } from '../metrics/metrics';
import { isAllowedOrigin, type OriginPattern } from './allowed-origins';
import type { IdleWatch } from './idle-watch';
import type { Spool, SpoolFile } from './spool';
import { StorageError, UploadUrlExpiredError, type StoragePut } from './storage-put';
import { ByteMeter, fileTooLarge, sizeMismatch, transferFile } from './transfer';

/** The file metadata sent to Connecteam's generate-upload-url call. */
export interface FileDescription {
  fileName: string;
  featureType: FeatureType;
  fileTypeHint: string;
}

/** One entry of the 201 response. */
export interface UploadedFile extends FileDescription {
  fileId: string;
  size: number;
  sha256: string;
}

/** The source of a file's size before its bytes arrive. */
export type KnownSize =
  { kind: 'declared'; bytes: number } | { kind: 'guessed'; bytes: number } | { kind: 'unknown' };

/** A file held complete on disk, waiting to be uploaded. */
export interface SpooledCopy {
  file: SpoolFile;
  size: number;
  sha256: string;
  reason: SpoolReason;
}

export interface UploadContext {
  signal: AbortSignal;
  log: Logger;
  idle: IdleWatch;
}

export interface UploaderOptions {
  client: ConnecteamClient;
  storage: StoragePut;
  spool: Spool;
  quota: QuotaGate;
  metrics: Metrics;
  maxFileBytes: number;
  allowedOrigins: readonly OriginPattern[];
}

/** A PUT from a copy is tried this many times in all, with a fresh URL when one expires. */
const SPOOLED_PUT_ATTEMPTS = 3;

/**
 * Largest file read whole into memory before its upload starts. Its exact size is then known,
 * so no disk copy is needed, a failed PUT can be retried, and the PUT goes out in one write.
 */
export const SMALL_FILE_BYTES = 64 * 1024;

/**
 * Carries one file through Connecteam's three steps: reserve quota, generate the upload URL
 * just before the bytes flow, PUT the bytes, and complete only when storage has all of them.
 */
export class Uploader {
  constructor(private readonly options: UploaderOptions) {}

  /** The per-file limit, MAX_FILE_BYTES. */
  get maxFileBytes(): number {
    return this.options.maxFileBytes;
  }

  /**
   * Uploads a file while it arrives, or once it has arrived when it is small. The size comes
   * from the caller or the request framing.
   */
  async uploadStreaming(
    source: Readable,
    file: FileDescription,
    size: { kind: 'declared' | 'guessed'; bytes: number },
    context: UploadContext,
  ): Promise<UploadedFile> {
    const { maxFileBytes, spool } = this.options;
    if (size.bytes > maxFileBytes) throw fileTooLarge(maxFileBytes);
    // The upload URL is valid for 300 s and each one costs quota, so it is requested only once
    // the file's first bytes are here: a caller that sends headers and stalls costs no call.
    if (size.bytes > 0) await firstBytes(source, context);
    if (size.bytes <= SMALL_FILE_BYTES) return this.uploadFromMemory(source, file, size, context);
    const guessed = size.kind === 'guessed';
    // A guessed size is verified only when the part ends, so a copy is kept to fall back on.
    const copy = guessed ? spool.open('inferred_size', size.bytes) : undefined;
    try {
      const reservation = await this.reserveBothCalls(context);
      try {
        let target = await this.generate(file, reservation, context);
        context.idle.resume();
        const meter = new ByteMeter(maxFileBytes);
        const result = await this.step(
          'transfer',
          transferFile(
            source,
            {
              url: target.uploadFileUrl,
              size: size.bytes,
              contentType: file.fileTypeHint,
              guessed,
            },
            this.options.storage,
            meter,
            copy,
            { ...context, onBytes: (bytes) => this.options.metrics.receivedBytes.inc(bytes) },
          ),
        );
        context.idle.pause();
        if (result.stored) {
          this.options.metrics.storedBytes.inc({ path: 'streamed' }, result.bytes);
        } else {
          target = await this.recoverFromCopy(result, target, file, context);
        }
        return await this.complete(target, file, result, reservation, context);
      } finally {
        reservation.release();
      }
    } finally {
      await copy?.discard();
    }
  }

  /**
   * Reads a small file whole, then uploads it with its exact size. A failed PUT is retried
   * from memory, as one from a disk copy would be.
   */
  private async uploadFromMemory(
    source: Readable,
    file: FileDescription,
    size: { kind: 'declared' | 'guessed'; bytes: number },
    context: UploadContext,
  ): Promise<UploadedFile> {
    const meter = new ByteMeter(this.options.maxFileBytes);
    const bytes = await readSmallFile(source, size, meter, context, (count) =>
      this.options.metrics.receivedBytes.inc(count),
    );
    const reservation = await this.reserveBothCalls(context);
    try {
      const first = await this.generate(file, reservation, context);
      const copy = { read: () => bytes };
      const target = await this.step(
        'transfer',
        this.putCopy(first, file, copy, bytes.length, context, 'memory'),
      );
      const result = { bytes: bytes.length, sha256: meter.digest() };
      return await this.complete(target, file, result, reservation, context);
    } finally {
      reservation.release();
    }
  }

  /** Writes a whole file to disk, for files whose size or feature type is not known yet. */
  async spoolWhole(
    source: Readable,
    reason: SpoolReason,
    context: UploadContext,
  ): Promise<SpooledCopy> {
    const copy = this.options.spool.open(reason);
    if (copy === undefined) {
      source.resume();
      throw this.options.spool.enabled
        ? new UpstreamError(
            'spool_full',
            'the proxy has no disk space left for files of unknown size; retry later',
          )
        : new LengthRequiredError(
            'the file size is unknown and disk copies are switched off; send a size field ' +
              'before the file, or send the file as the raw body with Content-Length',
          );
    }
    try {
      const meter = new ByteMeter(this.options.maxFileBytes);
      context.idle.resume();
      for await (const chunk of source as AsyncIterable<Buffer>) {
        context.idle.touch();
        meter.add(chunk);
        this.options.metrics.receivedBytes.inc(chunk.length);
        if (!(await copy.write(chunk))) {
          throw new UpstreamError(
            'spool_full',
            'the proxy ran out of disk space for this file; retry later',
          );
        }
      }
      await copy.finish();
      return { file: copy, size: meter.bytes, sha256: meter.digest(), reason };
    } catch (error) {
      await copy.discard();
      throw error;
    }
  }

  /** Uploads a file held on disk; the copy is deleted whatever the outcome. */
  async uploadSpooled(
    copy: SpooledCopy,
    file: FileDescription,
    context: UploadContext,
  ): Promise<UploadedFile> {
    try {
      const reservation = await this.reserveBothCalls(context);
      try {
        const first = await this.generate(file, reservation, context);
        const result = { bytes: copy.size, sha256: copy.sha256, stored: false, copy: copy.file };
        const target = await this.step(
          'transfer',
          this.putCopy(first, file, copy.file, copy.size, context, 'spooled'),
        );
        this.options.metrics.spooledUploads.inc({ reason: copy.reason });
        return await this.complete(target, file, result, reservation, context);
      } finally {
        reservation.release();
      }
    } finally {
      await copy.file.discard();
    }
  }

  private async recoverFromCopy(
    result: Awaited<ReturnType<typeof transferFile>>,
    target: UploadUrl,
    file: FileDescription,
    context: UploadContext,
  ): Promise<UploadUrl> {
    const failure = result.failure;
    const unrecoverable =
      failure instanceof ProxyError &&
      !(failure instanceof StorageError && failure.retryable) &&
      !(failure instanceof UploadUrlExpiredError);
    if (unrecoverable) throw failure;
    if (result.copy === undefined) {
      if (failure instanceof ProxyError) throw failure;
      throw new InvalidRequestError(
        'size_required',
        'more parts follow this file, so its size cannot be inferred from Content-Length, ' +
          'and no disk copy could be kept; send a size field with the exact byte count before the file',
      );
    }
    context.log.info(
      { bytes: result.bytes },
      'file size inferred wrongly; uploading the disk copy',
    );
    this.options.metrics.spooledUploads.inc({ reason: 'size_guess_wrong' });
    return this.step(
      'transfer',
      this.putCopy(target, file, result.copy, result.bytes, context, 'spooled'),
    );
  }

  /**
   * PUTs a complete copy of a file, on disk or in memory, retrying storage failures and
   * asking for a new URL when one expires.
   */
  private async putCopy(
    first: UploadUrl,
    file: FileDescription,
    copy: { read(): Readable | Buffer },
    size: number,
    context: UploadContext,
    path: 'spooled' | 'memory',
  ): Promise<UploadUrl> {
    let target = first;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.options.storage.put(
          target.uploadFileUrl,
          copy.read(),
          size,
          file.fileTypeHint,
          context.signal,
        );
        this.options.metrics.storedBytes.inc({ path }, size);
        return target;
      } catch (error) {
        const expired = error instanceof UploadUrlExpiredError;
        const retryable = expired || (error instanceof StorageError && error.retryable);
        if (!retryable || attempt >= SPOOLED_PUT_ATTEMPTS || context.signal.aborted) throw error;
        context.log.warn(
          { attempt, path, err: error },
          'storage upload of a copy failed; retrying',
        );
        // A 503 SlowDown from storage means too many requests, so the retry waits.
        await pause(backoffDelay(attempt), context.signal);
        if (expired) target = await this.generate(file, undefined, context);
      }
    }
  }

  private async generate(
    file: FileDescription,
    reservation: QuotaReservation | undefined,
    context: UploadContext,
  ): Promise<UploadUrl> {
    const target = await this.step(
      'generate',
      this.options.client.generateUploadUrl(file, {
        signal: context.signal,
        log: context.log,
        reservation,
      }),
    );
    let url: URL | undefined;
    try {
      url = new URL(target.uploadFileUrl);
    } catch {
      url = undefined;
    }
    if (url === undefined || !isAllowedOrigin(url, this.options.allowedOrigins)) {
      context.log.error(
        { uploadUrl: redactUrl(target.uploadFileUrl) },
        'upload URL from Connecteam is outside UPLOAD_URL_ALLOWED_HOSTS; nothing was sent',
      );
      throw new UpstreamError(
        'upload_url_not_allowed',
        'Connecteam returned an upload URL on a host outside UPLOAD_URL_ALLOWED_HOSTS; ' +
          'the operator must check that setting',
      );
    }
    context.log.debug(
      { fileId: target.fileId, uploadUrl: redactUrl(target.uploadFileUrl) },
      'upload URL generated',
    );
    return target;
  }

  private async complete(
    target: UploadUrl,
    file: FileDescription,
    result: { bytes: number; sha256: string },
    reservation: QuotaReservation,
    context: UploadContext,
  ): Promise<UploadedFile> {
    await this.step(
      'complete',
      this.options.client.completeUpload(target.fileId, {
        signal: context.signal,
        log: context.log,
        reservation,
      }),
    );
    this.options.metrics.fileSize.observe(result.bytes);
    return { fileId: target.fileId, ...file, size: result.bytes, sha256: result.sha256 };
  }

  /** Reserves generate and complete together; the caller is not idle while this waits. */
  private reserveBothCalls(context: UploadContext): Promise<QuotaReservation> {
    context.idle.pause();
    return this.step('quota_wait', this.options.quota.reserve(2, context.signal));
  }

  private async step<T>(step: UploadStep, work: Promise<T>): Promise<T> {
    const stop = this.options.metrics.stepDuration.startTimer({ step });
    try {
      return await work;
    } finally {
      stop();
    }
  }
}

/**
 * Reads a small file into one buffer of the expected size. Keeping the chunks themselves would
 * cost a Buffer object per chunk, and a caller may send a byte at a time.
 */
async function readSmallFile(
  source: Readable,
  size: { kind: 'declared' | 'guessed'; bytes: number },
  meter: ByteMeter,
  context: UploadContext,
  onBytes: (count: number) => void,
): Promise<Buffer> {
  let whole = Buffer.allocUnsafe(size.bytes);
  context.idle.resume();
  for await (const chunk of source as AsyncIterable<Buffer>) {
    context.idle.touch();
    const filled = meter.bytes;
    meter.add(chunk);
    onBytes(chunk.length);
    if (meter.bytes > whole.length) {
      // A guessed size bounds the part except for a few bytes of framing. A declared size is
      // only the caller's word.
      if (size.kind === 'declared') throw sizeMismatch(size.bytes, 'more');
      const grown = Buffer.allocUnsafe(Math.max(meter.bytes, whole.length * 2));
      whole.copy(grown, 0, 0, filled);
      whole = grown;
    }
    chunk.copy(whole, filled);
  }
  if (size.kind === 'declared' && meter.bytes < size.bytes) {
    throw sizeMismatch(size.bytes, 'fewer');
  }
  return whole.subarray(0, meter.bytes);
}

/** Resolves once the source has bytes to read or has ended; the idle watch covers the wait. */
function firstBytes(source: Readable, context: UploadContext): Promise<void> {
  if (source.readableLength > 0 || source.readableEnded) return Promise.resolve();
  context.idle.resume();
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => {
      source.off('readable', onReadable);
      source.off('end', onReadable);
      source.off('error', done);
      source.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onReadable = () => done();
    // A stream destroyed without an error would leave the wait hanging; fail it as cut off.
    const onClose = () => done(source.errored ?? new ClientAbortedError());
    source.on('readable', onReadable);
    source.on('end', onReadable);
    source.on('error', done);
    source.on('close', onClose);
  });
}
