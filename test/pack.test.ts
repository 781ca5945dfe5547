import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { npm, packWorkspaces, ROOT, writeOfflineProject } from './helpers/pack.js';

/**
 * What an agent installs installs (issue 15, part 6): `npm pack` of
 * @countersign/core, @countersign/client and @countersign/mcp, installed into
 * an empty project, imports with its types and runs, and carries no native
 * module. Offline (helpers/pack.ts): the test touches no network. Build first.
 */

const PACKAGES = ['core', 'client', 'mcp'] as const;

const work = mkdtempSync(join(tmpdir(), 'countersign-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

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
    const packed = packWorkspaces(PACKAGES, tarballs);
    expect(packed.map((p) => p.name)).toEqual(PACKAGES.map((p) => `@countersign/${p}`));
    for (const p of packed) {
      // what is published is built code, its types and the binary: no sources, no tests
      expect(p.files.some((f) => f.path.endsWith('.d.ts')), p.name).toBe(true);
      expect(p.files.filter((f) => f.path.startsWith('src/') || f.path.includes('.test.')), p.name).toEqual([]);
    }

    const app = join(work, 'app');
    mkdirSync(app);
    const third = writeOfflineProject(app, tarballs, packed);
    // no native module: nothing to compile, nothing run at install
    expect(Object.entries(third).filter(([, e]) => e.hasInstallScript === true).map(([path]) => path)).toEqual([]);

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
