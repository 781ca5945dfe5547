import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { npm, packWorkspaces, writeOfflineProject } from './helpers/pack.js';

/**
 * What an operator installs (issue 16, part 6): `npm pack` of the gateway
 * and of the workspace packages it depends on (they are not on a registry),
 * installed into an empty directory offline (helpers/pack.ts), then
 * `npx countersign init DIR` and `npx countersign serve --config
 * DIR/countersign.yaml` from it: ready, serving the console's bundled script
 * from the package, and deciding a proposal.
 *
 * better-sqlite3 is the one native module. Its install script tries a
 * prebuilt binary from GitHub, then compiles from the package's own source
 * with node-gyp. The test asks for the compile outright (npm's
 * build_from_source: no download is even tried, so no network), with the
 * Node headers installed beside this Node when there are any, as on a
 * machine that cannot reach GitHub. It compiles without optimisation (-O0):
 * that the C compiles, links and loads is what an install has to show, and
 * it takes a third of the time. Needs python3, make and a C++ compiler
 * (.ci/run installs them). Build first.
 */

const PACKAGES = ['core', 'client', 'mcp', 'gateway'] as const;
const INSTALL_TIMEOUT_MS = 420_000;

const work = mkdtempSync(join(tmpdir(), 'countersign-pack-gateway-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group has already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

/** Where node-gyp finds this Node's headers without downloading them: `<prefix>/include/node`, when installed. */
function localNodeDir(): Record<string, string> {
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'node_version.h')) ? { npm_config_nodedir: prefix } : {};
}

function npx(args: string[], cwd: string): ChildProcess {
  // its own process group: npx, the CLI it runs and anything under them stop together
  const child = spawn('npx', ['--offline', 'countersign', ...args], { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
  children.push(child);
  return child;
}

function run(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = npx(args, cwd);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('the gateway an operator installs', () => {
  it('installs from npm pack tarballs into an empty directory, offline, and init then serve --config run from it with the console inside', async () => {
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    const packed = packWorkspaces(PACKAGES, tarballs);
    expect(packed.map((p) => p.name)).toEqual(PACKAGES.map((p) => `@countersign/${p}`));
    const gatewayFiles = packed[3]!.files.map((f) => f.path);
    // the console's bundled script and static files, the example init scaffolds from, the binary
    for (const file of ['dist/console-app/app.js', 'console/index.html', 'console/style.css', 'dist/examples/payments/policy.yaml', 'bin/countersign.js', 'dist/cli.js']) {
      expect(gatewayFiles, file).toContain(file);
    }
    // and nothing that is not for running it: sources, tests, build info, the console's typecheck output
    expect(gatewayFiles.filter((f) => f.startsWith('src/') || f.includes('.test.') || f.endsWith('.tsbuildinfo') || f.startsWith('dist/console-app/typecheck/'))).toEqual([]);

    const app = join(work, 'app');
    mkdirSync(app);
    const third = writeOfflineProject(app, tarballs, packed, { allowScripts: { 'better-sqlite3': true } });
    expect(Object.entries(third).filter(([, e]) => e.hasInstallScript === true).map(([path]) => path)).toEqual(['node_modules/better-sqlite3']);
    npm(['ci', '--offline'], app, { npm_config_build_from_source: 'true', CFLAGS: '-O0', CXXFLAGS: '-O0', ...localNodeDir() }, INSTALL_TIMEOUT_MS);
    expect(existsSync(join(app, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'))).toBe(true);

    const init = await run(['init', 'cs', '--json'], app);
    expect(init.code, init.stderr).toBe(0);
    const scaffold = JSON.parse(init.stdout) as { tokens: { principal: string; surface: string; token: string }[]; serve: string };
    expect(scaffold.serve).toBe(`countersign serve --config ${join(app, 'cs', 'countersign.yaml')}`);
    const agent = scaffold.tokens.find((t) => t.principal === 'payments-copilot')!;

    // the file init wrote, with a free port from the command line (a flag beats the file)
    const serve = npx(['serve', '--config', 'cs/countersign.yaml', '--port', '0', '--log-level', 'warn'], app);
    let stderr = '';
    serve.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the gateway did not start: ${stderr}`)), 30_000);
      serve.stderr!.on('data', () => {
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      serve.on('exit', (code) => reject(new Error(`the gateway exited with ${code}: ${stderr}`)));
    });
    try {
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const script = await fetch(`${url}/console/assets/app.js`);
      expect(script.status).toBe(200);
      expect(script.headers.get('content-type')).toMatch(/javascript/);
      expect(await script.text()).toBe(readFileSync(join(app, 'node_modules', '@countersign', 'gateway', 'dist', 'console-app', 'app.js'), 'utf8'));
      const page = await fetch(`${url}/console`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('/console/assets/app.js');
      const style = await fetch(`${url}/console/assets/style.css`);
      expect(style.status).toBe(200);
      expect(await style.text()).toBe(readFileSync(join(app, 'node_modules', '@countersign', 'gateway', 'console', 'style.css'), 'utf8'));

      const proposal = JSON.parse(readFileSync(join(app, 'node_modules', '@countersign', 'gateway', 'dist', 'examples', 'payments', 'proposals', 'status-update.json'), 'utf8')) as unknown;
      const answer = await fetch(`${url}/v1/proposals`, { method: 'POST', headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' }, body: JSON.stringify(proposal) });
      const body = await answer.text();
      expect(answer.status, body).toBe(201);
      // decided by the scaffolded policy and recorded: a status update in prod waits for an approver
      const decided = JSON.parse(body) as { steps: { effect: string; reasons: string[]; request: string | null }[] };
      expect(decided.steps.map((s) => [s.effect, s.reasons])).toEqual([['require_approval', ['APPROVAL_REQUIRED']]]);
      expect(decided.steps[0]!.request).toMatch(/^request-/);
    } finally {
      // npx and the gateway under it, together: the gateway drains on SIGTERM
      const exited = new Promise<void>((resolve) => (serve.exitCode !== null || serve.signalCode !== null ? resolve() : serve.on('exit', () => resolve())));
      process.kill(-serve.pid!, 'SIGTERM');
      await exited;
    }
    expect(stderr).not.toMatch(/error/i);
  }, INSTALL_TIMEOUT_MS + 60_000);
});
