import type { Emulator } from '../../src/emulator/emulator';
import { callApi, generate, putStorage, startTestEmulator } from './helpers';

const GENERATE = '/attachments/v1/files/generate-upload-url';
const complete = (fileId: string) => `/attachments/v1/files/complete-upload/${fileId}`;
const file = (fileId: string) => `/attachments/v1/files/${fileId}`;

let emulator: Emulator;

beforeAll(async () => {
  emulator = await startTestEmulator({ maxFileBytes: 10 });
});

afterAll(() => emulator.close());

beforeEach(() => {
  emulator.faults.reset();
  emulator.stats.reset();
});

describe('API key check', () => {
  it('responds 401 with a detail when X-API-KEY is missing', async () => {
    const response = await callApi(emulator, 'GET', file('x'), { key: null });
    expect(response.status).toBe(401);
    expect(response.json).toEqual({ detail: 'Missing API key' });
  });

  it('responds 401 when the key is wrong', async () => {
    const response = await callApi(emulator, 'GET', file('x'), { key: 'wrong' });
    expect(response.status).toBe(401);
    expect(response.json).toEqual({ detail: 'Invalid API key' });
  });

  it('accepts every configured key', async () => {
    const other = await startTestEmulator({ apiKeys: ['first', 'second'] });
    try {
      const first = await callApi(other, 'GET', file('x'), { key: 'first' });
      const second = await callApi(other, 'GET', file('x'), { key: 'second' });
      expect(first.status).toBe(404);
      expect(second.status).toBe(404);
    } finally {
      await other.close();
    }
  });
});

describe('POST /attachments/v1/files/generate-upload-url', () => {
  it('returns a file id and a SigV4-style upload URL', async () => {
    const response = await callApi(emulator, 'POST', GENERATE, {
      body: { fileName: 'Q3 report (final).pdf', featureType: 'chat' },
    });
    expect(response.status).toBe(200);
    expect(response.json.requestId).toEqual(expect.any(String));
    const { fileId, uploadFileUrl } = response.json.data;
    expect(fileId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const url = new URL(uploadFileUrl);
    expect(url.origin).toBe(emulator.storageOrigin);
    expect(url.pathname).toBe(
      `/storage/connecteam-attachments/${fileId}/Q3%20report%20%28final%29.pdf`,
    );
    expect(url.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(url.searchParams.get('X-Amz-Credential')).toMatch(
      /^AKIA\w+\/\d{8}\/us-east-1\/s3\/aws4_request$/,
    );
    expect(url.searchParams.get('X-Amz-Date')).toMatch(/^\d{8}T\d{6}Z$/);
    expect(url.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('content-type;host');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(uploadFileUrl).toContain('X-Amz-SignedHeaders=content-type%3Bhost');
  });

  it('responds 422 in FastAPI shape for each invalid field', async () => {
    const response = await callApi(emulator, 'POST', GENERATE, {
      body: { fileName: '', featureType: 'email', fileTypeHint: 'pdf' },
    });
    expect(response.status).toBe(422);
    const locs = response.json.detail.map((issue: { loc: string[] }) => issue.loc.join('.'));
    expect(locs).toEqual(['body.fileName', 'body.featureType', 'body.fileTypeHint']);
    expect(response.json.detail[1]).toMatchObject({
      type: 'enum',
      msg: "Input should be 'chat', 'shiftscheduler', 'users' or 'quicktasks'",
      input: 'email',
    });
  });

  it('responds 422 for missing fields', async () => {
    const response = await callApi(emulator, 'POST', GENERATE, { body: {} });
    expect(response.status).toBe(422);
    expect(response.json.detail).toEqual([
      expect.objectContaining({
        type: 'missing',
        loc: ['body', 'fileName'],
        msg: 'Field required',
      }),
      expect.objectContaining({ type: 'missing', loc: ['body', 'featureType'] }),
    ]);
  });

  it('responds 422 for a fileName that is not a string', async () => {
    const response = await callApi(emulator, 'POST', GENERATE, {
      body: { fileName: 42, featureType: 'users' },
    });
    expect(response.status).toBe(422);
    expect(response.json.detail[0]).toMatchObject({
      type: 'string_type',
      loc: ['body', 'fileName'],
    });
  });

  it('responds 422 for malformed JSON', async () => {
    const response = await callApi(emulator, 'POST', GENERATE, {
      body: '{"fileName": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(422);
    expect(response.json.detail[0]).toMatchObject({
      type: 'json_invalid',
      msg: 'JSON decode error',
    });
  });

  it('responds 422 when the body is missing or not an object', async () => {
    const empty = await callApi(emulator, 'POST', GENERATE);
    const list = await callApi(emulator, 'POST', GENERATE, { body: [1, 2] });
    expect(empty.status).toBe(422);
    expect(empty.json.detail[0]).toMatchObject({ type: 'missing', loc: ['body'] });
    expect(list.status).toBe(422);
    expect(list.json.detail[0]).toMatchObject({ type: 'model_attributes_type', loc: ['body'] });
  });

  it('responds 400 when the type cannot be guessed from the extension', async () => {
    const response = await callApi(emulator, 'POST', GENERATE, {
      body: { fileName: 'data.unknownext', featureType: 'chat' },
    });
    expect(response.status).toBe(400);
    expect(response.json.detail).toMatch(/^Could not determine the file type/);
  });

  it('signs the fileTypeHint as the content type', async () => {
    const { uploadFileUrl } = await generate(emulator, {
      fileName: 'data.unknownext',
      featureType: 'quicktasks',
      fileTypeHint: 'application/x-custom',
    });
    const wrong = await putStorage(uploadFileUrl, Buffer.from('abc'), {
      contentType: 'application/octet-stream',
    });
    const right = await putStorage(uploadFileUrl, Buffer.from('abc'), {
      contentType: 'application/x-custom',
    });
    expect(wrong.status).toBe(403);
    expect(right.status).toBe(200);
  });

  it('issues upload URLs on the uploadUrlOrigin override', async () => {
    emulator.faults.uploadUrlOrigin = 'http://storage.example.test:8443';
    const { uploadFileUrl } = await generate(emulator);
    expect(new URL(uploadFileUrl).origin).toBe('http://storage.example.test:8443');
  });
});

describe('PUT /attachments/v1/files/complete-upload/{fileId}', () => {
  it('responds 404 for an unknown file id', async () => {
    const response = await callApi(
      emulator,
      'PUT',
      complete('00000000-0000-4000-8000-000000000000'),
    );
    expect(response.status).toBe(404);
    expect(response.json).toEqual({ detail: 'File not found' });
  });

  it('responds 400 before the object was uploaded', async () => {
    const { fileId } = await generate(emulator);
    const response = await callApi(emulator, 'PUT', complete(fileId));
    expect(response.status).toBe(400);
    expect(response.json.detail).toEqual(expect.any(String));
  });

  it('marks the file completed after an upload', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    await putStorage(uploadFileUrl, Buffer.from('0123456789'));
    const response = await callApi(emulator, 'PUT', complete(fileId));
    expect(response.status).toBe(200);
    expect(response.json.data).toEqual({ fileId });
    expect(emulator.object(fileId)?.uploadCompleted).toBe(true);
    expect(emulator.stats.completes).toBe(1);
  });

  it('responds 400 and deletes an object over maxFileBytes', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator);
    await putStorage(uploadFileUrl, Buffer.from('01234567890'));
    expect(emulator.object(fileId)?.size).toBe(11);
    const response = await callApi(emulator, 'PUT', complete(fileId));
    expect(response.status).toBe(400);
    expect(response.json.detail).toMatch(/exceeds the maximum of 10 bytes/);
    expect(emulator.object(fileId)).toBeUndefined();
    expect(emulator.stats.completes).toBe(0);
  });
});

describe('GET /attachments/v1/files/{fileId}', () => {
  it('responds 404 for an unknown file id', async () => {
    const response = await callApi(emulator, 'GET', file('no-such-file'));
    expect(response.status).toBe(404);
    expect(response.json).toEqual({ detail: 'File not found' });
  });

  it('returns metadata without fileUrl before completion', async () => {
    const { fileId } = await generate(emulator, { fileName: 'a.png', featureType: 'users' });
    const response = await callApi(emulator, 'GET', file(fileId));
    expect(response.status).toBe(200);
    expect(response.json.data).toEqual({
      fileId,
      uploadCompleted: false,
      fileType: 'image/png',
      featureType: 'users',
    });
  });

  it('returns a fileUrl that downloads the object after completion', async () => {
    const { fileId, uploadFileUrl } = await generate(emulator, {
      fileName: 'a.png',
      featureType: 'shiftscheduler',
    });
    await putStorage(uploadFileUrl, Buffer.from('pixels'), { contentType: 'image/png' });
    await callApi(emulator, 'PUT', complete(fileId));
    const response = await callApi(emulator, 'GET', file(fileId));
    expect(response.json.data).toMatchObject({ fileId, uploadCompleted: true });
    const download = await fetch(response.json.data.fileUrl);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('image/png');
    expect(await download.text()).toBe('pixels');
  });
});

describe('unknown API routes', () => {
  it('responds 404 for an unknown path', async () => {
    const response = await callApi(emulator, 'GET', '/attachments/v2/nothing');
    expect(response.status).toBe(404);
    expect(response.json).toEqual({ detail: 'Not Found' });
    expect(emulator.stats.calls.other.byStatus).toEqual({ 404: 1 });
  });

  it('matches paths case-sensitively', async () => {
    const response = await callApi(emulator, 'GET', '/Attachments/v1/files/abc');
    expect(response.status).toBe(404);
    expect(response.json).toEqual({ detail: 'Not Found' });
  });

  it('responds 405 for a route with another method', async () => {
    const response = await callApi(emulator, 'POST', file('abc'));
    expect(response.status).toBe(405);
    expect(response.json).toEqual({ detail: 'Method Not Allowed' });
  });

  it('responds 400 with quota headers to an undecodable path', async () => {
    const response = await callApi(emulator, 'GET', '/attachments/v1/files/%E0%A4%A');
    expect(response.status).toBe(400);
    expect(response.json).toEqual({ detail: 'Bad Request' });
    expect(response.headers['x-ratelimit-minute-limit']).toBe('100');
  });
});
