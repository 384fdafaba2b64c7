import request from 'supertest';
import { buildMultipart, MULTIPART_TYPE, type TestPart } from '../support/multipart';
import { makePdf, randomFile } from '../support/files';
import { startRecordingForwarder, type RecordingForwarder } from '../support/recording-forwarder';
import { send, type SendOptions, type SendResult } from '../support/send';
import { API_KEY, AUTH, TOKEN, startStack, type Stack } from '../support/stack';

/**
 * Drives the proxy to every outcome it has, with Connecteam and storage behind a recording
 * forwarder. Then it searches everything the proxy wrote (log lines, response headers and
 * bodies, metrics) for secrets and for upstream text.
 */

let stack: Stack;
let forwarder: RecordingForwarder;
/** Added to the clock of the emulator and the proxy, to expire URLs and reset quota windows. */
let skewMs = 0;
const responses: SendResult[] = [];

beforeAll(async () => {
  forwarder = await startRecordingForwarder();
  stack = await startStack({
    now: () => Date.now() + skewMs,
    env: {
      CONNECTEAM_BASE_URL: forwarder.origin,
      UPLOAD_URL_ALLOWED_HOSTS: forwarder.origin,
      MAX_FILE_BYTES: String(1024 * 1024),
      CLIENT_IDLE_TIMEOUT_SECONDS: '0.5',
      UPSTREAM_TIMEOUT_SECONDS: '0.3',
      STORAGE_RESPONSE_TIMEOUT_SECONDS: '0.5',
      GENERATE_RETRY_BUDGET_SECONDS: '0.5',
      COMPLETE_RETRY_BUDGET_SECONDS: '0.5',
      QUOTA_MAX_WAIT_SECONDS: '0',
    },
  });
  forwarder.target = stack.emulator.apiUrl;
  await runTour();
}, 60_000);

afterAll(async () => {
  await stack.close();
  await forwarder.close();
});

const pdf = makePdf();
const big = randomFile(300 * 1024);

function multipart(parts: TestPart[], options: SendOptions = {}): Promise<SendResult> {
  return send(`${stack.url}/v1/files`, {
    ...options,
    headers: { ...AUTH, 'content-type': MULTIPART_TYPE, ...options.headers },
    body: buildMultipart(parts),
  });
}

function raw(body: Buffer, options: SendOptions = {}, query = 'featureType=chat&fileName=a.bin') {
  return send(`${stack.url}/v1/files?${query}`, {
    ...options,
    headers: { ...AUTH, 'content-type': 'application/octet-stream', ...options.headers },
    body,
  });
}

const BASIC_CREDENTIAL = Buffer.from(`alpha:${TOKEN}`).toString('base64');
const chat = { name: 'featureType', value: 'chat' };
const pdfPart = { name: 'file', filename: 'report.pdf', content: pdf };
const bigPart = { name: 'file', filename: 'big.bin', content: big };

/** Steps that each arrange faults and then make one request, with the expected status. */
const TOUR: Array<[string, number | 'aborted', () => Promise<SendResult | undefined>]> = [
  ['multipart file', 201, () => multipart([chat, pdfPart])],
  ['two files without sizes', 201, () => multipart([chat, bigPart, pdfPart])],
  [
    'files with sizes',
    201,
    () => multipart([chat, { name: 'size', value: String(pdf.length) }, pdfPart]),
  ],
  ['featureType after the file', 201, () => multipart([pdfPart, chat])],
  ['raw body', 201, () => raw(big)],
  [
    'HTTP Basic credential',
    201,
    () => raw(pdf, { headers: { authorization: `Basic ${BASIC_CREDENTIAL}` } }),
  ],
  ['X-Api-Key credential', 201, () => raw(pdf, { headers: { 'x-api-key': TOKEN } })],
  ['chunked raw body', 201, () => raw(big, { chunked: true })],
  ['metadata of a file', 200, () => getFirstFile()],
  ['metadata of an unknown file', 404, () => getFile('no-such-file')],
  [
    'metadata while Connecteam fails',
    502,
    () => {
      stack.emulator.faults.failNext('get', 10, 500);
      return getFile('no-such-file');
    },
  ],
  ['no credential', 401, () => send(`${stack.url}/v1/files`, { body: pdf })],
  ['invalid featureType', 400, () => multipart([{ name: 'featureType', value: 'Chat' }, pdfPart])],
  [
    'invalid fileTypeHint',
    400,
    () => multipart([chat, { name: 'fileTypeHint', value: 'pdf' }, pdfPart]),
  ],
  ['no file', 400, () => multipart([chat])],
  [
    'duplicate parameter',
    400,
    () => raw(pdf, {}, 'featureType=chat&featureType=users&fileName=a.pdf'),
  ],
  ['file over the limit', 413, () => raw(randomFile(1024 * 1024 + 1))],
  [
    'multipart/mixed',
    415,
    () =>
      send(`${stack.url}/v1/files`, {
        headers: { ...AUTH, 'content-type': 'multipart/mixed; boundary=x' },
        body: pdf,
      }),
  ],
  [
    'cut-off multipart body',
    400,
    () =>
      send(`${stack.url}/v1/files`, {
        headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
        body: buildMultipart([chat, bigPart]).subarray(0, 100_000),
      }),
  ],
  [
    'generate rejected as invalid',
    400,
    () => {
      stack.emulator.faults.failNext('generate', 1, 422);
      return raw(pdf);
    },
  ],
  [
    'generate with a rejected key',
    502,
    () => {
      stack.emulator.faults.failNext('generate', 1, 401);
      return raw(pdf);
    },
  ],
  [
    'generate failing',
    502,
    () => {
      stack.emulator.faults.failNext('generate', 10, 503);
      return raw(pdf);
    },
  ],
  [
    'generate reset',
    502,
    () => {
      stack.emulator.faults.resetNext('generate', 10);
      return raw(pdf);
    },
  ],
  [
    'generate timing out',
    504,
    () => {
      stack.emulator.faults.delayNext('generate', 10, 1_000);
      return raw(pdf);
    },
  ],
  [
    'complete failing',
    502,
    () => {
      stack.emulator.faults.failNext('complete', 10, 500);
      return raw(pdf);
    },
  ],
  [
    'complete rejecting the file',
    413,
    () => {
      stack.emulator.faults.failNext('complete', 1, 400);
      return raw(pdf);
    },
  ],
  [
    'storage rejecting the signature',
    502,
    () => {
      stack.emulator.faults.failNext('storage', 1, 403, { code: 'SignatureDoesNotMatch' });
      return raw(big);
    },
  ],
  [
    'storage failing a streamed file',
    502,
    () => {
      stack.emulator.faults.failNext('storage', 1, 500, { afterBytes: 1000 });
      return raw(big);
    },
  ],
  [
    'storage failing a file from disk, then taking it',
    201,
    () => {
      stack.emulator.faults.failNext('storage', 1, 503);
      return raw(big, { chunked: true });
    },
  ],
  [
    'storage reset',
    502,
    () => {
      stack.emulator.faults.resetNext('storage', 1, { afterBytes: 1000 });
      return raw(big);
    },
  ],
  [
    'storage redirect',
    502,
    () => {
      stack.emulator.faults.redirectStorageNext(1, 'http://127.0.0.1:1/elsewhere');
      return raw(big);
    },
  ],
  [
    'storage stalling',
    504,
    () => {
      stack.emulator.faults.stallStorage(1, { afterBytes: 1000 });
      return raw(randomFile(1024 * 1024));
    },
  ],
  [
    'upload URL expired',
    504,
    () => {
      expireNextUploadUrl();
      return raw(big);
    },
  ],
  [
    'upload URL on another host',
    502,
    () => {
      stack.emulator.faults.uploadUrlOrigin = 'http://127.0.0.2:1';
      return raw(pdf);
    },
  ],
  ['client going away', 'aborted', () => raw(big, { abortAfterBytes: 100_000 })],
  ['client going silent', 408, () => raw(big, { stallAfterBytes: 100_000 })],
  [
    'Connecteam answering 200 Too many requests',
    429,
    () => {
      stack.emulator.faults.throttleNext('generate', 1, 'ok-200');
      return raw(pdf);
    },
  ],
  [
    'Connecteam answering 429',
    429,
    () => {
      stack.emulator.faults.throttleNext('generate', 1, '429');
      return raw(pdf);
    },
  ],
];

async function getFirstFile(): Promise<SendResult> {
  const uploaded = responses.find((response) => response.status === 201);
  return getFile(uploaded!.json.files[0].fileId);
}

function getFile(fileId: string): Promise<SendResult> {
  return send(`${stack.url}/v1/files/${fileId}`, { method: 'GET', headers: AUTH });
}

/** Moves both clocks past the URL's 300 s as soon as Connecteam has issued it. */
function expireNextUploadUrl(): void {
  const onCall = (event: { operation: string }) => {
    if (event.operation !== 'generate') return;
    stack.emulator.events.off('api-call', onCall);
    skewMs += 301_000;
  };
  stack.emulator.events.on('api-call', onCall);
}

const statuses = new Map<string, number | 'aborted'>();

async function runTour(): Promise<void> {
  for (const [name, , step] of TOUR) {
    stack.emulator.faults.reset();
    stack.emulator.faults.uploadUrlOrigin = forwarder.origin;
    // A new minute for both clocks, so a throttle in one step does not spill into the next.
    skewMs += 60_000;
    let response: SendResult | undefined;
    try {
      response = await step();
    } catch {
      statuses.set(name, 'aborted');
      continue;
    }
    statuses.set(name, response?.status ?? 'aborted');
    if (response) responses.push(response);
  }
  responses.push(toResult(await request(stack.url).get('/metrics')));
}

function toResult(response: request.Response): SendResult {
  return {
    status: response.status,
    headers: response.headers,
    text: response.text,
    json: undefined,
  };
}

/** Collects everything the proxy wrote that a caller, a log reader or a scraper can see. */
function proxyOutput(): string[] {
  return [
    ...stack.logs.raw,
    ...responses.map((response) => JSON.stringify(response.headers) + response.text),
  ];
}

function signaturesIn(text: string): string[] {
  return [...text.matchAll(/X-Amz-Signature=([0-9a-f]{64})/g)].map((match) => match[1]!);
}

/** Collects the signatures of the upload URLs and file URLs that Connecteam returned. */
function issuedSignatures(): { upload: string[]; download: string[] } {
  const upload: string[] = [];
  const download: string[] = [];
  for (const exchange of forwarder.exchanges) {
    if (!exchange.url.startsWith('/attachments/')) continue;
    const data = parseJson(exchange.body)?.data;
    if (typeof data?.uploadFileUrl === 'string') upload.push(...signaturesIn(data.uploadFileUrl));
    if (typeof data?.fileUrl === 'string') download.push(...signaturesIn(data.fileUrl));
  }
  return { upload, download };
}

/** Collects the free text Connecteam and storage sent: `detail` strings and S3 messages. */
function upstreamTexts(): string[] {
  const texts = new Set<string>();
  for (const exchange of forwarder.exchanges) {
    const detail = parseJson(exchange.body)?.detail;
    if (typeof detail === 'string') texts.add(detail);
    if (Array.isArray(detail)) for (const issue of detail) texts.add(String(issue?.msg));
    for (const match of exchange.body.matchAll(/<Message>([^<]+)<\/Message>/g)) {
      texts.add(match[1]!);
    }
  }
  return [...texts];
}

function parseJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Returns the secrets that occur in any of the texts. */
function leaks(texts: string[], secrets: string[]): string[] {
  return secrets.filter((secret) => texts.some((text) => text.includes(secret)));
}

describe('secrets tour', () => {
  it.each(TOUR.map(([name, status]) => [name, status]))(
    'reaches the expected status for %s',
    (name, status) => {
      expect(statuses.get(name as string)).toBe(status);
    },
  );

  it('collects the signatures storage needs', () => {
    const { upload, download } = issuedSignatures();

    expect(upload.length).toBeGreaterThanOrEqual(15);
    expect(download.length).toBeGreaterThan(0);
  });

  it('detects a full upload URL in its own check', () => {
    const url = parseJson(
      forwarder.exchanges.find((exchange) => exchange.body.includes('uploadFileUrl'))!.body,
    ).data.uploadFileUrl;
    const line = JSON.stringify({ level: 'debug', uploadUrl: url, msg: 'upload URL generated' });

    expect(leaks([line], issuedSignatures().upload)).not.toEqual([]);
  });

  it('writes the API key nowhere', () => {
    expect(leaks(proxyOutput(), [API_KEY, encodeURIComponent(API_KEY)])).toEqual([]);
  });

  it('logs no client token', () => {
    expect(leaks(stack.logs.raw, [TOKEN, BASIC_CREDENTIAL])).toEqual([]);
  });

  it('writes no upload URL signature anywhere', () => {
    expect(leaks(proxyOutput(), issuedSignatures().upload)).toEqual([]);
  });

  it('logs no file URL signature', () => {
    expect(leaks(stack.logs.raw, issuedSignatures().download)).toEqual([]);
  });

  it('logs upload URLs only without their query string', () => {
    const logged = stack.logs.lines.flatMap((line) =>
      typeof line.uploadUrl === 'string' ? [line.uploadUrl as string] : [],
    );

    expect(logged.length).toBeGreaterThan(0);
    for (const url of logged) expect(url).toMatch(/^[^?]*(\?\[redacted\])?$/);
  });

  it('echoes no upstream text in an error body', () => {
    const texts = upstreamTexts();
    const errorBodies = responses
      .filter((response) => response.status >= 400)
      .map((response) => response.text);

    expect(texts).toEqual(expect.arrayContaining(['Too many requests', 'Access Denied']));
    expect(leaks(errorBodies, texts)).toEqual([]);
  });
});
