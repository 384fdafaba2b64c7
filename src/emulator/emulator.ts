import { EventEmitter } from 'node:events';
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createApiApp } from './api-app';
import type { EmulatorContext, EmulatorEventMap } from './context';
import { EmulatorFaults } from './faults';
import { FileStore, type StoredObject } from './file-store';
import { resolveOptions, type EmulatorOptions } from './options';
import { AccountQuota } from './rate-limit';
import { UrlSigner } from './signing';
import { EmulatorStats } from './stats';
import { STORAGE_PREFIX, StorageRoutes } from './storage-routes';

export type { EmulatorOptions } from './options';
export type { StoredObject } from './file-store';
export type { ApiCallEvent, EmulatorEventMap, StorageDataEvent, StoragePutEvent } from './context';
export type { ApiOperation, EmulatorFaults, FaultOperation } from './faults';
export type { CallCounts, CountedOperation, EmulatorStats } from './stats';

/** A running emulator of Connecteam's Attachments API and of S3's pre-signed URLs. */
export interface Emulator {
  /** Base URL of the Attachments API on the listening address, such as `http://127.0.0.1:9090`. */
  apiUrl: string;
  /** `scheme://host:port` of the upload URLs it issues: the public URL when one is set. */
  storageOrigin: string;
  /** Switches that make the next requests fail, stall, slow down or get throttled. */
  faults: EmulatorFaults;
  /** Counters of requests, responses and bytes. */
  stats: EmulatorStats;
  /** Emits `storage-data` per body chunk, `storage-put` per finished PUT, `api-call` per call. */
  events: EventEmitter<EmulatorEventMap>;
  /** Returns the object stored for a file, or undefined before a successful PUT. */
  object(fileId: string): StoredObject | undefined;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

/**
 * Starts one HTTP server that serves Connecteam's Attachments API and, under `/storage/`, the
 * S3 pre-signed URLs it issues.
 *
 * @throws RangeError for invalid options, or the listen error, such as EADDRINUSE.
 */
export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  const resolved = resolveOptions(options);
  const scheduler = new Scheduler();
  const limits = { minute: resolved.minuteLimit, day: resolved.dayLimit };
  const quota = new AccountQuota(limits, resolved.now);
  const context: EmulatorContext = {
    options: resolved,
    publicOrigin: '',
    files: new FileStore(resolved.keptBodiesMaxTotalBytes),
    quota,
    faults: new EmulatorFaults(quota, limits),
    stats: new EmulatorStats(),
    events: new EventEmitter<EmulatorEventMap>(),
    signer: new UrlSigner(),
    schedule: (callback, ms) => scheduler.schedule(callback, ms),
  };
  const server = createRequestServer(context);
  await listen(server, resolved.host, resolved.port);
  const apiUrl = listeningOrigin(server.address() as AddressInfo);
  context.publicOrigin = resolved.publicUrl ?? apiUrl;
  let closing: Promise<void> | undefined;
  return {
    apiUrl,
    storageOrigin: context.publicOrigin,
    faults: context.faults,
    stats: context.stats,
    events: context.events,
    object: (fileId) => context.files.snapshot(fileId),
    close: () => {
      closing ??= closeServer(server, scheduler);
      return closing;
    },
  };
}

function createRequestServer(context: EmulatorContext): Server {
  const app = createApiApp(context);
  const storage = new StorageRoutes(context);
  const route = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => {
    if (req.url?.startsWith(STORAGE_PREFIX)) {
      storage.handle(req, res, expectsContinue);
      return;
    }
    if (expectsContinue) res.writeContinue();
    void app(req, res);
  };
  const server = createServer();
  // Node's default 300 s request timeout would cut long uploads, so only
  // storageIdleTimeoutMs ends stalled senders.
  server.requestTimeout = 0;
  server.on('request', (req, res) => route(req, res, false));
  server.on('checkContinue', (req, res) => route(req, res, true));
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // Node.js 20 reports a sender that half-closes in the middle of a body this way.
    if (error.code === 'HPE_INVALID_EOF_STATE' && storage.handleEndOfInput(socket)) return;
    respondToClientError(error, socket);
  });
  return server;
}

/** Responds as Node.js does without a `clientError` listener: a bare 4xx, then close. */
function respondToClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  const response = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (error.code === 'ECONNRESET' || !socket.writable || response?.headersSent) {
    socket.destroy();
    return;
  }
  let status = 400;
  if (error.code === 'HPE_HEADER_OVERFLOW') status = 431;
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') status = 408;
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** `http://host:port` of the listening socket, with loopback for an unspecified address. */
function listeningOrigin(address: AddressInfo): string {
  let host = address.address;
  if (host === '0.0.0.0' || host === '::') host = '127.0.0.1';
  if (host.includes(':')) host = `[${host}]`;
  return `http://${host}:${address.port}`;
}

function closeServer(server: Server, scheduler: Scheduler): Promise<void> {
  scheduler.stop();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Timers of delays and pauses, all cancelled when the emulator closes. */
class Scheduler {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  schedule(callback: () => void, ms: number): { cancel(): void } {
    if (this.stopped) return { cancel: () => undefined };
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      callback();
    }, ms);
    this.timers.add(timer);
    return {
      cancel: () => {
        clearTimeout(timer);
        this.timers.delete(timer);
      },
    };
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
