import { InvalidRequestError } from '../errors';

/** Connecteam, like most file systems, takes names of up to 255 bytes. */
export const MAX_FILE_NAME_BYTES = 255;

// C0 and C1 controls (NUL included), and the bidirectional marks that can make a name such as
// "invoice\u202Efdp.exe" display as something it is not.
const UNSAFE_CHARACTERS =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Cleans a caller-supplied file name: keeps the last path segment (after `/` or `\`, so
 * `../../etc/passwd` and `C:\\temp\\a.pdf` lose their directories), removes control and
 * bidirectional-override characters, and normalises to NFC. Throws when nothing usable is
 * left or the name is longer than 255 bytes of UTF-8.
 */
export function cleanFileName(raw: string, field = 'fileName'): string {
  const lastSegment = raw.split(/[/\\]/).pop() ?? '';
  const cleaned = lastSegment.replace(UNSAFE_CHARACTERS, '').normalize('NFC').trim();
  if (cleaned === '' || cleaned === '.' || cleaned === '..') {
    throw new InvalidRequestError(
      'invalid_file_name',
      `${field} is empty once directories and control characters are removed; ` +
        'send a name such as report.pdf',
    );
  }
  const bytes = Buffer.byteLength(cleaned, 'utf8');
  if (bytes > MAX_FILE_NAME_BYTES) {
    throw new InvalidRequestError(
      'invalid_file_name',
      `${field} is ${bytes} bytes of UTF-8; shorten it to at most ${MAX_FILE_NAME_BYTES} bytes`,
    );
  }
  return cleaned;
}
