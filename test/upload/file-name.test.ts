import { InvalidRequestError } from '../../src/errors';
import { cleanFileName, MAX_FILE_NAME_BYTES } from '../../src/upload/file-name';

function rejection(raw: string, field?: string): InvalidRequestError {
  try {
    cleanFileName(raw, field);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    return error as InvalidRequestError;
  }
  throw new Error(`cleanFileName accepted ${JSON.stringify(raw)}`);
}

describe('cleanFileName', () => {
  it.each([
    ['a plain name', 'report.pdf', 'report.pdf'],
    ['a name with spaces and dots', 'Q3 report.final.pdf', 'Q3 report.final.pdf'],
    ['a dot file', '.env', '.env'],
    ['three dots', '...', '...'],
    ['a unicode name', 'Übersicht 報告.pdf', 'Übersicht 報告.pdf'],
    ['parent directories', '../../etc/passwd', 'passwd'],
    ['an absolute path', '/var/tmp/report.pdf', 'report.pdf'],
    ['a Windows path', 'C:\\Users\\me\\report.pdf', 'report.pdf'],
    ['a Windows UNC path', '\\\\server\\share\\report.pdf', 'report.pdf'],
    ['mixed separators', 'a/b\\c/..\\report.pdf', 'report.pdf'],
    ['a drive letter without a separator', 'C:report.pdf', 'C:report.pdf'],
    ['surrounding spaces', '  report.pdf \t', 'report.pdf'],
    ['a NUL byte', 'report.pdf\u0000.exe', 'report.pdf.exe'],
    ['CR and LF', 'report\r\n.pdf', 'report.pdf'],
    ['a tab inside', 'a\tb.pdf', 'ab.pdf'],
    ['DEL and C1 controls', 'a\u007f\u0080\u009fb.pdf', 'ab.pdf'],
    ['a right-to-left override', 'invoice\u202Efdp.exe', 'invoicefdp.exe'],
    [
      'every bidirectional mark',
      '\u061ca\u200e\u200fb\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069.txt',
      'ab.txt',
    ],
    ['a decomposed accent', 'Re\u0301sume\u0301.pdf', 'Résumé.pdf'],
    ['a decomposed Hangul syllable', '\u1100\u1161.txt', '\uac00.txt'],
  ])('cleans %s', (_case, raw, expected) => {
    expect(cleanFileName(raw)).toBe(expected);
  });

  it('normalises to NFC', () => {
    const cleaned = cleanFileName('cafe\u0301.txt');

    expect(cleaned).toBe('caf\u00e9.txt');
    expect(cleaned.normalize('NFC')).toBe(cleaned);
  });

  it.each([
    ['an empty name', ''],
    ['spaces only', '   '],
    ['a trailing slash', 'reports/'],
    ['a trailing backslash', 'reports\\'],
    ['a dot', '.'],
    ['two dots', '..'],
    ['a path ending in two dots', 'a/b/..'],
    ['a path ending in a dot', 'C:\\temp\\.'],
    ['NUL bytes only', '\u0000\u0000'],
    ['control characters only', '\r\n\t\u001b'],
    ['bidirectional marks only', '\u202e\u2066'],
    ['a dot hidden by a control character', '.\u0000'],
    ['two dots hidden by a bidirectional mark', '.\u202e.'],
  ])('rejects %s', (_case, raw) => {
    const error = rejection(raw);

    expect(error.status).toBe(400);
    expect(error.code).toBe('invalid_file_name');
    expect(error.message).toContain('fileName is empty');
  });

  it('names the field it was given', () => {
    expect(rejection('', 'query parameter fileName').message).toMatch(
      /^query parameter fileName is empty/,
    );
  });

  describe('length limit', () => {
    const ascii = (length: number) => 'a'.repeat(length);

    it.each([
      ['255 ASCII bytes', ascii(255), 255],
      ['253 ASCII bytes and a 2-byte character', `${ascii(253)}é`, 255],
      ['252 ASCII bytes and a 3-byte character', `${ascii(252)}€`, 255],
      ['251 ASCII bytes and a 4-byte character', `${ascii(251)}😀`, 255],
      ['85 3-byte characters', '報'.repeat(85), 255],
      ['255 bytes once directories are removed', `dir/${ascii(255)}`, 255],
      ['255 bytes once a control character is removed', `${ascii(255)}\u0000`, 255],
      ['255 bytes once spaces are trimmed', ` ${ascii(255)} `, 255],
      ['255 bytes once composed', `${ascii(253)}e\u0301`, 255],
    ])('accepts %s', (_case, raw, bytes) => {
      const cleaned = cleanFileName(raw);

      expect(Buffer.byteLength(cleaned, 'utf8')).toBe(bytes);
    });

    it.each([
      ['256 ASCII bytes', ascii(256), 256],
      ['254 ASCII bytes and a 2-byte character', `${ascii(254)}é`, 256],
      ['253 ASCII bytes and a 3-byte character', `${ascii(253)}€`, 256],
      ['252 ASCII bytes and a 4-byte character', `${ascii(252)}😀`, 256],
      ['86 3-byte characters', '報'.repeat(86), 258],
    ])('rejects %s', (_case, raw, bytes) => {
      const error = rejection(raw);

      expect(error.code).toBe('invalid_file_name');
      expect(error.message).toBe(
        `fileName is ${bytes} bytes of UTF-8; shorten it to at most 255 bytes`,
      );
    });

    it('is 255 bytes', () => {
      expect(MAX_FILE_NAME_BYTES).toBe(255);
    });
  });
});
