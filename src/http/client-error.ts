import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

const PROBLEMS: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    code: 'headers_too_large',
    message: 'the request headers exceed 16 KiB; send fewer or shorter headers',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'headers_timeout',
    message: 'the request headers did not arrive in time',
  },
};

/**
 * Responds in the proxy's JSON error shape, instead of a bare status line, to requests that
 * Node's HTTP parser rejects before express receives them (malformed request lines, oversized or
 * slow headers), then closes the connection.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket, log: Logger): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const problem = PROBLEMS[error.code ?? ''] ?? {
    status: 400,
    code: 'malformed_request',
    message:
      'the HTTP request is malformed; check the request line, Content-Length and Transfer-Encoding',
  };
  // The request never got far enough for its own X-Request-Id to be read, so one is made.
  const requestId = randomUUID();
  log.info(
    { code: error.code, requestId, remoteAddress: socket.remoteAddress },
    'malformed HTTP request rejected',
  );
  const body = JSON.stringify({
    error: { code: problem.code, message: problem.message },
    requestId,
  });
  socket.end(
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\n` +
      'Cache-Control: no-store\r\nConnection: close\r\n\r\n' +
      body,
  );
}
