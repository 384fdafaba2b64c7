import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One exchange that passed through the forwarder. */
export interface ForwardedExchange {
  method: string;
  /** Path and query as the client sent them. */
  url: string;
  status: number;
  headers: IncomingHttpHeaders;
  /** The response body as text, cut at 64 KiB. */
  body: string;
}

/**
 * An HTTP forwarder on a loopback port that passes every request unchanged (Host header
 * included) to `target` and records the responses, so a test can see what the proxy received
 * from Connecteam and storage.
 */
export interface RecordingForwarder {
  origin: string;
  /** Origin that requests go to, set once the upstream listens. */
  target: string;
  readonly exchanges: ForwardedExchange[];
  close(): Promise<void>;
}

const MAX_RECORDED_BYTES = 64 * 1024;

/** Starts a forwarder on 127.0.0.1 and a free port. */
export async function startRecordingForwarder(): Promise<RecordingForwarder> {
  const exchanges: ForwardedExchange[] = [];
  const server: Server = createServer((incoming, outgoing) => {
    const upstream = request(`${forwarder.target}${incoming.url ?? '/'}`, {
      method: incoming.method,
      headers: incoming.headers,
      agent: false,
    });
    upstream.on('response', (response) => {
      const chunks: Buffer[] = [];
      let recorded = 0;
      response.on('data', (chunk: Buffer) => {
        if (recorded < MAX_RECORDED_BYTES) chunks.push(chunk);
        recorded += chunk.length;
      });
      response.on('end', () =>
        exchanges.push({
          method: incoming.method ?? '',
          url: incoming.url ?? '',
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: Buffer.concat(chunks).toString('utf8').slice(0, MAX_RECORDED_BYTES),
        }),
      );
      outgoing.writeHead(response.statusCode ?? 502, response.headers);
      response.pipe(outgoing);
      response.on('error', () => outgoing.destroy());
    });
    // An upstream reset or a client that goes away ends the other side the same way.
    upstream.on('error', () => outgoing.destroy());
    incoming.on('error', () => upstream.destroy());
    outgoing.on('close', () => {
      if (!outgoing.writableFinished) upstream.destroy();
    });
    incoming.pipe(upstream);
  });
  server.requestTimeout = 0;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const forwarder: RecordingForwarder = {
    origin: `http://127.0.0.1:${port}`,
    target: '',
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return forwarder;
}
