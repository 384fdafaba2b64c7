/**
 * A validator for the subset of JSON Schema (2020-12, as OpenAPI 3.1 uses it) that
 * docs/openapi.yaml needs: local `$ref`, `type`, `enum`, `const`, `properties`, `required`,
 * `additionalProperties`, `items`, `minItems`, `pattern`, `minLength`, `minimum`, and the
 * `allOf`, `anyOf` and `oneOf` combinators. Annotations such as `description` are ignored; any
 * other keyword throws, so the document cannot silently rely on one this validator skips.
 */

type Schema = Record<string, any> | boolean;

/** Keywords that only annotate a schema, which the validator skips. */
export const ANNOTATIONS = new Set([
  'description',
  'title',
  'example',
  'examples',
  'default',
  'format',
  'contentMediaType',
  'deprecated',
]);
/** Keywords the validator checks; annotations aside, any other keyword makes it throw. */
export const SUPPORTED_KEYWORDS = new Set([
  '$ref',
  'type',
  'enum',
  'const',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'minItems',
  'pattern',
  'minLength',
  'minimum',
  'allOf',
  'anyOf',
  'oneOf',
]);

/** Resolves a local reference such as `#/components/schemas/Error` in `document`. */
export function resolveRef(document: unknown, ref: string): any {
  if (!ref.startsWith('#/')) throw new Error(`only local references are supported: ${ref}`);
  let node: any = document;
  for (const segment of ref.slice(2).split('/')) {
    const key = segment.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in node)) {
      throw new Error(`unresolved reference ${ref}`);
    }
    node = node[key];
  }
  return node;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function matchesType(value: unknown, type: string): boolean {
  const actual = typeOf(value);
  return actual === type || (type === 'number' && actual === 'integer');
}

/**
 * Validates `value` against `schema`, resolving references in `document`. Returns one message
 * per problem, each with the JSON path of the value; an empty list means valid.
 */
export function validate(document: unknown, schema: Schema, value: unknown, path = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${path}: no value is allowed here`];
  for (const keyword of Object.keys(schema)) {
    if (!SUPPORTED_KEYWORDS.has(keyword) && !ANNOTATIONS.has(keyword)) {
      throw new Error(`unsupported JSON Schema keyword "${keyword}" at ${path}`);
    }
  }
  if (schema.$ref !== undefined) {
    return validate(document, resolveRef(document, schema.$ref), value, path);
  }

  const types: string[] | undefined = schema.type === undefined ? undefined : [schema.type].flat();
  if (types && !types.some((type) => matchesType(value, type))) {
    return [`${path}: expected ${types.join(' or ')}, got ${typeOf(value)}`];
  }

  const problems = validateValue(document, schema, value, path);
  for (const part of schema.allOf ?? []) problems.push(...validate(document, part, value, path));
  if (schema.anyOf && !schema.anyOf.some((part: Schema) => isValid(document, part, value))) {
    problems.push(`${path}: matches none of anyOf`);
  }
  if (schema.oneOf) {
    const matches = schema.oneOf.filter((part: Schema) => isValid(document, part, value)).length;
    if (matches !== 1) problems.push(`${path}: matches ${matches} of oneOf, not exactly one`);
  }
  return problems;
}

/** Checks the keywords that constrain one kind of value: strings, numbers, arrays, objects. */
function validateValue(
  document: unknown,
  schema: Record<string, any>,
  value: unknown,
  path: string,
): string[] {
  const problems: string[] = [];
  if (schema.enum && !schema.enum.some((option: unknown) => option === value)) {
    problems.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  if ('const' in schema && schema.const !== value) {
    problems.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  }

  if (typeof value === 'string') {
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) {
      problems.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
    }
    if (schema.minLength !== undefined && [...value].length < schema.minLength) {
      problems.push(`${path}: shorter than ${schema.minLength}`);
    }
  }
  if (typeof value === 'number' && schema.minimum !== undefined && value < schema.minimum) {
    problems.push(`${path}: below ${schema.minimum}`);
  }

  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      problems.push(`${path}: fewer than ${schema.minItems} items`);
    }
    if (schema.items !== undefined) {
      value.forEach((item, index) =>
        problems.push(...validate(document, schema.items, item, `${path}[${index}]`)),
      );
    }
  }
  if (typeOf(value) === 'object') {
    problems.push(...validateObject(document, schema, value as Record<string, unknown>, path));
  }
  return problems;
}

function validateObject(
  document: unknown,
  schema: Record<string, any>,
  value: Record<string, unknown>,
  path: string,
): string[] {
  const problems: string[] = [];
  for (const name of schema.required ?? []) {
    if (!(name in value)) problems.push(`${path}: missing required property "${name}"`);
  }
  const properties: Record<string, Schema> = schema.properties ?? {};
  for (const [name, child] of Object.entries(value)) {
    if (name in properties) {
      problems.push(...validate(document, properties[name]!, child, `${path}.${name}`));
    } else if (schema.additionalProperties !== undefined) {
      problems.push(...validate(document, schema.additionalProperties, child, `${path}.${name}`));
    }
  }
  return problems;
}

function isValid(document: unknown, schema: Schema, value: unknown): boolean {
  return validate(document, schema, value).length === 0;
}
