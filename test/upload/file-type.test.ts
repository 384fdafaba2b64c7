import { InvalidRequestError } from '../../src/errors';
import { parseFileTypeHint, resolveFileType } from '../../src/upload/file-type';

describe('parseFileTypeHint', () => {
  it.each([
    ['application/pdf', 'application/pdf'],
    [' Image/PNG ', 'image/png'],
    ['image/svg+xml', 'image/svg+xml'],
    ['application/x-7z-compressed', 'application/x-7z-compressed'],
    [
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
      'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
    ],
    ['a/b!#$&^_.+-', 'a/b!#$&^_.+-'],
    [`a/${'b'.repeat(127)}`, `a/${'b'.repeat(127)}`],
  ])('accepts %j', (raw, expected) => {
    expect(parseFileTypeHint(raw)).toBe(expected);
  });

  it.each([
    ['an empty value', ''],
    ['a bare subtype', 'pdf'],
    ['a missing subtype', 'application/'],
    ['a missing type', '/pdf'],
    ['parameters', 'text/plain; charset=utf-8'],
    ['a wildcard', '*/*'],
    ['a wildcard subtype', 'image/*'],
    ['two slashes', 'application/pdf/x'],
    ['a space inside', 'application /pdf'],
    ['a header break', 'application/pdf\r\nX-Injected: 1'],
    ['a subtype starting with a dot', 'application/.pdf'],
    ['a subtype of 128 characters', `a/${'b'.repeat(128)}`],
    ['a non-ASCII letter', 'image/pñg'],
  ])('rejects %s', (_case, raw) => {
    let error: unknown;
    try {
      parseFileTypeHint(raw);
    } catch (caught) {
      error = caught;
    }

    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).status).toBe(400);
    expect((error as InvalidRequestError).code).toBe('invalid_file_type_hint');
  });

  it('names the field and the value it rejects', () => {
    expect(() => parseFileTypeHint(' pdf ', 'query parameter fileTypeHint')).toThrow(
      'query parameter fileTypeHint must be a MIME type of the form type/subtype, such as ' +
        'application/pdf; got "pdf"',
    );
  });

  it('quotes at most 100 characters of the value', () => {
    expect(() => parseFileTypeHint('x'.repeat(500))).toThrow(`got "${'x'.repeat(100)}"`);
  });
});

describe('resolveFileType', () => {
  it.each([
    ['the hint over everything', 'text/csv', 'image/png', 'report.pdf', 'text/csv'],
    ['the hint over an unspecific type', 'text/csv', undefined, 'noext', 'text/csv'],
    ['a specific declared type over the extension', undefined, 'image/png', 'a.pdf', 'image/png'],
    [
      'a declared type without its parameters',
      undefined,
      'Text/Plain; charset=utf-8',
      'a',
      'text/plain',
    ],
    [
      'the extension over octet-stream',
      undefined,
      'application/octet-stream',
      'a.pdf',
      'application/pdf',
    ],
    [
      'the extension over the form type',
      undefined,
      'application/x-www-form-urlencoded',
      'a.pdf',
      'application/pdf',
    ],
    [
      'the extension over octet-stream with parameters',
      undefined,
      'Application/Octet-Stream; name=a.bin',
      'a.png',
      'image/png',
    ],
    ['the extension over a malformed type', undefined, 'garbage', 'a.png', 'image/png'],
    ['the extension over an empty type', undefined, '', 'a.png', 'image/png'],
    ['the extension with no declared type', undefined, undefined, 'notes.txt', 'text/plain'],
    ['an upper-case extension', undefined, undefined, 'PHOTO.JPG', 'image/jpeg'],
    ['the last extension', undefined, undefined, 'backup.tar.gz', 'application/gzip'],
    ['octet-stream for no extension', undefined, undefined, 'README', 'application/octet-stream'],
    [
      'octet-stream for an unknown extension',
      undefined,
      undefined,
      'a.zzzz',
      'application/octet-stream',
    ],
    ['octet-stream for a dot file', undefined, undefined, '.pdf', 'application/octet-stream'],
    [
      'octet-stream for a name that is an extension',
      undefined,
      undefined,
      'pdf',
      'application/octet-stream',
    ],
    [
      'octet-stream when nothing is specific',
      undefined,
      'application/x-www-form-urlencoded',
      'upload',
      'application/octet-stream',
    ],
  ])('picks %s', (_case, hint, declared, fileName, expected) => {
    expect(resolveFileType(hint, declared, fileName)).toBe(expected);
  });
});
