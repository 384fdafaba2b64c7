import { readFileSync } from 'node:fs';
import { listRepoFiles, loadYamlDocuments, repoPath } from './repo-files';

const yamlFiles = ['docker-compose.yml', ...listRepoFiles('deploy', ['.yml', '.yaml'])];
const jsonFiles = listRepoFiles('deploy', ['.json']);

describe('deployment files parse', () => {
  test('yaml files found', () => {
    expect(yamlFiles.length).toBeGreaterThan(10);
  });

  test.each(yamlFiles)('yaml %s', (file) => {
    const documents = loadYamlDocuments(file);
    expect(documents.length).toBeGreaterThan(0);
    for (const document of documents) expect(typeof document).toBe('object');
  });

  test('json files found', () => {
    expect(jsonFiles.length).toBeGreaterThan(0);
  });

  test.each(jsonFiles)('json %s', (file) => {
    expect(() => JSON.parse(readFileSync(repoPath(file), 'utf8'))).not.toThrow();
  });
});
