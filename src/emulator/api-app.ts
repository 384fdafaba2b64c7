import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import { createApiHandlers } from './api-routes';
import type { EmulatorContext } from './context';
import type { ApiOperation } from './faults';
import { quotaHeaders, type QuotaSnapshot } from './rate-limit';
import type { CountedOperation } from './stats';

/** Route paths. FastAPI responds 405, not 404, to them with a method they do not serve. */
const KNOWN_PATHS = [
  /^\/attachments\/v1\/files\/[^/]+$/,
  /^\/attachments\/v1\/files\/complete-upload\/[^/]+$/,
];

/** Maximum size in bytes of a generate-upload-url body, so a runaway client cannot fill memory. */
const MAX_JSON_BYTES = 1024 * 1024;

/**
 * Creates the Express app of Connecteam's Attachments API. Every route runs the same guards in
 * order: count the call in the stats, check `X-API-KEY`, apply queued faults, count the call
 * against the account's quota.
 */
export function createApiApp(context: EmulatorContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // FastAPI matches paths case-sensitively, and Express does not by default.
  app.set('case sensitive routing', true);
  const handlers = createApiHandlers(context);
  const jsonBody = express.raw({ type: () => true, limit: MAX_JSON_BYTES });
  const files = '/attachments/v1/files';
  app.post(
    `${files}/generate-upload-url`,
    guards(context, 'generate'),
    jsonBody,
    handlers.generateUploadUrl,
  );
  app.put(`${files}/complete-upload/:fileId`, guards(context, 'complete'), handlers.completeUpload);
  app.get(`${files}/:fileId`, guards(context, 'get'), handlers.getFile);
  app.use(guards(context, 'other'), rejectUnknownRoute);
  app.use(createErrorHandler(context));
  return app;
}

function guards(context: EmulatorContext, operation: ApiOperation | 'other'): RequestHandler[] {
  const chain = [recordCall(context, operation), authenticate(context)];
  if (operation !== 'other') chain.push(applyFaults(context, operation));
  chain.push(countQuota(context));
  return chain;
}

function recordCall(context: EmulatorContext, operation: CountedOperation): RequestHandler {
  return (req, res, next) => {
    res.on('finish', () => {
      context.stats.recordResponse(operation, res.statusCode);
      const event = { operation, method: req.method, path: req.path, status: res.statusCode };
      context.events.emit('api-call', event);
    });
    next();
  };
}

function authenticate(context: EmulatorContext): RequestHandler {
  const accepted = context.options.apiKeys.map(digest);
  return (req, res, next) => {
    const key = req.get('x-api-key');
    const provided = key === undefined ? undefined : digest(key);
    if (provided && accepted.some((candidate) => timingSafeEqual(candidate, provided))) {
      next();
      return;
    }
    // A call with a wrong key belongs to no account, so it is not counted.
    res.set(quotaHeaders(context.quota.snapshot()));
    const detail = key === undefined ? 'Missing API key' : 'Invalid API key';
    res.status(401).json({ detail });
  };
}

function applyFaults(context: EmulatorContext, operation: ApiOperation): RequestHandler {
  return (req, res, next) => {
    const standingDelay = context.faults.apiDelayMs;
    const action = context.faults.take(operation);
    const act = () => {
      if (action?.kind === 'delay') {
        context.schedule(next, action.ms);
      } else if (action?.kind === 'fail') {
        res.set(quotaHeaders(context.quota.snapshot()));
        res.status(action.status).json({ detail: STATUS_CODES[action.status] ?? 'Error' });
      } else if (action?.kind === 'reset') {
        resetSocket(context, operation, req);
      } else if (action?.kind === 'throttle') {
        const spent = { ...context.quota.snapshot(), minuteRemaining: 0 };
        sendThrottled(context, res, action.mode === '429' ? 429 : 200, spent);
      } else {
        next();
      }
    };
    if (standingDelay > 0) context.schedule(act, standingDelay);
    else act();
  };
}

function countQuota(context: EmulatorContext): RequestHandler {
  return (_req, res, next) => {
    if (!context.quota.tryConsume()) {
      sendThrottled(context, res, 429, context.quota.snapshot());
      return;
    }
    res.set(quotaHeaders(context.quota.snapshot()));
    next();
  };
}

/**
 * Sends `Too many requests` with status 429, or with 200 as Connecteam has been reported to
 * send on some endpoints.
 */
function sendThrottled(
  context: EmulatorContext,
  res: Response,
  status: 200 | 429,
  snapshot: QuotaSnapshot,
): void {
  if (status === 429) context.stats.tooManyRequests += 1;
  else context.stats.throttledOk += 1;
  // Connecteam sends no Retry-After, so clients wait for x-ratelimit-minute-reset.
  res.set(quotaHeaders(snapshot));
  res.status(status).json({ detail: 'Too many requests' });
}

function resetSocket(context: EmulatorContext, operation: ApiOperation, req: Request): void {
  context.stats.recordReset(operation);
  context.events.emit('api-call', { operation, method: req.method, path: req.path, status: 0 });
  req.socket.destroy();
}

function rejectUnknownRoute(req: Request, res: Response): void {
  if (KNOWN_PATHS.some((path) => path.test(req.path))) {
    res.status(405).json({ detail: 'Method Not Allowed' });
    return;
  }
  res.status(404).json({ detail: 'Not Found' });
}

/**
 * Maps errors to FastAPI-style responses. Errors raised before the guards ran, such as a path
 * Express cannot decode, still get the quota headers.
 */
function createErrorHandler(context: EmulatorContext) {
  return (error: unknown, _req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(error);
      return;
    }
    if (!res.hasHeader('x-ratelimit-minute-limit')) {
      res.set(quotaHeaders(context.quota.snapshot()));
    }
    sendError(res, error);
  };
}

function sendError(res: Response, error: unknown): void {
  const status = (error as { status?: unknown }).status;
  if (status === 413) {
    res.status(413).json({ detail: `Request body is larger than ${MAX_JSON_BYTES} bytes` });
    return;
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    res.status(status).json({ detail: STATUS_CODES[status] ?? 'Bad Request' });
    return;
  }
  res.status(500).json({ detail: 'Internal Server Error' });
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
