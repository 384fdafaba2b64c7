import type { Writable } from 'node:stream';

/**
 * Writes a chunk and waits for 'drain' when the stream's buffer is full, so a fast source
 * never runs ahead of a slow destination. Rejects if the stream closes or fails first.
 */
export function writeChunk(stream: Writable, chunk: Buffer): Promise<void> {
  if (stream.destroyed || stream.writableEnded) {
    return Promise.reject(stream.errored ?? new Error('the destination stream is closed'));
  }
  if (stream.write(chunk)) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      stream.off('error', onError);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      reject(stream.errored ?? new Error('the destination stream closed'));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    stream.on('error', onError);
  });
}
