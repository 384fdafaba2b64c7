import { lookup } from 'mime-types';
import { FEATURE_TYPES, type FeatureType } from './file-store';

/** One entry of a 422 response body, in the shape FastAPI with pydantic 2 sends. */
export interface ValidationIssue {
  type: string;
  loc: Array<string | number>;
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

/** A valid body of `POST /attachments/v1/files/generate-upload-url`. */
export interface GenerateRequest {
  fileName: string;
  featureType: FeatureType;
  fileTypeHint?: string;
}

/**
 * A MIME type without parameters, with RFC 6838's characters for type and subtype names.
 * NOTE: Connecteam's documentation does not say whether it accepts parameters such as
 * `; charset=utf-8`, so the emulator rejects them.
 */
const MIME_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$/;

const FEATURE_CHOICES = FEATURE_TYPES.map((feature) => `'${feature}'`);
const EXPECTED_FEATURES = `${FEATURE_CHOICES.slice(0, -1).join(', ')} or ${FEATURE_CHOICES.at(-1)}`;

/**
 * Parses and validates a generate-upload-url body as FastAPI would: JSON when the content type
 * is missing or JSON, every field problem reported at once.
 */
export function parseGenerateBody(
  contentType: string | undefined,
  raw: Buffer | undefined,
): { request: GenerateRequest } | { issues: ValidationIssue[] } {
  if (raw === undefined || raw.length === 0) {
    return { issues: [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }] };
  }
  const text = raw.toString('utf8');
  let body: unknown = text;
  if (isJsonType(contentType)) {
    try {
      body = JSON.parse(text);
    } catch (error) {
      return { issues: [jsonIssue(error as Error)] };
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    const msg = 'Input should be a valid dictionary or object to extract fields from';
    return { issues: [{ type: 'model_attributes_type', loc: ['body'], msg, input: body }] };
  }
  return validateFields(body as Record<string, unknown>);
}

/** Guesses a MIME type from the file name's extension, as Connecteam does without a hint. */
export function guessFileType(fileName: string): string | undefined {
  return lookup(fileName) || undefined;
}

function validateFields(
  body: Record<string, unknown>,
): { request: GenerateRequest } | { issues: ValidationIssue[] } {
  const issues: ValidationIssue[] = [];
  const { fileName, featureType, fileTypeHint } = body;
  const fileNameIssue = checkString(body, 'fileName', fileName);
  if (fileNameIssue) issues.push(fileNameIssue);
  if (featureType === undefined) {
    issues.push(missing(body, 'featureType'));
  } else if (!FEATURE_TYPES.includes(featureType as FeatureType)) {
    issues.push({
      type: 'enum',
      loc: ['body', 'featureType'],
      msg: `Input should be ${EXPECTED_FEATURES}`,
      input: featureType,
      ctx: { expected: EXPECTED_FEATURES },
    });
  }
  if (fileTypeHint !== undefined && fileTypeHint !== null) {
    const hintIssue = checkString(body, 'fileTypeHint', fileTypeHint);
    if (hintIssue) {
      issues.push(hintIssue);
    } else if (!MIME_TYPE.test(fileTypeHint as string)) {
      issues.push({
        type: 'string_pattern_mismatch',
        loc: ['body', 'fileTypeHint'],
        msg: `String should match pattern '${MIME_TYPE.source}'`,
        input: fileTypeHint,
        ctx: { pattern: MIME_TYPE.source },
      });
    }
  }
  if (issues.length > 0) return { issues };
  const request: GenerateRequest = {
    fileName: fileName as string,
    featureType: featureType as FeatureType,
  };
  if (typeof fileTypeHint === 'string') request.fileTypeHint = fileTypeHint;
  return { request };
}

function checkString(
  body: Record<string, unknown>,
  field: string,
  value: unknown,
): ValidationIssue | undefined {
  const loc = ['body', field];
  if (value === undefined) return missing(body, field);
  if (typeof value !== 'string') {
    return { type: 'string_type', loc, msg: 'Input should be a valid string', input: value };
  }
  if (value.length === 0) {
    return {
      type: 'string_too_short',
      loc,
      msg: 'String should have at least 1 character',
      input: value,
      ctx: { min_length: 1 },
    };
  }
  return undefined;
}

function missing(body: Record<string, unknown>, field: string): ValidationIssue {
  return { type: 'missing', loc: ['body', field], msg: 'Field required', input: body };
}

function jsonIssue(error: Error): ValidationIssue {
  const position = /position (\d+)/.exec(error.message)?.[1];
  return {
    type: 'json_invalid',
    loc: ['body', position === undefined ? 0 : Number(position)],
    msg: 'JSON decode error',
    input: {},
    ctx: { error: error.message },
  };
}

function isJsonType(contentType: string | undefined): boolean {
  if (contentType === undefined) return true;
  const essence = contentType.split(';')[0]!.trim().toLowerCase();
  return essence === 'application/json' || /^application\/[^/]+\+json$/.test(essence);
}
