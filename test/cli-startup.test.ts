import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from './helpers/gateway-process.js';

// The CLI loads the HTTP server (Fastify, pino), its metrics (prom-client) and
// the PostgreSQL driver only for the commands that use them. Loading them
// all cost every command about 25 MB (`--version` went from 92 to 68 MB of
// RSS) and put `ledger verify --threads 2` on a million entries at the
// 150 MB limit. A preloaded hook lists the packages each run required.
const dir = mkdtempSync(join(tmpdir(), 'cs-cli-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEAVY = ['fastify', 'pino', 'prom-client', 'pg'];
const HOOK = join(dir, 'loaded.mjs');
writeFileSync(
  HOOK,
  `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
process.on('exit', () => {
  const names = new Set();
  for (const file of Object.keys(require.cache)) {
    const match = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file);
    if (match) names.add(match[1]);
  }
  process.stderr.write('LOADED ' + JSON.stringify([...names]) + '\\n');
});
`,
);

/** The packages a run of `args` (node flags, then a script and its arguments) required, from the hook's last line. */
function loaded(args: string[]): string[] {
  const run = spawnSync(process.execPath, ['--import', HOOK, ...args], { encoding: 'utf8', cwd: dir });
  const line = run.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  if (line === undefined) throw new Error(`the hook reported nothing (exit ${run.status}):\n${run.stderr}`);
  return JSON.parse(line.slice('LOADED '.length)) as string[];
}

describe('CLI start-up', () => {
  it('sees a package that an ES module imports, as the CLI does (the hook works)', () => {
    const from = createRequire(CLI);
    const script = HEAVY.map((name) => `await import(${JSON.stringify(pathToFileURL(from.resolve(name)).href)});`).join('\n');
    expect(loaded(['--input-type=module', '-e', script])).toEqual(expect.arrayContaining(HEAVY));
  });

  it.each([
    ['--version', ['--version']],
    ['ledger verify on SQLite', ['ledger', 'verify', '--db', join(dir, 'missing.db')]],
    ['token list', ['token', 'list', '--db', join(dir, 'missing.db')]],
  ])('%s loads neither the server, its metrics nor the PostgreSQL driver', (_name, args) => {
    const names = loaded([CLI, ...args]);
    // the run got as far as the CLI's own packages
    expect(names).toContain('commander');
    for (const heavy of HEAVY) expect(names).not.toContain(heavy);
  });
});
