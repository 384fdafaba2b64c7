/** One part of a multipart body built by a test. */
export type TestPart =
  | { name: string; value: string }
  | {
      name: string;
      filename?: string;
      filenameStar?: string;
      contentType?: string;
      content: Buffer;
    };

export const BOUNDARY = '----proxytest7MA4YWxkTrZu0gW';

/** Builds a multipart/form-data body the way curl writes it, closing CRLF included. */
export function buildMultipart(parts: TestPart[], boundary = BOUNDARY): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if ('content' in part) {
      if (part.filename !== undefined) head += `; filename="${part.filename}"`;
      if (part.filenameStar !== undefined) head += `; filename*=${part.filenameStar}`;
      head += `\r\nContent-Type: ${part.contentType ?? 'application/octet-stream'}`;
      chunks.push(Buffer.from(`${head}\r\n\r\n`, 'utf8'), part.content, Buffer.from('\r\n'));
    } else {
      chunks.push(Buffer.from(`${head}\r\n\r\n${part.value}\r\n`, 'utf8'));
    }
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

export const MULTIPART_TYPE = `multipart/form-data; boundary=${BOUNDARY}`;
