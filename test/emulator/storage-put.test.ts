import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { Emulator } from '../../src/emulator/emulator';
import type { StorageDataEvent, StoragePutEvent } from '../../src/emulator/context';
import {
  generate,
  putHead,
  putStorage,
  rawExchange,
  s3Code,
  sha256,
  startTestEmulator,
} from './helpers';

let emulator: Emulator;
let clockMs = Date.now();

beforeAll(async () => {
  emulator = await startTestEmulator({
    now: () => clockMs,
    storageIdleTimeoutMs: 300,
    keepBodiesUpToBytes: 64 * 1024,
  });
});

afterAll(() => emulator.close());

beforeEach(() => {
  // X-Amz-Date has whole seconds, so a whole-second clock makes the expiry exact.
  clockMs = Math.floor(Date.now() / 1000) * 1000;
  emulator.faults.reset();
  emulator.stats.reset();
});

describe('storage PUT', () => {
  it('stores the object and returns an ETag', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    const body = randomBytes(5000);
    const response = await putStorage(uploadFileUrl, body);
    expect(response.status).toBe(200);
    expect(response.headers.etag).toMatch(/^"[0-9a-f]{32}"$/);
    const stored = emulator.object(fileId);
    expect(stored?.size).toBe(5000);
    expect(stored?.sha256).toBe(sha256(body));
    expect(stored?.contentType).toBe('application/pdf');
    expect(stored?.body?.equals(body)).toBe(true);
    expect(stored?.uploadCompleted).toBe(false);
    expect(emulator.stats.calls.storage.byStatus[200]).toBe(1);
    expect(emulator.stats.storageBytesReceived).toBe(5000);
  });

  it('keeps only size and digest above keepBodiesUpToBytes', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    const body = randomBytes(64 * 1024 + 1);
    await putStorage(uploadFileUrl, body);
    expect(emulator.object(fileId)?.sha256).toBe(sha256(body));
    expect(emulator.object(fileId)?.body).toBeUndefined();
  });

  it('overwrites the object on a repeated PUT', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    await putStorage(uploadFileUrl, Buffer.from('first'));
    await putStorage(uploadFileUrl, Buffer.from('second!'));
    expect(emulator.object(fileId)?.body?.toString()).toBe('second!');
  });

  it('does not count against the API quota', async () => {
    const { uploadFileUrl } = await generate(emulator);
    emulator.faults.setQuota({ minuteRemaining: 0 });
    const response = await putStorage(uploadFileUrl, Buffer.from('abc'));
    expect(response.status).toBe(200);
    expect(response.headers['x-ratelimit-minute-remaining']).toBeUndefined();
  });

  it('emits storage-data while the client is still sending', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    const chunks: StorageDataEvent[] = [];
    const onData = (event: StorageDataEvent) => chunks.push(event);
    emulator.events.on('storage-data', onData);
    const half = randomBytes(256 * 1024);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(uploadFileUrl, {
        method: 'PUT',
        headers: { 'content-type': 'application/pdf', 'content-length': half.length * 2 },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(half);
      const waitForStorage = setInterval(() => {
        const received = chunks.reduce((sum, event) => sum + event.bytes, 0);
        if (received < half.length) return;
        clearInterval(waitForStorage);
        req.end(half);
      }, 5);
    });
    emulator.events.off('storage-data', onData);
    expect(status).toBe(200);
    expect(chunks[0]?.fileId).toBe(fileId);
    expect(chunks.at(-1)?.received).toBe(half.length * 2);
  });

  it('emits storage-put with the status', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    const puts: StoragePutEvent[] = [];
    emulator.events.on('storage-put', (event) => puts.push(event));
    await putStorage(uploadFileUrl, Buffer.from('abc'));
    await putStorage(uploadFileUrl, Buffer.from('abc'), { contentType: 'text/plain' });
    emulator.events.removeAllListeners('storage-put');
    expect(puts).toEqual([
      { key: `${fileId}/report.pdf`, fileId, status: 200, received: 3 },
      expect.objectContaining({ fileId, status: 403, code: 'SignatureDoesNotMatch' }),
    ]);
  });
});

describe('storage PUT checks', () => {
  it('responds 501 NotImplemented when the body is chunked', async () => {
    const { uploadFileUrl } = await generate(emulator);
    const head = putHead(uploadFileUrl, {
      'Content-Type': 'application/pdf',
      'Transfer-Encoding': 'chunked',
    });
    const raw = await rawExchange(uploadFileUrl, head, Buffer.from('3\r\nabc\r\n0\r\n\r\n'));
    expect(raw).toMatch(/^HTTP\/1\.1 501 /);
    expect(raw).toContain('content-type: application/xml');
    expect(s3Code(raw)).toBe('NotImplemented');
    expect(raw).toContain('<Header>Transfer-Encoding</Header>');
  });

  it('responds 411 MissingContentLength without a length', async () => {
    const { uploadFileUrl } = await generate(emulator);
    const head = putHead(uploadFileUrl, { 'Content-Type': 'application/pdf' });
    const raw = await rawExchange(uploadFileUrl, head, Buffer.alloc(0));
    expect(raw).toMatch(/^HTTP\/1\.1 411 /);
    expect(s3Code(raw)).toBe('MissingContentLength');
  });

  it('responds 403 SignatureDoesNotMatch for another content type', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    const response = await putStorage(uploadFileUrl, Buffer.from('abc'), {
      contentType: 'application/octet-stream',
    });
    expect(response.status).toBe(403);
    expect(response.headers['content-type']).toBe('application/xml');
    expect(response.code).toBe('SignatureDoesNotMatch');
    expect(response.text).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<Error><Code>/);
    expect(response.text).toMatch(/<RequestId>[0-9A-F]{16}<\/RequestId>/);
    expect(emulator.object(fileId)).toBeUndefined();
  });

  it('responds 403 SignatureDoesNotMatch without a content type', async () => {
    const { uploadFileUrl } = await generate(emulator);
    const response = await putStorage(uploadFileUrl, Buffer.from('abc'), { contentType: null });
    expect(response.code).toBe('SignatureDoesNotMatch');
  });

  it('responds 403 for a forged signature or changed parameter', async () => {
    const { uploadFileUrl } = await generate(emulator);
    const forged = new URL(uploadFileUrl);
    forged.searchParams.set('X-Amz-Signature', 'f'.repeat(64));
    const longer = new URL(uploadFileUrl);
    longer.searchParams.set('X-Amz-Expires', '3600');
    const otherFile = uploadFileUrl.replace('report.pdf', 'other.pdf');
    for (const url of [forged.href, longer.href, otherFile]) {
      const response = await putStorage(url, Buffer.from('abc'));
      expect(response.status).toBe(403);
      expect(response.code).toBe('SignatureDoesNotMatch');
    }
  });

  it('accepts a path encoded differently', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator, {
      fileName: 'notes~v2.txt',
      featureType: 'chat',
    });
    const reencoded = uploadFileUrl.replace('notes~v2.txt', 'notes%7Ev2%2Etxt');
    expect(reencoded).not.toBe(uploadFileUrl);
    const response = await putStorage(reencoded, Buffer.from('abc'), { contentType: 'text/plain' });
    expect(response.status).toBe(200);
    expect(emulator.object(fileId)?.size).toBe(3);
  });

  it('responds 403 AccessDenied without a query string', async () => {
    const { uploadFileUrl } = await generate(emulator);
    const response = await putStorage(uploadFileUrl.split('?')[0]!, Buffer.from('abc'));
    expect(response.status).toBe(403);
    expect(response.code).toBe('AccessDenied');
  });

  it('responds 403 when the Host header differs from the signed host', async () => {
    const { uploadFileUrl } = await generate(emulator);
    const response = await putStorage(uploadFileUrl, Buffer.from('abc'), {
      headers: { host: 'storage.example.test' },
    });
    expect(response.code).toBe('SignatureDoesNotMatch');
  });

  it('responds 403 AccessDenied once the URL has expired', async () => {
    const { uploadFileUrl } = await generate(emulator);
    clockMs += 300_000;
    const inTime = await putStorage(uploadFileUrl, Buffer.from('abc'));
    clockMs += 1000;
    const late = await putStorage(uploadFileUrl, Buffer.from('abc'));
    expect(inTime.status).toBe(200);
    expect(late.status).toBe(403);
    expect(late.code).toBe('AccessDenied');
    expect(late.text).toContain('<Message>Request has expired</Message>');
    expect(late.text).toContain('<X-Amz-Expires>300</X-Amz-Expires>');
  });

  it('honours a short uploadUrlTtlSeconds', async () => {
    const shortLived = await startTestEmulator({ uploadUrlTtlSeconds: 1, now: () => clockMs });
    try {
      const { uploadFileUrl } = await generate(shortLived);
      expect(new URL(uploadFileUrl).searchParams.get('X-Amz-Expires')).toBe('1');
      clockMs += 1001;
      const response = await putStorage(uploadFileUrl, Buffer.from('abc'));
      expect(response.status).toBe(403);
      expect(response.text).toContain('Request has expired');
    } finally {
      await shortLived.close();
    }
  });

  it('responds 400 IncompleteBody and stores nothing on a cut body', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    await putStorage(uploadFileUrl, Buffer.from('earlier'));
    const head = putHead(uploadFileUrl, {
      'Content-Type': 'application/pdf',
      'Content-Length': 100,
    });
    const raw = await rawExchange(uploadFileUrl, head, Buffer.alloc(40));
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(s3Code(raw)).toBe('IncompleteBody');
    expect(raw).toContain('<NumberBytesProvided>40</NumberBytesProvided>');
    expect(emulator.object(fileId)?.body?.toString()).toBe('earlier');
  });

  it('records IncompleteBody when the sender destroys the connection', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    const put = new Promise<StoragePutEvent>((resolve) => {
      emulator.events.once('storage-put', resolve);
    });
    const req = httpRequest(uploadFileUrl, {
      method: 'PUT',
      headers: { 'content-type': 'application/pdf', 'content-length': 1000 },
    });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(10), () => setTimeout(() => req.destroy(), 20));
    const event = await put;
    expect(event).toMatchObject({ fileId, status: 400, code: 'IncompleteBody' });
    expect(emulator.object(fileId)).toBeUndefined();
  });

  it('responds 400 RequestTimeout when the sender stalls', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    const head = putHead(uploadFileUrl, {
      'Content-Type': 'application/pdf',
      'Content-Length': 100,
    });
    const started = Date.now();
    const raw = await rawExchange(uploadFileUrl, head, Buffer.alloc(10), 'keep-open');
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(s3Code(raw)).toBe('RequestTimeout');
    expect(emulator.object(fileId)).toBeUndefined();
  });

  it('responds 400 EntityTooLarge above 5 GiB', async () => {
    const { uploadFileUrl } = await generate(emulator);
    const head = putHead(uploadFileUrl, {
      'Content-Type': 'application/pdf',
      'Content-Length': 5 * 1024 ** 3 + 1,
    });
    const raw = await rawExchange(uploadFileUrl, head, Buffer.alloc(0));
    expect(s3Code(raw)).toBe('EntityTooLarge');
  });

  it('sends 100 Continue only to an accepted PUT', async () => {
    const { uploadFileUrl } = await generate(emulator);
    const wrongType = putHead(uploadFileUrl, {
      'Content-Type': 'text/plain',
      'Content-Length': 3,
      Expect: '100-continue',
    });
    const rejected = await rawExchange(uploadFileUrl, wrongType, Buffer.alloc(0), 'keep-open');
    expect(rejected).toMatch(/^HTTP\/1\.1 403 /);
    const accepted = await putStorage(uploadFileUrl, Buffer.from('abc'), {
      headers: { expect: '100-continue' },
    });
    expect(accepted.status).toBe(200);
  });
});
