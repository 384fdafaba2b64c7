import { listRepoFiles, loadYamlDocuments } from './repo-files';

/** The parts of Kubernetes objects that the manifest tests read. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // Each kind has its own shape. The tests read only the fields they check.
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export interface Manifest {
  file: string;
  object: K8sObject;
}

/** Loads every object of every YAML file below deploy/kubernetes. */
export function loadManifests(): Manifest[] {
  return listRepoFiles('deploy/kubernetes', ['.yaml', '.yml']).flatMap((file) =>
    loadYamlDocuments<K8sObject>(file).map((object) => ({ file, object })),
  );
}

/** Finds the one object of a kind and name, failing when there is none or several. */
export function findObject(manifests: Manifest[], kind: string, name: string): K8sObject {
  const found = manifests.filter(
    ({ object }) => object.kind === kind && object.metadata.name === name,
  );
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0]!.object;
}

/** Tells whether every key of `selector` is in `labels` with the same value. */
export function selects(
  selector: Record<string, string> | undefined,
  labels: Record<string, string> | undefined,
): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}
