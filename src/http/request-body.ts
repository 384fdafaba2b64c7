import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { ClientAbortedError } from '../errors';

/**
 * Hands the request body to the upload pipeline through a stream that can be failed on its
 * own: when the proxy gives up on an upload (idle timeout, a limit), it detaches this stream
 * with the reason and can still respond on the open socket.
 */
export class RequestBody {
  readonly stream = new PassThrough({ highWaterMark: 64 * 1024 });

  constructor(private readonly request: IncomingMessage) {
    // Readers see a failure through their own reads; this listener keeps an unread one quiet.
    this.stream.on('error', () => undefined);
    request.pipe(this.stream);
    request.on('error', () => this.detach(new ClientAbortedError()));
    request.on('close', () => {
      if (!request.complete) this.detach(new ClientAbortedError());
    });
  }

  /** Stops feeding the pipeline; readers still waiting fail with `reason`. */
  detach(reason?: Error): void {
    this.request.unpipe(this.stream);
    if (!this.stream.destroyed) this.stream.destroy(reason);
  }
}

/**
 * Discards body bytes left unread after an early response for a short while, so the caller
 * gets to read the response, then closes the connection.
 */
export function discardRemainingBody(request: IncomingMessage, response: ServerResponse): void {
  if (request.complete || request.destroyed) return;
  response.setHeader('Connection', 'close');
  const socket = request.socket;
  // Node ends and destroys a closing connection as soon as the response is written. Body bytes
  // that arrive after that make the kernel reset the connection, and a reset can discard the
  // response before the caller reads it. So the socket only ends its sending side here, and
  // closes once the caller closes its side or the grace period is over.
  socket.destroySoon = () => socket.end();
  request.resume();
  const timer = setTimeout(() => socket.destroy(), 2_000);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}
