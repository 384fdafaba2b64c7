import { FileStore, type FileRecord, type ObjectData } from '../../src/emulator/file-store';

function record(fileId: string): FileRecord {
  return {
    fileId,
    fileName: `${fileId}.bin`,
    featureType: 'chat',
    fileType: 'application/octet-stream',
    storagePath: `/storage/bucket/${fileId}/${fileId}.bin`,
    uploadCompleted: false,
  };
}

function object(size: number): ObjectData {
  return {
    size,
    sha256: 'a'.repeat(64),
    etag: '"x"',
    contentType: 'x/y',
    body: Buffer.alloc(size),
  };
}

describe('FileStore', () => {
  it('drops the oldest kept bodies beyond the total budget', () => {
    const store = new FileStore(250);
    const records = ['one', 'two', 'three'].map(record);
    for (const entry of records) {
      store.add(entry);
      store.putObject(entry, object(100));
    }
    expect(store.snapshot('one')?.body).toBeUndefined();
    expect(store.snapshot('one')?.size).toBe(100);
    expect(store.snapshot('two')?.body?.length).toBe(100);
    expect(store.snapshot('three')?.body?.length).toBe(100);
  });

  it('frees the budget of replaced and deleted objects', () => {
    const store = new FileStore(200);
    const first = record('first');
    const second = record('second');
    store.add(first);
    store.add(second);
    store.putObject(first, object(100));
    store.putObject(first, object(100));
    store.deleteObject(first);
    store.putObject(second, object(200));
    expect(store.snapshot('first')).toBeUndefined();
    expect(store.snapshot('second')?.body?.length).toBe(200);
  });

  it('reports whether a body can be kept at all', () => {
    const store = new FileStore(10);
    expect(store.canKeep(10)).toBe(true);
    expect(store.canKeep(11)).toBe(false);
  });
});
