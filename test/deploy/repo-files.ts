import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

/** Absolute path of the repository root. */
export const REPO_ROOT = join(__dirname, '..', '..');

export function repoPath(...segments: string[]): string {
  return join(REPO_ROOT, ...segments);
}

export function readRepoFile(...segments: string[]): string {
  return readFileSync(repoPath(...segments), 'utf8');
}

/** Lists files below `dir` (relative to the root) whose names end in one of `extensions`. */
export function listRepoFiles(dir: string, extensions: string[]): string[] {
  const found: string[] = [];
  const walk = (absolute: string) => {
    for (const entry of readdirSync(absolute, { withFileTypes: true })) {
      const child = join(absolute, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (extensions.some((extension) => entry.name.endsWith(extension))) {
        found.push(relative(REPO_ROOT, child));
      }
    }
  };
  walk(repoPath(dir));
  return found.sort();
}

/**
 * Parses every document of a YAML file, throwing on the first syntax error or duplicate key.
 * Merge keys (`<<: *anchor`) are resolved as Docker Compose does.
 */
export function loadYamlDocuments<T = unknown>(...segments: string[]): T[] {
  const path = segments.join('/');
  const documents = parseAllDocuments(readRepoFile(...segments), { merge: true });
  if (!Array.isArray(documents)) throw new Error(`${path} has no YAML document`);
  const parsed: T[] = [];
  for (const document of documents) {
    const problem = document.errors[0] ?? document.warnings[0];
    if (problem) throw new Error(`${path}: ${problem.message}`);
    if (document.contents !== null) parsed.push(document.toJS() as T);
  }
  return parsed;
}

/** Parses a file that contains exactly one YAML document. */
export function loadYaml<T = unknown>(...segments: string[]): T {
  const documents = loadYamlDocuments<T>(...segments);
  if (documents.length !== 1) {
    throw new Error(`${segments.join('/')} contains ${documents.length} YAML documents, not one`);
  }
  return documents[0]!;
}

/**
 * Names of the environment variables that src/config.ts reads: every quoted upper-case name
 * in it, plus NAME_FILE for each NAME read as a secret.
 */
export function configVariableNames(): Set<string> {
  const source = readRepoFile('src', 'config.ts');
  const names = new Set<string>();
  for (const match of source.matchAll(/'([A-Z][A-Z0-9_]*[A-Z0-9])'/g)) names.add(match[1]!);
  for (const match of source.matchAll(/\.secret\(\s*'([A-Z0-9_]+)'\s*\)/g)) {
    names.add(`${match[1]!}_FILE`);
  }
  return names;
}

const QUANTITY_FACTORS: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** Converts a Kubernetes quantity such as `5Gi` or `512M` to a number of bytes. */
export function parseQuantity(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)([kMGT]i?|Ki)?$/.exec(quantity);
  const factor = QUANTITY_FACTORS[match?.[2] ?? ''];
  if (!match || factor === undefined) throw new Error(`invalid quantity "${quantity}"`);
  return Number(match[1]) * factor;
}
