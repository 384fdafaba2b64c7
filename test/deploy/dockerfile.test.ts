import { readFileSync } from 'node:fs';
import { repoPath } from './repo-files';

interface Instruction {
  keyword: string;
  args: string;
}

/** Splits a Dockerfile into instructions, joining continued lines and dropping comments. */
function parseDockerfile(text: string): Instruction[] {
  const logical = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return logical
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword = '', ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

const instructions = parseDockerfile(readFileSync(repoPath('Dockerfile'), 'utf8'));
const argDefaults = new Map(
  instructions
    .filter((instruction) => instruction.keyword === 'ARG')
    .map((instruction) => instruction.args.split('=') as [string, string]),
);
const stageStarts = instructions.flatMap((instruction, index) =>
  instruction.keyword === 'FROM' ? [index] : [],
);
const finalStage = instructions.slice(stageStarts.at(-1));
const buildStage = instructions.slice(stageStarts[0], stageStarts.at(-1));

function expand(value: string): string {
  return value.replace(/\$\{(\w+)\}/g, (_match, name: string) => argDefaults.get(name) ?? '');
}

function last(stage: Instruction[], keyword: string): string | undefined {
  return stage.filter((instruction) => instruction.keyword === keyword).at(-1)?.args;
}

function runs(stage: Instruction[]): string {
  return stage
    .filter((instruction) => instruction.keyword === 'RUN')
    .map((instruction) => instruction.args)
    .join('\n');
}

describe('Dockerfile', () => {
  test('is multi-stage', () => {
    expect(stageStarts.length).toBeGreaterThanOrEqual(2);
    for (const index of stageStarts) expect(instructions[index]!.args).toMatch(/ AS \w+$/i);
  });

  test('bases on a pinned node LTS', () => {
    for (const index of stageStarts) {
      const image = expand(instructions[index]!.args.split(/\s+/)[0]!);
      const major = Number(/^node:(\d+)/.exec(image)?.[1]);
      expect(image).not.toMatch(/:latest$|^node$/);
      // Even-numbered Node.js lines become LTS.
      expect(major % 2).toBe(0);
      expect(major).toBeGreaterThanOrEqual(22);
    }
  });

  test('builds with npm ci', () => {
    expect(runs(buildStage)).toMatch(/npm ci\b/);
    expect(runs(buildStage)).toMatch(/npm run build/);
    expect(runs(buildStage)).toMatch(/npm prune --omit=dev/);
  });

  test('runtime copies only build output', () => {
    const copies = finalStage.filter((instruction) => instruction.keyword === 'COPY');
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) expect(copy.args).toMatch(/^--from=build\b/);
  });

  test('runs as a non-root user', () => {
    const user = last(finalStage, 'USER');
    expect(user).toBe('node');
  });

  test('sets production settings', () => {
    const env = finalStage
      .filter((instruction) => instruction.keyword === 'ENV')
      .map((instruction) => instruction.args)
      .join(' ');
    expect(env).toMatch(/NODE_ENV=production/);
    expect(env).toMatch(/SPOOL_DIR=\/var\/spool\/connecteam-upload-proxy/);
    expect(last(finalStage, 'EXPOSE')).toBe('8080');
  });

  test('spool directory belongs to node', () => {
    expect(runs(finalStage)).toMatch(/chown node:node \/var\/spool\/connecteam-upload-proxy/);
    expect(last(finalStage, 'VOLUME')).toBe('["/var/spool/connecteam-upload-proxy"]');
  });

  test('checks health with node', () => {
    const check = last(finalStage, 'HEALTHCHECK') ?? '';
    expect(check).toMatch(/CMD \["node", "-e"/);
    expect(check).toContain('/healthz');
  });

  test('starts node directly, as npm start does', () => {
    expect(last(finalStage, 'STOPSIGNAL')).toBe('SIGTERM');
    const start = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')).scripts.start;
    const command = JSON.parse(last(finalStage, 'CMD') ?? 'null') as string[];
    expect(command.join(' ')).toBe(start);
    expect(command.at(-1)).toBe('dist/main.js');
    expect(last(finalStage, 'ENTRYPOINT')).toBeUndefined();
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync(repoPath('.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const ignored = (path: string) =>
    patterns.some((pattern) => {
      const regex = new RegExp(`^${pattern.replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}(/|$)`);
      return regex.test(path);
    });

  test('keeps the build inputs', () => {
    const sources = instructions
      .filter((instruction) => instruction.keyword === 'COPY' && !/--from=/.test(instruction.args))
      .flatMap((instruction) => instruction.args.split(/\s+/).slice(0, -1));
    expect(sources).toEqual(
      expect.arrayContaining(['package.json', 'package-lock.json', 'src', 'tsconfig.build.json']),
    );
    for (const source of sources)
      expect({ source, ignored: ignored(source) }).toEqual({
        source,
        ignored: false,
      });
  });

  test('leaves out local artefacts', () => {
    for (const path of ['node_modules', 'dist', '.git', '.env', 'coverage', 'test']) {
      expect({ path, ignored: ignored(path) }).toEqual({ path, ignored: true });
    }
  });
});
