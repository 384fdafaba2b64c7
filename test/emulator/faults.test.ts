import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { Emulator } from '../../src/emulator/emulator';
import {
  callApi,
  generate,
  putStorage,
  s3Code,
  startTestEmulator,
  type StorageResponse,
} from './helpers';

const GENERATE = '/attachments/v1/files/generate-upload-url';
const PDF = { fileName: 'report.pdf', featureType: 'chat' };
const complete = (fileId: string) => `/attachments/v1/files/complete-upload/${fileId}`;
const file = (fileId: string) => `/attachments/v1/files/${fileId}`;

let emulator: Emulator;

beforeAll(async () => {
  emulator = await startTestEmulator({ storageIdleTimeoutMs: 300 });
});

afterAll(() => emulator.close());

beforeEach(() => {
  emulator.faults.reset();
  emulator.stats.reset();
});

function callGenerate() {
  return callApi(emulator, 'POST', GENERATE, { body: PDF });
}

/**
 * Sends `firstPart` of a body that declares `totalBytes`, and the rest only if no response came
 * within 200 ms. Resolves with the response and whether it came before the rest was sent.
 */
function putInParts(
  url: string,
  firstPart: Buffer,
  totalBytes: number,
): Promise<StorageResponse & { early: boolean }> {
  return new Promise((resolve) => {
    let early = true;
    const req = httpRequest(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/pdf', 'content-length': totalBytes },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          code: s3Code(text),
          early,
        });
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      resolve({ status: 0, headers: {}, text: '', code: error.code, early });
    });
    req.write(firstPart);
    setTimeout(() => {
      early = false;
      req.end(Buffer.alloc(totalBytes - firstPart.length));
    }, 200);
  });
}

describe('EmulatorFaults API faults', () => {
  it('fails the next calls with the status, then serves again', async () => {
    emulator.faults.failNext('generate', 2, 502);
    const first = await callGenerate();
    const second = await callGenerate();
    const third = await callGenerate();
    expect(first.status).toBe(502);
    expect(first.json).toEqual({ detail: 'Bad Gateway' });
    expect(first.headers['x-ratelimit-minute-remaining']).toBe('100');
    expect(second.status).toBe(502);
    expect(third.status).toBe(200);
    expect(third.headers['x-ratelimit-minute-remaining']).toBe('99');
    expect(emulator.stats.calls.generate).toEqual({
      total: 3,
      byStatus: { 200: 1, 502: 2 },
      resets: 0,
    });
  });

  it('defaults to 503 and targets only its operation', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    await putStorage(uploadFileUrl, Buffer.from('abc'));
    emulator.faults.failNext('complete');
    emulator.faults.failNext('get');
    expect((await callGenerate()).status).toBe(200);
    expect((await callApi(emulator, 'PUT', complete(fileId))).status).toBe(503);
    expect((await callApi(emulator, 'PUT', complete(fileId))).status).toBe(200);
    expect((await callApi(emulator, 'GET', file(fileId))).status).toBe(503);
    expect(emulator.faults.pending('get')).toBe(0);
  });

  it('runs queued actions in order', async () => {
    emulator.faults.failNext('generate', 1, 500);
    emulator.faults.resetNext('generate', 1);
    expect((await callGenerate()).status).toBe(500);
    await expect(callGenerate()).rejects.toThrow();
    expect((await callGenerate()).status).toBe(200);
    expect(emulator.stats.calls.generate.resets).toBe(1);
  });

  it('throttles with 429 and minute remaining 0', async () => {
    emulator.faults.throttleNext('generate', 1, '429');
    const response = await callGenerate();
    expect(response.status).toBe(429);
    expect(response.json).toEqual({ detail: 'Too many requests' });
    expect(response.headers['x-ratelimit-minute-remaining']).toBe('0');
    expect(response.headers['retry-after']).toBeUndefined();
    expect(emulator.stats.tooManyRequests).toBe(1);
  });

  it('throttles with HTTP 200 and a detail body', async () => {
    emulator.faults.throttleNext('complete', 1, 'ok-200');
    const response = await callApi(emulator, 'PUT', complete('any'));
    expect(response.status).toBe(200);
    expect(response.json).toEqual({ detail: 'Too many requests' });
    expect(response.headers['x-ratelimit-minute-remaining']).toBe('0');
    expect(emulator.stats.throttledOk).toBe(1);
  });

  it('delays the next calls and the standing delay delays all', async () => {
    emulator.faults.delayNext('get', 1, 150);
    let started = Date.now();
    expect((await callApi(emulator, 'GET', file('x'))).status).toBe(404);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    emulator.faults.apiDelayMs = 100;
    started = Date.now();
    expect((await callGenerate()).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('applies faults only after the key check', async () => {
    emulator.faults.failNext('generate');
    const wrongKey = await callApi(emulator, 'POST', GENERATE, { body: PDF, key: 'wrong' });
    expect(wrongKey.status).toBe(401);
    expect(emulator.faults.pending('generate')).toBe(1);
  });
});

describe('EmulatorFaults storage faults', () => {
  it('fails after the body with S3 XML and stores nothing', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    emulator.faults.failNext('storage', 1, 500);
    emulator.faults.failNext('storage');
    const internal = await putStorage(uploadFileUrl, Buffer.from('abc'));
    const slowDown = await putStorage(uploadFileUrl, Buffer.from('abc'));
    expect(internal.status).toBe(500);
    expect(internal.code).toBe('InternalError');
    expect(slowDown.status).toBe(503);
    expect(slowDown.code).toBe('SlowDown');
    expect(emulator.object(fileId)).toBeUndefined();
    expect(emulator.stats.storageBytesReceived).toBe(6);
  });

  it('fails mid-body once afterBytes arrived', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    emulator.faults.failNext('storage', 1, 500, { afterBytes: 1000 });
    const response = await putInParts(uploadFileUrl, randomBytes(4000), 1024 * 1024);
    expect(response.early).toBe(true);
    expect(response.status).toBe(500);
    expect(response.code).toBe('InternalError');
    expect(emulator.object(fileId)).toBeUndefined();
  });

  it('resets the connection and keeps the earlier object', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    await putStorage(uploadFileUrl, Buffer.from('kept'));
    emulator.faults.resetNext('storage', 1, { afterBytes: 1000 });
    const response = await putInParts(uploadFileUrl, randomBytes(4000), 8000);
    expect(response.status).toBe(0);
    expect(response.code).toMatch(/^(ECONNRESET|EPIPE)$/);
    expect(emulator.object(fileId)?.body?.toString()).toBe('kept');
    expect(emulator.stats.calls.storage.resets).toBe(1);
  });

  it('stalls the body until RequestTimeout', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    emulator.faults.stallStorage(1, { afterBytes: 1 });
    const started = Date.now();
    const response = await putStorage(uploadFileUrl, randomBytes(4 * 1024 * 1024));
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(response.status).toBe(400);
    expect(response.code).toBe('RequestTimeout');
    expect(emulator.object(fileId)).toBeUndefined();
  });

  it('reads slowly with storageChunkDelayMs', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    emulator.faults.storageChunkDelayMs = 20;
    let chunks = 0;
    const count = () => (chunks += 1);
    emulator.events.on('storage-data', count);
    const started = Date.now();
    const response = await putStorage(uploadFileUrl, randomBytes(512 * 1024));
    emulator.events.off('storage-data', count);
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(20 * (chunks - 1));
    expect(chunks).toBeGreaterThan(2);
    expect(emulator.object(fileId)?.size).toBe(512 * 1024);
  });

  it('delays the start of a PUT', async () => {
    const { uploadFileUrl } = await generate(emulator);
    emulator.faults.delayNext('storage', 1, 150);
    const started = Date.now();
    const response = await putStorage(uploadFileUrl, Buffer.from('abc'));
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('redirects with 307 and stores nothing', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    emulator.faults.redirectStorageNext(1, 'http://elsewhere.example.test/bucket/key');
    const response = await putStorage(uploadFileUrl, Buffer.from('abc'));
    expect(response.status).toBe(307);
    expect(response.headers.location).toBe('http://elsewhere.example.test/bucket/key');
    expect(response.code).toBe('TemporaryRedirect');
    expect(emulator.object(fileId)).toBeUndefined();
  });
});

describe('EmulatorFaults quota switches', () => {
  it('sets what is left of the windows', async () => {
    emulator.faults.setQuota({ minuteRemaining: 1, dayRemaining: 50 });
    const last = await callGenerate();
    const limited = await callGenerate();
    expect(last.headers['x-ratelimit-minute-remaining']).toBe('0');
    expect(last.headers['x-ratelimit-day-remaining']).toBe('49');
    expect(limited.status).toBe(429);
  });

  it('changes the limits at runtime and reset restores them', async () => {
    emulator.faults.setLimits({ minute: 5, day: 7 });
    const changed = await callGenerate();
    expect(changed.headers['x-ratelimit-minute-limit']).toBe('5');
    expect(changed.headers['x-ratelimit-day-limit']).toBe('7');
    emulator.faults.reset();
    const restored = await callGenerate();
    expect(restored.headers['x-ratelimit-minute-limit']).toBe('100');
    expect(restored.headers['x-ratelimit-minute-remaining']).toBe('99');
  });

  it('reset clears queued and standing faults', async () => {
    emulator.faults.failNext('generate', 3);
    emulator.faults.apiDelayMs = 5000;
    emulator.faults.uploadUrlOrigin = 'http://storage.example.test';
    emulator.faults.reset();
    expect(emulator.faults.pending('generate')).toBe(0);
    expect(emulator.faults.apiDelayMs).toBe(0);
    expect(emulator.faults.uploadUrlOrigin).toBeUndefined();
    expect((await callGenerate()).status).toBe(200);
  });

  it('rejects invalid arguments', () => {
    expect(() => emulator.faults.failNext('generate', 1, 42)).toThrow(RangeError);
    expect(() => emulator.faults.failNext('generate', -1)).toThrow(RangeError);
    expect(() => emulator.faults.delayNext('get', 1, -5)).toThrow(RangeError);
    expect(() => (emulator.faults.uploadUrlOrigin = 'ftp://x')).toThrow(RangeError);
  });
});
