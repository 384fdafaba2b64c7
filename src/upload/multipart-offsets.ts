/** Part header bytes kept per part; busboy 1.6 stops parsing part headers at 16 KiB too. */
const MAX_HEADER_BYTES = 16 * 1024;

/**
 * Finds where each multipart part's content starts in the raw body, which busboy does not
 * report. A file sent without a declared size is assumed to be the last part, so its size is
 * the request's Content-Length minus this offset minus the closing delimiter.
 *
 * It scans for the delimiter `CRLF--boundary` and then for the blank line that ends the part's
 * headers. Content cannot contain the delimiter (RFC 2046 section 5.1.1), and headers cannot
 * contain a blank line, so no part's content is mistaken for framing.
 */
export class MultipartOffsets {
  /** Body offset of the first content byte of each part, in order. */
  readonly contentStarts: number[] = [];
  /**
   * Whether each part's headers carry a Content-Type. busboy reports text/plain for a part
   * without one, which would hide the type the file's extension implies.
   */
  readonly declaresContentType: boolean[] = [];
  private headerBytes: number[] = [];
  private readonly delimiter: Buffer;
  private readonly closingLength: number;
  private position = 0;
  private matched = 0;
  private seekingHeaderEnd = false;
  private static readonly HEADER_END = Buffer.from('\r\n\r\n');

  constructor(boundary: string) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    // The closing delimiter as curl and browsers send it: CRLF--boundary--CRLF.
    this.closingLength = this.delimiter.length + 4;
    // The first delimiter may open the body without a preceding CRLF: pretend one was read.
    this.matched = 2;
  }

  /** Scans the next chunk of the raw body, in order, before busboy parses it. */
  scan(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.seekingHeaderEnd || this.matched > 0) {
        this.step(chunk[i]!, this.position + i);
        i += 1;
        continue;
      }
      // Fast path through file content: let the native search find a whole delimiter, and
      // walk byte by byte only through a tail short enough to hold the start of one.
      const found = chunk.indexOf(this.delimiter, i);
      if (found !== -1) {
        i = found + this.delimiter.length;
        this.seekingHeaderEnd = true;
        continue;
      }
      for (
        let j = Math.max(i, chunk.length - this.delimiter.length + 1);
        j < chunk.length;
        j += 1
      ) {
        this.step(chunk[j]!, this.position + j);
      }
      i = chunk.length;
    }
    this.position += chunk.length;
  }

  private step(byte: number, offset: number): void {
    if (this.seekingHeaderEnd && this.headerBytes.length < MAX_HEADER_BYTES) {
      this.headerBytes.push(byte);
    }
    const pattern = this.seekingHeaderEnd ? MultipartOffsets.HEADER_END : this.delimiter;
    if (byte === pattern[this.matched]) {
      this.matched += 1;
    } else {
      // Boundaries contain no CR or LF, so for both patterns a mismatch leaves no partial match
      // except one that restarts at this very byte, when it is a CR.
      this.matched = byte === pattern[0] ? 1 : 0;
    }
    if (this.matched === pattern.length) {
      this.matched = 0;
      if (this.seekingHeaderEnd) {
        this.contentStarts.push(offset + 1);
        const headers = Buffer.from(this.headerBytes).toString('latin1');
        this.declaresContentType.push(/(^|\r\n)content-type[ \t]*:/i.test(headers));
        this.headerBytes = [];
      }
      this.seekingHeaderEnd = !this.seekingHeaderEnd;
    }
  }

  /**
   * Computes a part's size on the assumption that it is the last one, from the request's
   * Content-Length. Returns undefined when the part's start is not known yet.
   */
  sizeIfLast(partIndex: number, contentLength: number): number | undefined {
    const start = this.contentStarts[partIndex];
    if (start === undefined) return undefined;
    return Math.max(0, contentLength - start - this.closingLength);
  }
}
