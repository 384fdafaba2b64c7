import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { StoragePutEvent } from '../../src/emulator/context';
import { buildMultipart, MULTIPART_TYPE } from '../support/multipart';
import { randomFile, sha256 } from '../support/files';
import { send } from '../support/send';
import { AUTH, startStack, type Stack } from '../support/stack';

let stack: Stack;
const puts: StoragePutEvent[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  stack = await startStack({
    env: {
      CLIENT_IDLE_TIMEOUT_SECONDS: '0.5',
      KEEP_ALIVE_TIMEOUT_SECONDS: '1',
      HEADERS_TIMEOUT_SECONDS: '1.5',
      MAX_CONNECTIONS: '4',
    },
  });
  stack.emulator.events.on('storage-put', (event) => puts.push(event));
});

afterAll(async () => {
  await stack.close();
});

beforeEach(() => {
  puts.length = 0;
  stack.emulator.stats.reset();
});

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

const port = () => Number(new URL(stack.url).port);

/** Opens a connection that the test closes itself. */
async function open(): Promise<Socket> {
  const socket = connect(port(), '127.0.0.1');
  socket.on('error', () => undefined);
  sockets.push(socket);
  await new Promise((resolve) => socket.once('connect', resolve));
  return socket;
}

/** Resolves with what the server sent once it closes the connection, or after `ms`. */
function closedWithin(socket: Socket, ms: number): Promise<{ closed: boolean; data: string }> {
  return new Promise((resolve) => {
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    const timer = setTimeout(() => resolve({ closed: false, data }), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, data });
    });
  });
}

describe('slow request headers', () => {
  it('answers 408 to trickling headers', async () => {
    const socket = await open();
    const started = Date.now();
    const outcome = closedWithin(socket, 5_000);
    socket.write('POST /v1/files HTTP/1.1\r\nHost: proxy\r\n');
    const trickle = (async () => {
      for (let i = 0; i < 40 && !socket.destroyed; i += 1) {
        socket.write(`X-Slow-${i}: 1\r\n`);
        await sleep(100);
      }
    })();

    const { closed, data } = await outcome;
    await trickle;

    expect(closed).toBe(true);
    expect(data).toMatch(/^HTTP\/1\.1 408 /);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('closes a connection that sends nothing', async () => {
    const socket = await open();
    const started = Date.now();

    const { closed } = await closedWithin(socket, 5_000);

    expect(closed).toBe(true);
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});

describe('idle request bodies', () => {
  const content = randomFile(256 * 1024);

  it.each([
    [
      'a multipart file with an inferred size',
      MULTIPART_TYPE,
      buildMultipart([
        { name: 'featureType', value: 'chat' },
        { name: 'file', filename: 'a.bin', content },
      ]),
      '',
      false,
    ],
    ['a raw body', 'application/octet-stream', content, '?featureType=chat&fileName=a.bin', false],
    [
      'a chunked raw body',
      'application/octet-stream',
      content,
      '?featureType=chat&fileName=a.bin',
      true,
    ],
  ])('answers 408 and stores nothing for %s', async (_case, type, body, query, chunked) => {
    const response = await send(`${stack.url}/v1/files${query}`, {
      headers: { ...AUTH, 'content-type': type },
      body,
      chunked,
      stallAfterBytes: 128 * 1024,
    });

    expect(response.status).toBe(408);
    expect(response.json.error.code).toBe('client_timeout');
    expect(stack.emulator.stats.completes).toBe(0);
    expect(stack.emulator.stats.calls.complete.total).toBe(0);
    expect(puts.filter((put) => put.status === 200)).toEqual([]);
    expect(readdirSync(stack.spoolDir)).toEqual([]);
  });

  it('aborts the storage PUT of a stalled streamed file', async () => {
    const response = await send(`${stack.url}/v1/files?featureType=chat&fileName=a.bin`, {
      headers: { ...AUTH, 'content-type': 'application/octet-stream' },
      body: content,
      stallAfterBytes: 128 * 1024,
    });

    expect(response.status).toBe(408);
    await waitFor(() => puts.length > 0);
    expect(puts[0]!.status).not.toBe(200);
    expect(puts[0]!.received).toBeLessThan(content.length);
  });

  it('lets a slow but moving body finish', async () => {
    const small = randomFile(8 * 1024);

    const response = await send(`${stack.url}/v1/files?featureType=chat&fileName=slow.bin`, {
      headers: { ...AUTH, 'content-type': 'application/octet-stream' },
      body: small,
      chunkSize: 1024,
      delayMs: 200,
    });

    expect(response.status).toBe(201);
    expect(response.json.files[0].sha256).toBe(sha256(small));
  });
});

describe('connection cap', () => {
  it('drops connections over MAX_CONNECTIONS', async () => {
    const openSockets = await Promise.all([open(), open(), open(), open()]);

    const extra = await open();
    const dropped = await closedWithin(extra, 2_000);

    expect(dropped.closed).toBe(true);
    expect(dropped.data).toBe('');

    openSockets[0]!.destroy();
    await sleep(100);
    const after = await open();
    const answered = closedWithin(after, 2_000);
    after.end('GET /healthz HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n');
    expect((await answered).data).toMatch(/^HTTP\/1\.1 200 /);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await sleep(10);
  expect(condition()).toBe(true);
}
