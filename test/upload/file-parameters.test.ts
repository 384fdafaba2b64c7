import { InvalidRequestError } from '../../src/errors';
import {
  FileParameters,
  type FileSettings,
  parseParameter,
  parseSize,
  readQueryParameters,
} from '../../src/upload/file-parameters';

function errorOf(action: () => unknown): InvalidRequestError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    return error as InvalidRequestError;
  }
  throw new Error('the action did not throw');
}

describe('FileParameters', () => {
  it('starts from the defaults it is given', () => {
    const parameters = new FileParameters({ featureType: 'chat', fileTypeHint: 'text/csv' });

    expect(parameters.featureType).toBe('chat');
    expect(parameters.takeForFile()).toEqual({ featureType: 'chat', fileTypeHint: 'text/csv' });
  });

  it('applies each field to the file that follows it', () => {
    const parameters = new FileParameters({});
    parameters.set('featureType', 'users');
    parameters.set('fileName', 'contract.pdf');
    parameters.set('fileTypeHint', 'application/pdf');
    parameters.set('size', '1234');

    expect(parameters.takeForFile()).toEqual({
      featureType: 'users',
      fileName: 'contract.pdf',
      fileTypeHint: 'application/pdf',
      size: 1234,
    });
  });

  it('keeps featureType and fileTypeHint for later files', () => {
    const parameters = new FileParameters({});
    parameters.set('featureType', 'chat');
    parameters.set('fileTypeHint', 'image/png');
    parameters.set('fileName', 'first.png');
    parameters.set('size', '10');
    parameters.takeForFile();

    expect(parameters.takeForFile()).toEqual({
      featureType: 'chat',
      fileName: undefined,
      fileTypeHint: 'image/png',
      size: undefined,
    });
  });

  it('applies fileName and size to the next file only', () => {
    const parameters = new FileParameters({});
    parameters.set('fileName', 'first.pdf');
    parameters.set('size', '10');

    const first = parameters.takeForFile();
    const second = parameters.takeForFile();

    expect(first.fileName).toBe('first.pdf');
    expect(first.size).toBe(10);
    expect(second.fileName).toBeUndefined();
    expect(second.size).toBeUndefined();
  });

  it('applies a default fileName and size to the first file only', () => {
    const parameters = new FileParameters({ featureType: 'chat', fileName: 'a.pdf', size: 3 });

    expect(parameters.takeForFile()).toMatchObject({ fileName: 'a.pdf', size: 3 });
    expect(parameters.takeForFile()).toMatchObject({ fileName: undefined, size: undefined });
  });

  it('lets a field override a default', () => {
    const parameters = new FileParameters({ featureType: 'chat', fileTypeHint: 'text/csv' });
    parameters.set('featureType', 'quicktasks');
    parameters.set('fileTypeHint', 'text/plain');

    expect(parameters.featureType).toBe('quicktasks');
    expect(parameters.takeForFile()).toEqual({
      featureType: 'quicktasks',
      fileTypeHint: 'text/plain',
      fileName: undefined,
      size: undefined,
    });
  });

  it('lets featureType change between files', () => {
    const parameters = new FileParameters({});
    parameters.set('featureType', 'chat');
    const first = parameters.takeForFile();
    parameters.set('featureType', 'shiftscheduler');
    const second = parameters.takeForFile();

    expect(first.featureType).toBe('chat');
    expect(second.featureType).toBe('shiftscheduler');
  });

  it.each(['featureType', 'fileName', 'fileTypeHint', 'size'])(
    'rejects %s given twice before the same file',
    (name) => {
      const value = { featureType: 'chat', fileName: 'a.pdf', fileTypeHint: 'text/csv', size: '1' }[
        name
      ]!;
      const parameters = new FileParameters({});
      parameters.set(name, value);

      const error = errorOf(() => parameters.set(name, value));

      expect(error.code).toBe('duplicate_parameter');
      expect(error.message).toBe(
        `field "${name}" is given twice before the same file; send it once per file`,
      );
    },
  );

  it('accepts a field again once a file has begun', () => {
    const parameters = new FileParameters({});
    parameters.set('fileName', 'first.pdf');
    parameters.takeForFile();
    parameters.set('fileName', 'second.pdf');

    expect(parameters.takeForFile().fileName).toBe('second.pdf');
  });

  it('ignores fields with other names, even repeated', () => {
    const parameters = new FileParameters({ featureType: 'chat' });
    parameters.set('comment', 'first');
    parameters.set('comment', 'second');
    parameters.set('featuretype', 'users');
    parameters.set('__proto__', 'x');

    expect(parameters.takeForFile()).toEqual({
      featureType: 'chat',
      fileName: undefined,
      size: undefined,
    });
  });

  it('keeps the fileName as sent, for cleaning later', () => {
    const parameters = new FileParameters({});
    parameters.set('fileName', ' ../a.pdf ');

    expect(parameters.takeForFile().fileName).toBe(' ../a.pdf ');
  });

  it.each([
    ['featureType', 'Chat', 'invalid_feature_type', 'field featureType must be one of'],
    ['fileTypeHint', 'pdf', 'invalid_file_type_hint', 'field fileTypeHint must be a MIME type'],
    ['size', '-1', 'invalid_size', 'field size must be'],
  ])('rejects %s %j as a field', (name, value, code, message) => {
    const error = errorOf(() => new FileParameters({}).set(name, value));

    expect(error.status).toBe(400);
    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
  });

  it('copies the defaults and the settings it returns', () => {
    const defaults: FileSettings = { featureType: 'chat' };
    const parameters = new FileParameters(defaults);
    const settings = parameters.takeForFile();
    defaults.featureType = 'users';
    settings.featureType = 'quicktasks';

    expect(parameters.featureType).toBe('chat');
  });
});

describe('parseParameter', () => {
  it.each([
    ['featureType', 'chat', { featureType: 'chat' }],
    ['featureType', ' users ', { featureType: 'users' }],
    ['featureType', 'shiftscheduler', { featureType: 'shiftscheduler' }],
    ['featureType', 'quicktasks', { featureType: 'quicktasks' }],
    ['fileName', 'a.pdf', { fileName: 'a.pdf' }],
    ['fileTypeHint', 'Application/PDF', { fileTypeHint: 'application/pdf' }],
    ['size', '0', { size: 0 }],
  ] as const)('reads %s %j', (name, raw, expected) => {
    expect(parseParameter(name, raw, 'query parameter')).toEqual(expected);
  });

  it.each(['', 'CHAT', 'chat,users', 'files', 'shift scheduler'])(
    'rejects the feature type %j and lists the valid ones',
    (raw) => {
      const error = errorOf(() => parseParameter('featureType', raw, 'query parameter'));

      expect(error.code).toBe('invalid_feature_type');
      expect(error.message).toBe(
        'query parameter featureType must be one of chat, shiftscheduler, users, quicktasks ' +
          `(lower case); got "${raw}"`,
      );
    },
  );

  it('quotes at most 50 characters of a rejected feature type', () => {
    const error = errorOf(() => parseParameter('featureType', 'x'.repeat(80), 'header'));

    expect(error.message).toContain(`got "${'x'.repeat(50)}"`);
    expect(error.message).not.toContain('x'.repeat(51));
  });
});

describe('parseSize', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['007', 7],
    [' 12 ', 12],
    ['1073741824', 1073741824],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
  ])('reads %j', (raw, expected) => {
    expect(parseSize(raw, 'size')).toBe(expected);
  });

  it.each([
    '',
    ' ',
    '-1',
    '+5',
    '1.0',
    '1e3',
    '0x10',
    '1 000',
    '12abc',
    '９',
    '9007199254740992',
    '12345678901234567',
  ])('rejects %j', (raw) => {
    const error = errorOf(() => parseSize(raw, 'field size'));

    expect(error.code).toBe('invalid_size');
    expect(error.message).toBe(
      `field size must be the file's exact byte count as a whole number; got "${raw}"`,
    );
  });
});

describe('readQueryParameters', () => {
  it('reads all four parameters', () => {
    const query = new URLSearchParams(
      'featureType=chat&fileName=r%C3%A9sum%C3%A9.pdf&fileTypeHint=application%2Fpdf&size=42',
    );

    expect(readQueryParameters(query)).toEqual({
      featureType: 'chat',
      fileName: 'résumé.pdf',
      fileTypeHint: 'application/pdf',
      size: 42,
    });
  });

  it('returns no settings for an empty query', () => {
    expect(readQueryParameters(new URLSearchParams(''))).toEqual({});
  });

  it('ignores other parameters, even repeated', () => {
    const query = new URLSearchParams('featureType=users&x=1&x=2&FeatureType=chat');

    expect(readQueryParameters(query)).toEqual({ featureType: 'users' });
  });

  it.each([
    ['featureType', 'featureType=chat&featureType=users', 2],
    ['featureType', 'featureType=chat&featureType=chat', 2],
    ['fileName', 'fileName=a.pdf&fileName=b.pdf&fileName=c.pdf', 3],
    ['fileTypeHint', 'fileTypeHint=text/csv&fileTypeHint=text/csv', 2],
    ['size', 'size=1&size=1', 2],
    ['size', 'size=&size=1', 2],
  ])('rejects %s given more than once in %j', (name, raw, count) => {
    const error = errorOf(() => readQueryParameters(new URLSearchParams(raw)));

    expect(error.code).toBe('duplicate_parameter');
    expect(error.message).toBe(`query parameter ${name} is given ${count} times; give it once`);
  });

  it.each([
    ['featureType=', 'invalid_feature_type', 'query parameter featureType must be one of'],
    ['size=ten', 'invalid_size', 'query parameter size must be'],
    ['fileTypeHint=pdf', 'invalid_file_type_hint', 'query parameter fileTypeHint must be'],
  ])('rejects %j and names the query parameter', (raw, code, message) => {
    const error = errorOf(() => readQueryParameters(new URLSearchParams(raw)));

    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
  });
});
