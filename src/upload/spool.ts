import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Metrics, SpoolReason } from '../metrics/metrics';
import { writeChunk } from './write-chunk';

const SUFFIX = '.part';

/**
 * Disk copies of files whose exact size is not known before their bytes arrive. Every copy
 * counts against one total cap and is deleted whatever the upload's outcome.
 */
export class Spool {
  private usedBytes = 0;

  constructor(
    private readonly directory: string,
    private readonly maxBytes: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.maxBytes > 0;
  }

  /** Creates the directory and removes copies a previous process left behind when it died. */
  async prepare(): Promise<void> {
    if (!this.enabled) return;
    await mkdir(this.directory, { recursive: true, mode: 0o700 });
    const stale = (await readdir(this.directory)).filter((name) => name.endsWith(SUFFIX));
    await Promise.all(stale.map((name) => rm(join(this.directory, name), { force: true })));
    if (stale.length > 0) this.log.warn({ files: stale.length }, 'removed stale disk copies');
  }

  /**
   * Opens a copy with `reservedBytes` of the cap set aside up front (0 to grow it as it is
   * written). Returns undefined when disk copies are off or the cap leaves no room.
   */
  open(reason: SpoolReason, reservedBytes = 0): SpoolFile | undefined {
    if (!this.enabled) return undefined;
    if (this.usedBytes + reservedBytes > this.maxBytes) {
      this.metrics.spoolRejections.inc();
      this.log.warn(
        { reservedBytes, usedBytes: this.usedBytes },
        'disk copy skipped: spool is full',
      );
      return undefined;
    }
    this.charge(reservedBytes);
    this.metrics.diskCopies.inc({ reason });
    return new SpoolFile(this, join(this.directory, randomUUID() + SUFFIX), reservedBytes);
  }

  /** Takes `bytes` more of the cap; false when that would exceed it. */
  tryCharge(bytes: number): boolean {
    if (this.usedBytes + bytes > this.maxBytes) return false;
    this.charge(bytes);
    return true;
  }

  charge(bytes: number): void {
    this.usedBytes += bytes;
    this.metrics.spoolBytes.set(this.usedBytes);
  }
}

/** One disk copy: written once, read back any number of times, deleted by {@link discard}. */
export class SpoolFile {
  bytesWritten = 0;
  private readonly stream: WriteStream;
  private discarded = false;

  constructor(
    private readonly spool: Spool,
    readonly path: string,
    private chargedBytes: number,
  ) {
    // 'wx' fails rather than reuse an existing file; 0600 keeps other users out of the copy.
    // A 1 MiB buffer lets several 64 KiB chunks go to the disk per write instead of one each.
    this.stream = createWriteStream(path, { flags: 'wx', mode: 0o600, highWaterMark: 1024 * 1024 });
    this.stream.on('error', () => undefined);
  }

  /** Appends a chunk, waiting while the disk is behind; false when the cap leaves no room. */
  async write(chunk: Buffer): Promise<boolean> {
    const growth = this.bytesWritten + chunk.length - this.chargedBytes;
    if (growth > 0) {
      if (!this.spool.tryCharge(growth)) return false;
      this.chargedBytes += growth;
    }
    this.bytesWritten += chunk.length;
    await writeChunk(this.stream, chunk);
    return true;
  }

  /** Flushes and closes the file so it can be read back. */
  async finish(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      // end() passes on an earlier failure (a failed open or write, which the constructor's
      // listener keeps quiet), so a copy that never reached the disk is not taken as whole.
      this.stream.once('error', reject);
      this.stream.end((error?: Error | null) => (error ? reject(error) : resolve()));
    });
  }

  read(): Readable {
    return createReadStream(this.path, { highWaterMark: 256 * 1024 });
  }

  /** Deletes the copy and returns its share of the cap; safe to call more than once. */
  async discard(): Promise<void> {
    if (this.discarded) return;
    this.discarded = true;
    this.stream.destroy();
    this.spool.charge(-this.chargedBytes);
    await rm(this.path, { force: true });
  }
}
