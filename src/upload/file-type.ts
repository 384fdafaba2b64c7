import { extname } from 'node:path';
import mime from 'mime-types';
import { InvalidRequestError } from '../errors';

const DEFAULT_TYPE = 'application/octet-stream';
/** Types that describe no file: curl's --data-binary sends the form type by default. */
const UNSPECIFIC_TYPES = new Set([DEFAULT_TYPE, 'application/x-www-form-urlencoded']);
// RFC 6838 restricted names for type and subtype; parameters such as ";charset" are not allowed.
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i;

/** Checks that a `fileTypeHint` is a bare `type/subtype` and returns it in lower case. */
export function parseFileTypeHint(raw: string, field = 'fileTypeHint'): string {
  const value = raw.trim();
  if (!MEDIA_TYPE.test(value)) {
    throw new InvalidRequestError(
      'invalid_file_type_hint',
      `${field} must be a MIME type of the form type/subtype, such as application/pdf; ` +
        `got "${value.slice(0, 100)}"`,
    );
  }
  return value.toLowerCase();
}

/**
 * Picks the file's MIME type: the explicit hint, else the part's or body's own specific
 * Content-Type, else the type its extension implies, else application/octet-stream.
 */
export function resolveFileType(
  hint: string | undefined,
  declaredType: string | undefined,
  fileName: string,
): string {
  if (hint !== undefined) return hint;
  const declared = declaredType?.split(';')[0]?.trim().toLowerCase();
  if (declared && !UNSPECIFIC_TYPES.has(declared) && MEDIA_TYPE.test(declared)) return declared;
  // mime.lookup reads a whole name such as "pdf" as an extension, so give it the extension only.
  return mime.lookup(extname(fileName)) || DEFAULT_TYPE;
}
