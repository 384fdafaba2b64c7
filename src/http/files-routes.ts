import { Router, type Request, type Response } from 'express';
import type { ConnecteamClient } from '../connecteam/connecteam-client';
import type { FeatureType } from '../connecteam/feature-types';
import {
  ClientAbortedError,
  ClientTimeoutError,
  FeatureTypeForbiddenError,
  InvalidRequestError,
  UnsupportedMediaTypeError,
  UpstreamTimeoutError,
} from '../errors';
import type { Metrics } from '../metrics/metrics';
import { readQueryParameters } from '../upload/file-parameters';
import type { IdempotencyStore } from '../idempotency/idempotency-store';
import { IdleWatch } from '../upload/idle-watch';
import { PartialUploadError, receiveMultipart, type ReceiveContext } from '../upload/receive-files';
import { receiveRaw } from '../upload/receive-raw';
import type { Uploader } from '../upload/uploader';
import { idempotentRequests } from './idempotency';
import type { UploadAdmission } from './upload-admission';
import { RequestBody, discardRemainingBody } from './request-body';

export interface FilesRoutesOptions {
  uploader: Uploader;
  client: ConnecteamClient;
  metrics: Metrics;
  admission: UploadAdmission;
  clientFeatureTypes: ReadonlyMap<string, readonly FeatureType[]>;
  clientIdleTimeoutMs: number;
  maxFilesPerRequest: number;
  idempotency: IdempotencyStore;
}

const FILE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Builds the `/v1/files` routes, which run after the caller is authenticated. */
export function filesRoutes(options: FilesRoutesOptions): Router {
  const router = Router();
  router.post(
    '/v1/files',
    idempotentRequests(options.idempotency, options.metrics),
    (request, response) => uploadFiles(request, response, options),
  );
  router.get('/v1/files/:fileId', async (request, response) => {
    const fileId = String(request.params.fileId);
    if (!FILE_ID.test(fileId)) {
      throw new InvalidRequestError(
        'invalid_file_id',
        'fileId must be the id returned by POST /v1/files',
      );
    }
    const controller = abortOnClose(response);
    const metadata = await options.client.getFile(fileId, {
      signal: controller.signal,
      log: request.log,
    });
    response.json({ file: metadata });
  });
  return router;
}

async function uploadFiles(
  request: Request,
  response: Response,
  options: FilesRoutesOptions,
): Promise<void> {
  const client = String(response.locals.client);
  const kind = bodyKind(request.headers['content-type']);
  const query = readQueryParameters(new URL(request.originalUrl, 'http://proxy').searchParams);
  const release = options.admission.enter(client);
  const controller = abortOnClose(response);
  const body = new RequestBody(request);
  controller.signal.addEventListener(
    'abort',
    () => body.detach(controller.signal.reason as Error),
    { once: true },
  );
  const idle = new IdleWatch(options.clientIdleTimeoutMs, (storageStalled) =>
    controller.abort(
      storageStalled
        ? new UpstreamTimeoutError('storage_timeout', 'storage stopped taking the file’s bytes')
        : new ClientTimeoutError(options.clientIdleTimeoutMs),
    ),
  );
  const context: ReceiveContext = {
    uploader: options.uploader,
    metrics: options.metrics,
    log: request.log,
    signal: controller.signal,
    idle,
    client,
    query,
    maxFiles: options.maxFilesPerRequest,
    authorizeFeatureType: (featureType) => {
      const allowed = options.clientFeatureTypes.get(client);
      if (allowed !== undefined && !allowed.includes(featureType)) {
        throw new FeatureTypeForbiddenError(client, featureType, allowed);
      }
    },
  };
  try {
    const files =
      kind === 'multipart'
        ? await receiveMultipart(body.stream, request.headers, context)
        : await receiveRaw(body.stream, request.headers, context);
    response.status(201).json({ files });
  } catch (error) {
    if (controller.signal.aborted && !(controller.signal.reason instanceof ClientAbortedError)) {
      // The abort's reason (idle caller, stalled storage) is what the caller must hear, but
      // files that landed before it still belong in the response.
      const reason = controller.signal.reason as Error;
      throw error instanceof PartialUploadError
        ? new PartialUploadError(reason, error.landed)
        : reason;
    }
    throw error;
  } finally {
    idle.pause();
    release();
    body.detach();
    discardRemainingBody(request, response);
  }
}

function bodyKind(contentType: string | undefined): 'multipart' | 'raw' {
  const type = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'multipart/form-data') return 'multipart';
  if (type.startsWith('multipart/')) {
    throw new UnsupportedMediaTypeError(
      `${type} is not supported; send multipart/form-data, or the file itself as the body`,
    );
  }
  return 'raw';
}

/** Returns a controller that aborts when the caller disconnects before the response is sent. */
function abortOnClose(response: Response): AbortController {
  const controller = new AbortController();
  response.on('close', () => {
    if (!response.writableFinished) controller.abort(new ClientAbortedError());
  });
  return controller;
}
