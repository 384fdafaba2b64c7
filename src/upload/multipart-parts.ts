import busboy from 'busboy';
import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidRequestError, PayloadTooLargeError, ProxyError } from '../errors';
import { MultipartOffsets } from './multipart-offsets';

/** A text field or a file part, in the order it arrived. */
export type MultipartPart =
  | { kind: 'field'; name: string; value: string }
  | {
      kind: 'file';
      field: string;
      stream: Readable;
      /** The part's filename, UTF-8 decoded, `filename*` preferred; undefined when absent. */
      fileName: string | undefined;
      /** The part's own Content-Type; undefined when its headers have none. */
      mimeType: string | undefined;
      /** The file's size if it is the request's last part, from Content-Length. */
      sizeIfLast: number | undefined;
    };

export interface MultipartOptions {
  headers: IncomingHttpHeaders;
  contentLength: number | undefined;
  maxFiles: number;
  maxFields: number;
  maxFieldBytes: number;
  /** Called with every raw chunk read from the request. */
  onChunk: (chunk: Buffer) => void;
}

/**
 * Parses a multipart body with busboy and yields its parts one at a time. A file part must be
 * read to its end (or destroyed) before the next part is parsed, which is what keeps memory
 * flat: busboy stops reading the request until the consumer has taken the file's bytes.
 */
export async function* readMultipart(
  request: Readable,
  options: MultipartOptions,
): AsyncGenerator<MultipartPart> {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(options.headers['content-type'] ?? '');
  const parser = createParser(options);
  const offsets = new MultipartOffsets(boundary?.[1] ?? boundary?.[2] ?? '');
  const queue = new PartQueue();

  parser.on('field', (name, value, info) => {
    if (info.valueTruncated) {
      queue.fail(
        new InvalidRequestError(
          'field_too_long',
          `field "${name.slice(0, 64)}" is longer than ${options.maxFieldBytes} bytes`,
        ),
      );
      return;
    }
    queue.push({ kind: 'field', name, value });
  });
  parser.on('file', (field, stream, info) => {
    // busboy skips parts without a form-data disposition, so counting its events would not
    // match the scanner's parts. If this file is the last part, it is also the latest part
    // whose headers ended. If it is not, any size inferred for it turns out wrong and the
    // transfer falls back, whichever start is used.
    const sizeIfLast =
      options.contentLength === undefined
        ? undefined
        : offsets.sizeIfLast(offsets.contentStarts.length - 1, options.contentLength);
    // busboy fails a cut-off or malformed part with a plain Error; the copy carries ours.
    const content = new PassThrough({ highWaterMark: 64 * 1024 });
    content.on('error', () => undefined); // the consumer gets the failure from its reads
    stream.on('error', (error) => content.destroy(malformed(error)));
    stream.pipe(content);
    queue.push({
      kind: 'file',
      field,
      stream: content,
      fileName: info.filename,
      mimeType: offsets.declaresContentType.at(-1) === false ? undefined : info.mimeType,
      sizeIfLast,
    });
  });
  parser.on('filesLimit', () =>
    queue.fail(
      new PayloadTooLargeError(
        'too_many_files',
        `a request may carry at most ${options.maxFiles} files; send the rest in another request`,
      ),
    ),
  );
  parser.on('fieldsLimit', () =>
    queue.fail(
      new InvalidRequestError(
        'too_many_fields',
        `a request may carry at most ${options.maxFields} fields`,
      ),
    ),
  );
  parser.on('partsLimit', () =>
    queue.fail(
      new InvalidRequestError(
        'too_many_parts',
        `a request may carry at most ${options.maxFiles + options.maxFields} parts`,
      ),
    ),
  );

  const scanner = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      offsets.scan(chunk);
      options.onChunk(chunk);
      callback(null, chunk);
    },
  });
  // busboy reports a malformed part header with an 'error' event and then closes. Recording
  // the error at once keeps the close from ending the parts as if the body were complete.
  parser.on('error', (error) => queue.fail(malformed(error)));
  pipeline(request, scanner, parser).then(
    () => queue.end(),
    (error: unknown) => queue.fail(malformed(error)),
  );
  parser.on('close', () => queue.end());

  yield* queue.drain();
}

function createParser(options: MultipartOptions): busboy.Busboy {
  try {
    return busboy({
      headers: options.headers,
      // Browsers and curl send UTF-8 names in a plain filename= parameter, not Latin-1.
      defParamCharset: 'utf8',
      // busboy marks a field truncated once its size reaches fieldSize, and emits partsLimit
      // once the part count reaches parts, so both are set one above the maximum allowed.
      limits: {
        files: options.maxFiles,
        fields: options.maxFields,
        fieldSize: options.maxFieldBytes + 1,
        parts: options.maxFiles + options.maxFields + 1,
        // busboy 1.6 ignores headerPairs for multipart; it caps each part's headers at 16 KiB.
      },
    });
  } catch (error) {
    throw new InvalidRequestError(
      'invalid_multipart',
      'Content-Type multipart/form-data must carry a boundary parameter',
      { cause: error },
    );
  }
}

function malformed(error: unknown): Error {
  if (error instanceof ProxyError) return error;
  return new InvalidRequestError(
    'invalid_multipart',
    `the multipart body is malformed or cut off (${(error as Error).message})`,
    { cause: error },
  );
}

/** Hands busboy's events to one consumer that pulls them as an async iterator. */
class PartQueue {
  private readonly items: MultipartPart[] = [];
  private error: Error | undefined;
  private ended = false;
  private wake: (() => void) | undefined;

  push(part: MultipartPart): void {
    this.items.push(part);
    this.notify();
  }

  fail(error: Error): void {
    this.error ??= error;
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  async *drain(): AsyncGenerator<MultipartPart> {
    for (;;) {
      if (this.error) throw this.error;
      const next = this.items.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
