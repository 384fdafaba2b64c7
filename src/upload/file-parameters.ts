import { FEATURE_TYPES, parseFeatureType, type FeatureType } from '../connecteam/feature-types';
import { InvalidRequestError } from '../errors';
import { parseFileTypeHint } from './file-type';

/** The settings a caller gives for the files that follow, from fields or query parameters. */
export interface FileSettings {
  featureType?: FeatureType;
  fileName?: string;
  fileTypeHint?: string;
  size?: number;
}

export const PARAMETER_NAMES = ['featureType', 'fileName', 'fileTypeHint', 'size'] as const;
type ParameterName = (typeof PARAMETER_NAMES)[number];

/**
 * Tracks the multipart text fields as they arrive. featureType and fileTypeHint apply to
 * every file part after them. fileName and size apply to the next file part only, because
 * two files rarely share a name and never share a byte count.
 */
export class FileParameters {
  private readonly current: FileSettings;
  /** Fields seen since the last file part, to catch one given twice for the same file. */
  private seen = new Set<string>();

  constructor(defaults: FileSettings) {
    this.current = { ...defaults };
  }

  get featureType(): FeatureType | undefined {
    return this.current.featureType;
  }

  /** Applies a text field; fields with other names are ignored, as forms often carry extras. */
  set(name: string, value: string): void {
    if (!(PARAMETER_NAMES as readonly string[]).includes(name)) return;
    if (this.seen.has(name)) {
      throw new InvalidRequestError(
        'duplicate_parameter',
        `field "${name}" is given twice before the same file; send it once per file`,
      );
    }
    this.seen.add(name);
    Object.assign(this.current, parseParameter(name as ParameterName, value, 'field'));
  }

  /** Returns the settings for the file part that just began, and clears the one-file ones. */
  takeForFile(): FileSettings {
    const settings = { ...this.current };
    this.current.fileName = undefined;
    this.current.size = undefined;
    this.seen = new Set();
    return settings;
  }
}

/** Validates one parameter, naming where it came from (a field, the query or a header). */
export function parseParameter(name: ParameterName, raw: string, source: string): FileSettings {
  switch (name) {
    case 'featureType': {
      const featureType = parseFeatureType(raw.trim());
      if (featureType === undefined) {
        throw new InvalidRequestError(
          'invalid_feature_type',
          `${source} featureType must be one of ${FEATURE_TYPES.join(', ')} (lower case); ` +
            `got "${raw.slice(0, 50)}"`,
        );
      }
      return { featureType };
    }
    case 'fileName':
      return { fileName: raw };
    case 'fileTypeHint':
      return { fileTypeHint: parseFileTypeHint(raw, `${source} fileTypeHint`) };
    case 'size':
      return { size: parseSize(raw, `${source} size`) };
  }
}

export function parseSize(raw: string, label: string): number {
  const value = Number(raw.trim());
  if (!/^\d{1,16}$/.test(raw.trim()) || !Number.isSafeInteger(value)) {
    throw new InvalidRequestError(
      'invalid_size',
      `${label} must be the file's exact byte count as a whole number; got "${raw.slice(0, 30)}"`,
    );
  }
  return value;
}

/**
 * Reads the four parameters from the query string. A parameter given twice is rejected:
 * picking one of them would be a guess.
 */
export function readQueryParameters(query: URLSearchParams): FileSettings {
  const settings: FileSettings = {};
  for (const name of PARAMETER_NAMES) {
    const values = query.getAll(name);
    if (values.length > 1) {
      throw new InvalidRequestError(
        'duplicate_parameter',
        `query parameter ${name} is given ${values.length} times; give it once`,
      );
    }
    if (values.length === 1)
      Object.assign(settings, parseParameter(name, values[0]!, 'query parameter'));
  }
  return settings;
}
