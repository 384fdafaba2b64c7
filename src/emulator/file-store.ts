/** Connecteam features a file can be attached to. */
export const FEATURE_TYPES = ['chat', 'shiftscheduler', 'users', 'quicktasks'] as const;

/** One of {@link FEATURE_TYPES}. */
export type FeatureType = (typeof FEATURE_TYPES)[number];

/** The bytes of one object in storage, as the last successful PUT left them. */
export interface ObjectData {
  size: number;
  /** Hex SHA-256 digest of the content. */
  sha256: string;
  /** Quoted entity tag, as S3 sends it in the `ETag` header. */
  etag: string;
  /** `Content-Type` the PUT sent. */
  contentType: string;
  /** The content itself, for objects small enough to keep in memory. */
  body?: Buffer;
}

/** A file record, created by generate-upload-url. */
export interface FileRecord {
  fileId: string;
  fileName: string;
  featureType: FeatureType;
  /** MIME type from the `fileTypeHint`, or guessed from the file name. */
  fileType: string;
  /** Storage path of the object, each segment encoded, such as `/storage/bucket/id/a%20b.pdf`. */
  storagePath: string;
  object?: ObjectData;
  uploadCompleted: boolean;
}

/** Snapshot of a stored object for tests: its bytes and its file record. */
export interface StoredObject extends ObjectData {
  fileId: string;
  fileName: string;
  featureType: FeatureType;
  uploadCompleted: boolean;
}

/**
 * Every file record and stored object of one emulator. Kept contents share a byte budget:
 * when a new content would exceed it, the oldest kept contents are dropped, leaving their
 * size and digest.
 */
export class FileStore {
  private readonly files = new Map<string, FileRecord>();
  private readonly keptBodies = new Set<ObjectData>();
  private keptBytes = 0;

  constructor(private readonly maxKeptBytes: number) {}

  add(record: FileRecord): void {
    this.files.set(record.fileId, record);
  }

  get(fileId: string): FileRecord | undefined {
    return this.files.get(fileId);
  }

  /** Returns whether a body of `size` bytes fits in the budget at all. */
  canKeep(size: number): boolean {
    return size <= this.maxKeptBytes;
  }

  /** Replaces the file's object, as a successful PUT to its upload URL does. */
  putObject(record: FileRecord, object: ObjectData): void {
    this.deleteObject(record);
    record.object = object;
    if (object.body === undefined) return;
    this.keptBodies.add(object);
    this.keptBytes += object.size;
    for (const oldest of this.keptBodies) {
      if (this.keptBytes <= this.maxKeptBytes) break;
      this.dropBody(oldest);
    }
  }

  deleteObject(record: FileRecord): void {
    if (record.object) this.dropBody(record.object);
    record.object = undefined;
  }

  /** Returns a copy of the file's object and record, or undefined when nothing is stored. */
  snapshot(fileId: string): StoredObject | undefined {
    const record = this.files.get(fileId);
    if (!record?.object) return undefined;
    return {
      ...record.object,
      fileId: record.fileId,
      fileName: record.fileName,
      featureType: record.featureType,
      uploadCompleted: record.uploadCompleted,
    };
  }

  private dropBody(object: ObjectData): void {
    if (!this.keptBodies.delete(object)) return;
    this.keptBytes -= object.size;
    object.body = undefined;
  }
}
