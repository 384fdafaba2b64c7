import { createHash, type Hash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { InvalidRequestError, PayloadTooLargeError } from '../errors';
import type { IdleWatch } from './idle-watch';
import type { SpoolFile } from './spool';
import type { StoragePut } from './storage-put';
import { writeChunk } from './write-chunk';

/** Counts and hashes a file's bytes as they pass, and enforces the per-file limit. */
export class ByteMeter {
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');

  constructor(private readonly maxBytes: number) {}

  add(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.bytes > this.maxBytes) throw fileTooLarge(this.maxBytes);
    this.hash.update(chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}

export function fileTooLarge(maxBytes: number): PayloadTooLargeError {
  return new PayloadTooLargeError(
    'file_too_large',
    `the file is larger than the limit of ${maxBytes} bytes (MAX_FILE_BYTES)`,
  );
}

export interface TransferTarget {
  url: string;
  size: number;
  contentType: string;
  /** True when the size was inferred from the request and may turn out wrong. */
  guessed: boolean;
}

export interface TransferResult {
  bytes: number;
  sha256: string;
  /** True when storage accepted exactly the file's bytes. */
  stored: boolean;
  /** The reason storage lacks the file, when `stored` is false. */
  failure?: unknown;
  /** The complete disk copy, when storage does not hold the file but the copy has it all. */
  copy?: SpoolFile;
}

interface TransferContext {
  signal: AbortSignal;
  idle: IdleWatch;
  onBytes: (bytes: number) => void;
}

/**
 * Streams a file to storage while it arrives, optionally writing a disk copy alongside.
 *
 * The PUT declares `target.size` up front. The chunk that brings the count to exactly that
 * size is held back until the source ends, so storage never receives a whole body that later
 * turns out to be only a prefix of the file. With a declared size, any other count is the
 * caller's error (400). With a guessed size, a wrong count only aborts this PUT, and the disk
 * copy, if there is one, is what gets uploaded instead.
 */
export async function transferFile(
  source: Readable,
  target: TransferTarget,
  storage: StoragePut,
  meter: ByteMeter,
  copy: SpoolFile | undefined,
  context: TransferContext,
): Promise<TransferResult> {
  const abortPut = new AbortController();
  const body = new PassThrough({ highWaterMark: 64 * 1024 });
  // undici reports a failed body through the request's promise; this keeps the event quiet.
  body.on('error', () => undefined);
  const signal = AbortSignal.any([context.signal, abortPut.signal]);
  let failure: unknown;
  const put = storage.put(target.url, body, target.size, target.contentType, signal).then(
    () => true,
    (error: unknown) => {
      failure ??= error;
      body.destroy();
      return false;
    },
  );
  let putAlive = true;
  let copyAlive = copy !== undefined;
  let held: Buffer | undefined;
  const stopPut = (reason: Error) => {
    failure ??= reason;
    putAlive = false;
    abortPut.abort(reason);
  };

  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      context.idle.touch();
      meter.add(chunk);
      context.onBytes(chunk.length);
      // The disk copy and the PUT receive each chunk at the same time. The next chunk is read
      // once both have taken this one.
      const copied = copyAlive ? copy!.write(chunk) : undefined;
      copied?.catch(() => undefined);
      if (putAlive) {
        if (held !== undefined || meter.bytes > target.size) {
          if (!target.guessed) throw sizeMismatch(target.size, 'more');
          stopPut(new Error('the file is longer than its size inferred from Content-Length'));
        } else if (meter.bytes === target.size) {
          held = chunk;
        } else {
          context.idle.waitingOnStorage = true;
          await writeChunk(body, chunk).catch(() => {
            putAlive = false;
          });
          context.idle.waitingOnStorage = false;
        }
      }
      if (copied !== undefined) copyAlive = await copied;
      if (!putAlive && !target.guessed) break;
    }
  } catch (error) {
    abortPut.abort(error);
    await put;
    throw error;
  }

  if (putAlive && meter.bytes === target.size) {
    body.end(held);
  } else if (putAlive) {
    if (!target.guessed) {
      abortPut.abort(sizeMismatch(target.size, 'fewer'));
      await put;
      throw sizeMismatch(target.size, 'fewer');
    }
    stopPut(new Error('the file is shorter than its size inferred from Content-Length'));
  }
  context.idle.waitingOnStorage = true;
  const stored = await put;
  context.idle.waitingOnStorage = false;
  // Once storage has the file the copy is not needed, so the caller discards it without
  // waiting for it to be flushed and closed first.
  const fallback = copyAlive && !stored;
  if (fallback) await copy!.finish();
  return {
    bytes: meter.bytes,
    sha256: meter.digest(),
    stored,
    failure: stored ? undefined : failure,
    copy: fallback ? copy : undefined,
  };
}

/** 400 for a file whose bytes do not match the size the caller declared. */
export function sizeMismatch(declared: number, direction: 'more' | 'fewer'): InvalidRequestError {
  return new InvalidRequestError(
    'size_mismatch',
    `the file has ${direction} bytes than the ${declared} declared (the size field or ` +
      'Content-Length); send its exact byte count',
  );
}
