import type { EventEmitter } from 'node:events';
import type { EmulatorFaults } from './faults';
import type { FileStore } from './file-store';
import type { ResolvedOptions } from './options';
import type { AccountQuota } from './rate-limit';
import type { UrlSigner } from './signing';
import type { CountedOperation, EmulatorStats } from './stats';

/** A chunk of a storage PUT body arrived. */
export interface StorageDataEvent {
  /** Object key inside the bucket: `<fileId>/<fileName>`. */
  key: string;
  fileId: string;
  /** Size of this chunk. */
  bytes: number;
  /** Body bytes received so far by this PUT, this chunk included. */
  received: number;
}

/** A storage PUT ended, with a response or without one. */
export interface StoragePutEvent {
  key: string;
  fileId: string;
  /** HTTP status sent, or intended for a client that had gone. It is 0 for a reset. */
  status: number;
  /** S3 error code for failures, such as `IncompleteBody`. */
  code?: string;
  /** Body bytes received. */
  received: number;
}

/** An API call got a response or was reset. */
export interface ApiCallEvent {
  operation: CountedOperation;
  method: string;
  path: string;
  /** HTTP status sent, or 0 for a reset. */
  status: number;
}

/** Events of {@link Emulator.events}, by name. */
export interface EmulatorEventMap {
  'storage-data': [StorageDataEvent];
  'storage-put': [StoragePutEvent];
  'api-call': [ApiCallEvent];
}

/** Everything the route handlers of one emulator share. */
export interface EmulatorContext {
  options: ResolvedOptions;
  /** Origin of the emulator's own upload and file URLs. */
  publicOrigin: string;
  files: FileStore;
  quota: AccountQuota;
  faults: EmulatorFaults;
  stats: EmulatorStats;
  events: EventEmitter<EmulatorEventMap>;
  signer: UrlSigner;
  /** Runs `callback` after `ms` unless cancelled or the emulator closes first. */
  schedule(callback: () => void, ms: number): { cancel(): void };
}
