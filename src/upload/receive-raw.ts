import contentDisposition from 'content-disposition';
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { InvalidRequestError } from '../errors';
import { parseParameter, parseSize, type FileSettings } from './file-parameters';
import { cleanFileName } from './file-name';
import { resolveFileType } from './file-type';
import { start, uploadFromDisk, type ReceiveContext } from './receive-files';
import { trackUpload } from './upload-tracking';
import type { FileDescription, UploadedFile } from './uploader';

/**
 * Receives a raw body as one file, for legacy clients: `curl -T` or `--data-binary`. Its name
 * and feature type come from the query, or Content-Disposition and X-Feature-Type.
 */
export async function receiveRaw(
  body: Readable,
  headers: IncomingHttpHeaders,
  context: ReceiveContext,
): Promise<UploadedFile[]> {
  const settings = rawSettings(headers, context.query);
  if (settings.featureType === undefined) {
    throw new InvalidRequestError(
      'missing_feature_type',
      `featureType is required: add ?featureType= or an X-Feature-Type header (chat, shiftscheduler, users or quicktasks)`,
    );
  }
  context.authorizeFeatureType(settings.featureType);
  if (settings.fileName === undefined) {
    throw new InvalidRequestError(
      'missing_file_name',
      'fileName is required for a raw body: add ?fileName= or Content-Disposition: attachment; filename=...',
    );
  }
  const fileName = cleanFileName(settings.fileName);
  const file: FileDescription = {
    fileName,
    featureType: settings.featureType,
    fileTypeHint: resolveFileType(settings.fileTypeHint, headers['content-type'], fileName),
  };
  const size = settings.size;
  const source = body;
  if (size === undefined) {
    const copy = await context.uploader.spoolWhole(source, 'size_unknown', context);
    return [await uploadFromDisk(copy, file, context)];
  }
  return [
    await trackUpload(
      context.metrics,
      context.log,
      start(context, file, size, 'streamed'),
      () =>
        context.uploader.uploadStreaming(source, file, { kind: 'declared', bytes: size }, context),
      context.signal,
    ),
  ];
}

function rawSettings(headers: IncomingHttpHeaders, query: FileSettings): FileSettings {
  const settings: FileSettings = { ...query };
  const header = headers['x-feature-type'];
  if (header !== undefined) {
    const fromHeader = parseParameter(
      'featureType',
      String(header),
      'header X-Feature-Type',
    ).featureType;
    if (settings.featureType !== undefined && settings.featureType !== fromHeader) {
      throw new InvalidRequestError(
        'conflicting_parameter',
        'featureType in the query and X-Feature-Type differ; send one of them',
      );
    }
    settings.featureType = fromHeader;
  }
  if (settings.fileName === undefined && headers['content-disposition'] !== undefined) {
    settings.fileName = fileNameFromDisposition(headers['content-disposition']);
  }
  const length = headers['content-length'];
  if (length !== undefined) {
    const bytes = parseSize(length, 'Content-Length');
    if (settings.size !== undefined && settings.size !== bytes) {
      throw new InvalidRequestError(
        'size_mismatch',
        `query parameter size (${settings.size}) differs from Content-Length (${bytes}); drop size or fix it`,
      );
    }
    settings.size = bytes;
  }
  return settings;
}

function fileNameFromDisposition(header: string): string | undefined {
  try {
    const name = contentDisposition.parse(header).parameters.filename;
    if (name === undefined || /filename\*\s*=/i.test(header)) return name;
    // Node hands header bytes over as Latin-1 characters, but curl and browsers send a plain
    // filename= in UTF-8; bytes that are not valid UTF-8 are kept as Latin-1.
    const utf8 = Buffer.from(name, 'latin1').toString('utf8');
    return utf8.includes('\uFFFD') ? name : utf8;
  } catch {
    throw new InvalidRequestError(
      'invalid_content_disposition',
      'Content-Disposition is malformed; send attachment; filename="name.ext"',
    );
  }
}
