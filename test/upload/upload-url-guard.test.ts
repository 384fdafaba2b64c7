import { readdirSync } from 'node:fs';
import { buildMultipart, MULTIPART_TYPE } from '../support/multipart';
import { randomFile } from '../support/files';
import { send, type SendResult } from '../support/send';
import { AUTH, startStack, type Stack } from '../support/stack';
import { startTrap, type TrapServer } from '../support/trap-server';

let stack: Stack;
/** Same port as the emulator on another loopback address. */
let otherHost: TrapServer;
/** Same host as the emulator on another port. */
let otherPort: TrapServer;

beforeAll(async () => {
  stack = await startStack();
  const emulatorPort = Number(new URL(stack.emulator.storageOrigin).port);
  otherHost = await startTrap('127.0.0.2', emulatorPort);
  otherPort = await startTrap('127.0.0.1');
});

afterAll(async () => {
  await otherHost.close();
  await otherPort.close();
  await stack.close();
});

beforeEach(() => {
  stack.emulator.faults.reset();
  stack.emulator.stats.reset();
});

const content = randomFile(200 * 1024);

/** One upload of `content` along each path that asks for an upload URL. */
const PATHS: Array<[string, () => Promise<SendResult>]> = [
  [
    'a multipart file streamed with an inferred size',
    () =>
      send(`${stack.url}/v1/files`, {
        headers: { ...AUTH, 'content-type': MULTIPART_TYPE },
        body: buildMultipart([
          { name: 'featureType', value: 'chat' },
          { name: 'file', filename: 'a.bin', content },
        ]),
      }),
  ],
  [
    'a raw body with Content-Length',
    () =>
      send(`${stack.url}/v1/files?featureType=chat&fileName=a.bin`, {
        headers: { ...AUTH, 'content-type': 'application/octet-stream' },
        body: content,
      }),
  ],
  [
    'a chunked raw body uploaded from its disk copy',
    () =>
      send(`${stack.url}/v1/files?featureType=chat&fileName=a.bin`, {
        headers: { ...AUTH, 'content-type': 'application/octet-stream' },
        body: content,
        chunked: true,
      }),
  ],
];

function expectNothingStored(): void {
  expect(stack.emulator.stats.calls.storage.total).toBe(0);
  expect(stack.emulator.stats.storageBytesReceived).toBe(0);
  expect(stack.emulator.stats.completes).toBe(0);
  expect(stack.emulator.stats.calls.complete.total).toBe(0);
  expect(readdirSync(stack.spoolDir)).toEqual([]);
}

describe('upload URL allow-list', () => {
  it.each(PATHS)('sends no byte to a URL on another host for %s', async (_path, upload) => {
    stack.emulator.faults.uploadUrlOrigin = otherHost.origin;

    const response = await upload();

    expect(response.status).toBe(502);
    expect(response.json.error.code).toBe('upload_url_not_allowed');
    expect(otherHost.connections).toBe(0);
    expectNothingStored();
  });

  it.each(PATHS)('sends no byte to a URL on another port for %s', async (_path, upload) => {
    stack.emulator.faults.uploadUrlOrigin = otherPort.origin;

    const response = await upload();

    expect(response.status).toBe(502);
    expect(otherPort.connections).toBe(0);
    expectNothingStored();
  });

  it.each([
    ['another scheme', (port: string) => `https://127.0.0.1:${port}`],
    ['a host name that resolves to the emulator', (port: string) => `http://localhost:${port}`],
  ])('rejects a URL with %s', async (_case, origin) => {
    stack.emulator.faults.uploadUrlOrigin = origin(new URL(stack.emulator.storageOrigin).port);

    const [, upload] = PATHS[1]!;
    const response = await upload();

    expect(response.status).toBe(502);
    expect(response.json.error.code).toBe('upload_url_not_allowed');
    expectNothingStored();
  });

  it('logs the refused URL at error without its query string', async () => {
    stack.emulator.faults.uploadUrlOrigin = otherHost.origin;
    const before = stack.logs.lines.length;

    await PATHS[1]![1]();

    const [line] = stack.logs.lines
      .slice(before)
      .filter((entry) => entry.msg.startsWith('upload URL from Connecteam is outside'));
    expect(line?.level).toBe('error');
    expect(line?.uploadUrl).toMatch(new RegExp(`^${otherHost.origin}/.*\\?\\[redacted\\]$`));
  });
});

/** An empty file: a PUT without a body stream is the one an HTTP client could replay. */
const EMPTY_FILE: [string, () => Promise<SendResult>] = [
  'an empty raw body',
  () =>
    send(`${stack.url}/v1/files?featureType=chat&fileName=empty.txt`, {
      headers: { ...AUTH, 'content-type': 'text/plain' },
      body: Buffer.alloc(0),
    }),
];

describe('storage redirects', () => {
  it.each([...PATHS, EMPTY_FILE])('are not followed for %s', async (_path, upload) => {
    stack.emulator.faults.redirectStorageNext(3, `${otherPort.origin}/elsewhere`);

    const response = await upload();

    expect(response.status).toBe(502);
    expect(response.json.error.code).toBe('storage_redirect');
    expect(otherPort.connections).toBe(0);
    expect(stack.emulator.stats.calls.storage.byStatus[307]).toBe(1);
    expect(stack.emulator.stats.completes).toBe(0);
    expect(stack.emulator.stats.calls.complete.total).toBe(0);
    expect(readdirSync(stack.spoolDir)).toEqual([]);
  });
});
