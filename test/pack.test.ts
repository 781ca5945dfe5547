import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * What an agent installs installs (issue 15, part 6): `npm pack` of
 * @countersign/core, @countersign/client and @countersign/mcp, installed into
 * an empty project, imports with its types and runs, and carries no native
 * module. Offline: the project gets a lockfile made from this repository's
 * (same versions, same integrity hashes), so `npm ci --offline` takes every
 * third-party package from the npm cache that installing this repository
 * filled, and the test touches no network. Build first.
 */

const ROOT = join(import.meta.dirname, '..');
const PACKAGES = ['core', 'client', 'mcp'] as const;

interface LockEntry {
  readonly version?: string;
  readonly integrity?: string;
  readonly resolved?: string;
  readonly link?: boolean;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly peerDependencies?: Record<string, string>;
  readonly hasInstallScript?: boolean;
  readonly [key: string]: unknown;
}

const work = mkdtempSync(join(tmpdir(), 'countersign-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function npm(args: string[], cwd: string): string {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
}

/** The lock entries an installed set of packages needs, found as Node resolves them, from the repository's lockfile. */
function closure(lock: Record<string, LockEntry>, roots: Record<string, string>): Record<string, LockEntry> {
  const needed: Record<string, LockEntry> = {};
  const resolve = (from: string, name: string): string | null => {
    for (let at = from; ; ) {
      const candidate = `${at === '' ? '' : `${at}/`}node_modules/${name}`;
      if (lock[candidate] !== undefined) return candidate;
      if (at === '') return null;
      const cut = at.lastIndexOf('/node_modules/');
      at = cut === -1 ? '' : at.slice(0, cut);
    }
  };
  const queue: [string, string, boolean][] = Object.keys(roots).map((name) => ['', name, false]);
  while (queue.length > 0) {
    const [from, name, optional] = queue.shift()!;
    const path = resolve(from, name);
    if (path === null) {
      if (optional) continue;
      throw new Error(`${name} (needed from \`${from || 'the project'}\`) is not in the repository's lockfile`);
    }
    if (needed[path] !== undefined) continue;
    const entry = lock[path]!;
    // the registry's tarball address: with it and the integrity hash, npm reads the cache and asks the registry nothing
    const packageName = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const resolved = entry.resolved ?? `https://registry.npmjs.org/${packageName}/-/${packageName.split('/').pop()}-${entry.version}.tgz`;
    needed[path] = { ...entry, resolved };
    for (const dep of Object.keys(entry.dependencies ?? {})) queue.push([path, dep, false]);
    for (const dep of Object.keys(entry.optionalDependencies ?? {})) queue.push([path, dep, true]);
    // npm 7+ installs peer dependencies: the ones the repository has installed are part of the tree
    for (const dep of Object.keys(entry.peerDependencies ?? {})) queue.push([path, dep, true]);
  }
  return needed;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('the packages an agent installs', () => {
  it('install from their npm pack tarballs into an empty project, offline, import with types, and run', () => {
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    const packed = JSON.parse(npm(['pack', ...PACKAGES.flatMap((p) => ['--workspace', `packages/${p}`]), '--pack-destination', tarballs, '--json'], ROOT)) as { name: string; filename: string; files: { path: string }[] }[];
    expect(packed.map((p) => p.name)).toEqual(PACKAGES.map((p) => `@countersign/${p}`));
    for (const p of packed) {
      // what is published is built code, its types and the binary: no sources, no tests
      expect(p.files.some((f) => f.path.endsWith('.d.ts')), p.name).toBe(true);
      expect(p.files.filter((f) => f.path.startsWith('src/') || f.path.includes('.test.')), p.name).toEqual([]);
    }

    const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
    const app = join(work, 'app');
    mkdirSync(app);
    const ours: Record<string, LockEntry> = {};
    const dependencies: Record<string, string> = {};
    const thirdParty: Record<string, string> = {};
    for (const [i, p] of PACKAGES.entries()) {
      const file = join(tarballs, packed[i]!.filename);
      const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', p, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; bin?: Record<string, string> };
      dependencies[`@countersign/${p}`] = `file:../tarballs/${packed[i]!.filename}`;
      ours[`node_modules/@countersign/${p}`] = {
        version: manifest.version,
        resolved: `file:../tarballs/${packed[i]!.filename}`,
        integrity: `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`,
        dependencies: manifest.dependencies,
        ...(manifest.bin === undefined ? {} : { bin: manifest.bin }),
        engines: { node: '>=20' },
      };
      for (const [name, range] of Object.entries(manifest.dependencies)) if (!name.startsWith('@countersign/')) thirdParty[name] = range;
    }
    const third = closure(repoLock.packages, thirdParty);
    // no native module: nothing to compile, nothing run at install
    expect(Object.entries(third).filter(([, e]) => e.hasInstallScript === true).map(([path]) => path)).toEqual([]);

    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'agent-app', version: '1.0.0', private: true, type: 'module', dependencies }, null, 2));
    writeFileSync(
      join(app, 'package-lock.json'),
      JSON.stringify({ name: 'agent-app', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name: 'agent-app', version: '1.0.0', dependencies }, ...ours, ...third } }, null, 2),
    );
    npm(['ci', '--offline', '--ignore-scripts'], app);
    expect(filesUnder(join(app, 'node_modules')).filter((f) => f.endsWith('.node') || f.endsWith('binding.gyp'))).toEqual([]);

    // imports with its types: strict TypeScript against the installed declarations (and Node's, as any Node project has)
    writeFileSync(
      join(app, 'agent.ts'),
      [
        "import { CountersignClient, guardTool, type GuardedStep } from '@countersign/client';",
        "import { deriveStep, ToolMapping } from '@countersign/mcp';",
        "const client = new CountersignClient({ server: 'http://127.0.0.1:8080', token: 'cst_x' });",
        "const step: GuardedStep = { agent: 'a', on_behalf_of: 'o', surface: 's', action: 'queue.inspect', environment: 'prod', target: 'q/shard-1' };",
        'const guarded: Promise<number> = guardTool(client, step, () => 1);',
        "const mapped = deriveStep(ToolMapping.parse({ upstream: 'u', action: 'a', environment: 'prod', target: 'q/{s}' }), { s: 'shard-1' });",
        'export { guarded, mapped };',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: false, typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'] }, files: ['agent.ts'] }),
    );
    const typecheck = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { cwd: app, encoding: 'utf8' });
    expect(typecheck.stdout + typecheck.stderr).toBe('');
    expect(typecheck.status).toBe(0);

    // and runs: the SDK computes a digest, the proxy's binary answers
    const digest = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import { deriveStep, ToolMapping } from '@countersign/mcp'; console.log(JSON.stringify(deriveStep(ToolMapping.parse({ upstream: 'u', action: 'a', environment: 'prod', target: 'q/{s}' }), { s: 'shard-1' })))"],
      { cwd: app, encoding: 'utf8' },
    );
    expect(JSON.parse(digest)).toEqual({ action: 'a', environment: 'prod', target: 'q/shard-1', params: {} });
    expect(existsSync(join(app, 'node_modules', '.bin', 'countersign-mcp'))).toBe(true);
    const help = execFileSync(join(app, 'node_modules', '.bin', 'countersign-mcp'), ['--help'], { cwd: app, encoding: 'utf8' });
    expect(help).toContain('Exit codes:');
  }, 180_000);
});
