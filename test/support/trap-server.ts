import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP listener that stands where no byte may go: it counts the connections and bytes it
 * receives, never answers, and drops each connection after its first bytes so that a sender
 * fails fast.
 */
export interface TrapServer {
  /** `http://host:port` of the listener. */
  origin: string;
  port: number;
  connections: number;
  bytes: number;
  close(): Promise<void>;
}

/** Listens on `host` (a loopback address) and `port`, 0 for a free one. */
export async function startTrap(host: string, port = 0): Promise<TrapServer> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    trap.connections += 1;
    sockets.add(socket);
    socket.on('data', (chunk: Buffer) => {
      trap.bytes += chunk.length;
      socket.destroy();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as { port: number };
  const trap: TrapServer = {
    origin: `http://${host}:${address.port}`,
    port: address.port,
    connections: 0,
    bytes: 0,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return trap;
}
