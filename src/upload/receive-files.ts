import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { FeatureType } from '../connecteam/feature-types';
import { InvalidRequestError, ProxyError } from '../errors';
import type { Metrics } from '../metrics/metrics';
import { FileParameters, type FileSettings } from './file-parameters';
import { cleanFileName } from './file-name';
import { resolveFileType } from './file-type';
import type { IdleWatch } from './idle-watch';
import { readMultipart, type MultipartPart } from './multipart-parts';
import { sizeMismatch } from './transfer';
import { trackUpload } from './upload-tracking';
import type { FileDescription, SpooledCopy, UploadedFile, Uploader } from './uploader';

/** Everything one POST /v1/files needs besides the request itself. */
export interface ReceiveContext {
  uploader: Uploader;
  metrics: Metrics;
  log: Logger;
  signal: AbortSignal;
  idle: IdleWatch;
  client: string;
  /** Throws when the client may not use the feature type. */
  authorizeFeatureType: (featureType: FeatureType) => void;
  query: FileSettings;
  maxFiles: number;
}

/** Thrown when a request fails after some of its files already landed at Connecteam. */
export class PartialUploadError extends Error {
  constructor(
    readonly failure: ProxyError | Error,
    readonly landed: UploadedFile[],
  ) {
    super(failure.message, { cause: failure });
  }
}

type Slot = Promise<UploadedFile>;

/**
 * Receives a multipart/form-data body. Files with a known or inferable size stream straight to
 * storage, one after another as they arrive. Files whose size or feature type is not known yet
 * are copied to disk and uploaded from there, in the background. Results keep the order in
 * which the parts arrived.
 */
export async function receiveMultipart(
  body: Readable,
  headers: IncomingHttpHeaders,
  context: ReceiveContext,
): Promise<UploadedFile[]> {
  const parameters = new FileParameters(context.query);
  const slots: Slot[] = [];
  const waitingForFeatureType: Array<{
    copy: SpooledCopy;
    settings: FileSettings;
    description: FileNameAndType;
    resolve: (slot: Slot) => void;
  }> = [];
  const contentLength =
    headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  try {
    const parts = readMultipart(body, {
      headers,
      contentLength: Number.isSafeInteger(contentLength) ? contentLength : undefined,
      maxFiles: context.maxFiles,
      maxFields: 50,
      maxFieldBytes: 8 * 1024,
      onChunk: () => context.idle.touch(),
    });
    context.idle.resume();
    for await (const part of parts) {
      if (part.kind === 'field') {
        parameters.set(part.name, part.value);
        if (part.name === 'featureType') {
          for (const waiting of waitingForFeatureType.splice(0)) {
            const settings = { ...waiting.settings, featureType: parameters.featureType };
            waiting.resolve(uploadCopy(waiting.copy, waiting.description, settings, context));
          }
        }
        continue;
      }
      const settings = parameters.takeForFile();
      const description = describe(part, settings);
      if (settings.featureType === undefined) {
        const copy = await context.uploader.spoolWhole(
          part.stream,
          'feature_type_after_file',
          context,
        );
        slots.push(
          new Promise<UploadedFile>((resolve) =>
            waitingForFeatureType.push({ copy, settings, description, resolve }),
          ),
        );
        continue;
      }
      context.authorizeFeatureType(settings.featureType);
      // An inferred size over the limit may still belong to a smaller file followed by more
      // parts, so such a file goes to disk, where its real size is counted against the limit.
      const inferred =
        part.sizeIfLast !== undefined && part.sizeIfLast <= context.uploader.maxFileBytes
          ? part.sizeIfLast
          : undefined;
      const size = settings.size ?? inferred;
      if (size === undefined) {
        const copy = await context.uploader.spoolWhole(part.stream, 'size_unknown', context);
        slots.push(uploadCopy(copy, description, settings, context));
        continue;
      }
      const kind = settings.size === undefined ? 'guessed' : 'declared';
      const file = { ...description, featureType: settings.featureType };
      const slot = trackUpload(
        context.metrics,
        context.log,
        start(context, file, size, 'streamed'),
        () => context.uploader.uploadStreaming(part.stream, file, { kind, bytes: size }, context),
        context.signal,
      );
      slots.push(slot);
      await slot;
      // The upload paused the idle watch while it waited on Connecteam. The next part is the
      // caller's to send again.
      context.idle.resume();
    }
    if (waitingForFeatureType.length > 0) {
      throw new InvalidRequestError(
        'missing_feature_type',
        'featureType is required: send it as a query parameter or as a field before the file',
      );
    }
    if (slots.length === 0) {
      throw new InvalidRequestError(
        'missing_file',
        'the request carries no file part; add one with a filename',
      );
    }
    return await Promise.all(slots);
  } catch (error) {
    // Files still waiting for a featureType never get one, so their slots fail with the
    // request. Left pending, they would keep withLanded, and so the response, waiting forever.
    for (const waiting of waitingForFeatureType.splice(0)) {
      await waiting.copy.file.discard();
      waiting.resolve(Promise.reject(error));
    }
    throw await withLanded(error, slots);
  } finally {
    context.idle.pause();
  }
}

type FilePart = Extract<MultipartPart, { kind: 'file' }>;

/** A file's cleaned name and its MIME type; the feature type may still be unknown. */
type FileNameAndType = Omit<FileDescription, 'featureType'>;

function describe(part: FilePart, settings: FileSettings): FileNameAndType {
  const raw = settings.fileName ?? part.fileName;
  if (raw === undefined) {
    part.stream.resume();
    throw new InvalidRequestError(
      'missing_file_name',
      `file part "${part.field}" has no filename; add filename= to its Content-Disposition or send a fileName field before it`,
    );
  }
  const fileName = cleanFileName(
    raw,
    settings.fileName === undefined ? 'the part filename' : 'fileName',
  );
  return {
    fileName,
    fileTypeHint: resolveFileType(settings.fileTypeHint, part.mimeType, fileName),
  };
}

function uploadCopy(
  copy: SpooledCopy,
  description: FileNameAndType,
  settings: FileSettings,
  context: ReceiveContext,
): Slot {
  const slot = (async () => {
    const file = { ...description, featureType: settings.featureType! };
    context.authorizeFeatureType(file.featureType);
    if (settings.size !== undefined && settings.size !== copy.size) {
      throw sizeMismatch(settings.size, copy.size > settings.size ? 'more' : 'fewer');
    }
    return uploadFromDisk(copy, file, context);
  })();
  slot.catch(async () => copy.file.discard());
  return slot;
}

/** Builds the fields of an upload's started log line. */
export function start(
  context: ReceiveContext,
  file: FileDescription,
  size: number | undefined,
  path: 'streamed' | 'spooled',
) {
  return { client: context.client, ...file, size, path };
}

/** Waits for the uploads still running and attaches the files that landed to the failure. */
async function withLanded(error: unknown, slots: Slot[]): Promise<unknown> {
  const settled = await Promise.allSettled(slots);
  const landed = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  return landed.length > 0 ? new PartialUploadError(error as Error, landed) : error;
}

/** Uploads a complete disk copy between the started and finished log lines. */
export function uploadFromDisk(
  copy: SpooledCopy,
  file: FileDescription,
  context: ReceiveContext,
): Promise<UploadedFile> {
  return trackUpload(
    context.metrics,
    context.log,
    start(context, file, copy.size, 'spooled'),
    () => context.uploader.uploadSpooled(copy, file, context),
    context.signal,
  );
}
