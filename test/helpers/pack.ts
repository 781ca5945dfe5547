import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Installing our packages the way a user does, without the network: `npm
 * pack` of the workspace packages, and an empty project whose lockfile is
 * made from this repository's (same versions, same integrity hashes), so
 * `npm ci --offline` takes every third-party package from the npm cache
 * that installing this repository filled (issues 15 and 16, part 6).
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface LockEntry {
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

export interface Packed {
  readonly name: string;
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

/** `npm ARGS` in `cwd`; killed after `timeoutMs`, since a test's own timeout cannot interrupt a synchronous call. */
export function npm(args: string[], cwd: string, env: Readonly<Record<string, string>> = {}, timeoutMs = 300_000): string {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, npm_config_update_notifier: 'false', ...env },
  });
}

/** `npm pack` of packages/<name> for each name, into `destination`, in the order given. */
export function packWorkspaces(names: readonly string[], destination: string): Packed[] {
  return JSON.parse(npm(['pack', ...names.flatMap((p) => ['--workspace', `packages/${p}`]), '--pack-destination', destination, '--json'], ROOT)) as Packed[];
}

/** The lock entries an installed set of packages needs, found as Node resolves them, from the repository's lockfile. */
export function closure(lock: Record<string, LockEntry>, roots: Record<string, string>): Record<string, LockEntry> {
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

/**
 * Write package.json and package-lock.json of a project in `app` that
 * depends on the packed tarballs (read from `tarballs`, a sibling of `app`)
 * and on nothing else. Returns the third-party lock entries it needs.
 */
export function writeOfflineProject(
  app: string,
  tarballs: string,
  packed: readonly Packed[],
  manifestExtras: Readonly<Record<string, unknown>> = {},
): Record<string, LockEntry> {
  const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const ours: Record<string, LockEntry> = {};
  const dependencies: Record<string, string> = {};
  const thirdParty: Record<string, string> = {};
  for (const p of packed) {
    const file = join(tarballs, p.filename);
    const relative = `file:../${tarballs.split('/').pop()}/${p.filename}`;
    const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', p.name.replace('@countersign/', ''), 'package.json'), 'utf8')) as {
      version: string;
      dependencies: Record<string, string>;
      bin?: Record<string, string>;
    };
    dependencies[p.name] = relative;
    ours[`node_modules/${p.name}`] = {
      version: manifest.version,
      resolved: relative,
      integrity: `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`,
      dependencies: manifest.dependencies,
      ...(manifest.bin === undefined ? {} : { bin: manifest.bin }),
      engines: { node: '>=20' },
    };
    for (const [name, range] of Object.entries(manifest.dependencies)) if (!name.startsWith('@countersign/')) thirdParty[name] = range;
  }
  const third = closure(repoLock.packages, thirdParty);
  const name = 'app';
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, type: 'module', dependencies, ...manifestExtras }, null, 2));
  writeFileSync(
    join(app, 'package-lock.json'),
    JSON.stringify({ name, version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': { name, version: '1.0.0', dependencies }, ...ours, ...third } }, null, 2),
  );
  return third;
}
