import { randomUUID } from 'node:crypto';
import type { Request, Response } from 'express';
import type { EmulatorContext } from './context';
import type { FileRecord } from './file-store';
import { guessFileType, parseGenerateBody } from './request-validation';
import { encodeS3 } from './signing';

/** Bucket name in the path of every storage URL. */
export const BUCKET = 'connecteam-attachments';

/** Lifetime of the `fileUrl` that file metadata returns: one hour. */
const FILE_URL_TTL_SECONDS = 3600;

/** Handlers of the three Attachments API routes. */
export interface ApiHandlers {
  generateUploadUrl(req: Request, res: Response): void;
  completeUpload(req: Request<{ fileId: string }>, res: Response): void;
  getFile(req: Request<{ fileId: string }>, res: Response): void;
}

/** Creates the handlers. Authentication, faults and the quota are checked before them. */
export function createApiHandlers(context: EmulatorContext): ApiHandlers {
  return {
    generateUploadUrl: (req, res) => generateUploadUrl(context, req, res),
    completeUpload: (req, res) => completeUpload(context, req.params.fileId, res),
    getFile: (req, res) => getFile(context, req.params.fileId, res),
  };
}

function generateUploadUrl(context: EmulatorContext, req: Request, res: Response): void {
  const raw = Buffer.isBuffer(req.body) ? req.body : undefined;
  const parsed = parseGenerateBody(req.headers['content-type'], raw);
  if ('issues' in parsed) {
    res.status(422).json({ detail: parsed.issues });
    return;
  }
  const { fileName, featureType, fileTypeHint } = parsed.request;
  const fileType = fileTypeHint ?? guessFileType(fileName);
  if (fileType === undefined) {
    res.status(400).json({
      detail: `Could not determine the file type of '${fileName}' from its extension. Send fileTypeHint with its MIME type.`,
    });
    return;
  }
  const fileId = randomUUID();
  const record: FileRecord = {
    fileId,
    fileName,
    featureType,
    fileType,
    storagePath: `/storage/${BUCKET}/${fileId}/${encodeS3(fileName)}`,
    uploadCompleted: false,
  };
  context.files.add(record);
  const uploadFileUrl = context.signer.presign({
    method: 'PUT',
    origin: context.faults.uploadUrlOrigin ?? context.publicOrigin,
    path: record.storagePath,
    contentType: fileType,
    nowMs: context.options.now(),
    expiresSeconds: context.options.uploadUrlTtlSeconds,
  });
  res.status(200).json({ requestId: randomUUID(), data: { fileId, uploadFileUrl } });
}

function completeUpload(context: EmulatorContext, fileId: string, res: Response): void {
  const record = context.files.get(fileId);
  if (!record) {
    res.status(404).json({ detail: 'File not found' });
    return;
  }
  if (!record.object) {
    res.status(400).json({ detail: 'File has not been uploaded to the upload URL' });
    return;
  }
  const maxBytes = context.options.maxFileBytes;
  if (record.object.size > maxBytes) {
    context.files.deleteObject(record);
    res.status(400).json({
      detail: `File size exceeds the maximum of ${describeSize(maxBytes)}; the file was deleted`,
    });
    return;
  }
  record.uploadCompleted = true;
  context.stats.completes += 1;
  res.status(200).json({ requestId: randomUUID(), data: { fileId } });
}

function getFile(context: EmulatorContext, fileId: string, res: Response): void {
  const record = context.files.get(fileId);
  if (!record) {
    res.status(404).json({ detail: 'File not found' });
    return;
  }
  const data: Record<string, unknown> = { fileId };
  if (record.uploadCompleted) {
    data.fileUrl = context.signer.presign({
      method: 'GET',
      origin: context.publicOrigin,
      path: record.storagePath,
      nowMs: context.options.now(),
      expiresSeconds: FILE_URL_TTL_SECONDS,
    });
  }
  // NOTE: Connecteam does not define fileType. The emulator returns the MIME type.
  Object.assign(data, {
    uploadCompleted: record.uploadCompleted,
    fileType: record.fileType,
    featureType: record.featureType,
  });
  res.status(200).json({ requestId: randomUUID(), data });
}

/** Formats the size limit as Connecteam's documentation does ("1 GB") when it is 2^30. */
function describeSize(bytes: number): string {
  return bytes === 2 ** 30 ? '1 GB (1073741824 bytes)' : `${bytes} bytes`;
}
