import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPolicy } from '../packages/core/src/policy/load.js';
import { call, CLI, EXAMPLE_POLICY, ledgerEntries, ROOT, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';

/**
 * Issue 13 end to end, as a release manager and two signers would run it:
 * the real server process on SQLite and the real CLI. A candidate is proposed
 * with its golden cases, a signer who reports to the proposer is refused, two
 * independent signers activate it, a candidate that fails its golden cases
 * cannot be proposed, and a replica restarted with another `--policy` refuses
 * to start while one started without it runs the bundle in force.
 */

const GOLDEN = join(ROOT, 'examples', 'payments', 'golden');
const KEYS = join(ROOT, 'test', 'fixtures', 'keys');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], env: Record<string, string>): Run {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 60_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('countersign policy propose | approve | status, and serve --policy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-release-'));
  const db = join(dir, 'ledger.db');
  const candidatePath = join(dir, 'candidate.yaml');
  const failingPath = join(dir, 'failing.yaml');
  let gw: GatewayProcess;
  const env = (token: string): Record<string, string> => ({ COUNTERSIGN_SERVER: gw.url, COUNTERSIGN_TOKEN: token });
  const key = (principal: string): string => {
    const path = join(dir, `${principal}.key`);
    copyFileSync(join(KEYS, `${principal}.key`), path);
    chmodSync(path, 0o600);
    return path;
  };

  beforeAll(async () => {
    const text = readFileSync(EXAMPLE_POLICY, 'utf8');
    // a rollback in staging now needs an approver: one recorded decision changes, and no golden case sees it
    writeFileSync(
      candidatePath,
      text.replace(/^description: .*$/m, 'description: payments, revised after the incident review').replace(/(id: workers\.rollback_pool[\s\S]*?risk: \{ dev: low, staging: )low/, '$1medium'),
    );
    // restarts in prod without any approval: the incident's bundle, which the golden cases refuse
    writeFileSync(failingPath, text.replace(/^description: .*$/m, 'description: restart freely').replace(/(id: workers\.restart_pool[\s\S]*?risk:\s*\{[^}]*prod: )\w+/, '$1low'));
    gw = await startGatewayProcess({ policy: EXAMPLE_POLICY, dir, db });
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('activates a candidate only with two independent signatures, and records every refusal', async () => {
    const active = loadPolicy(readFileSync(EXAMPLE_POLICY, 'utf8'), 'active').bundleId;
    const candidate = loadPolicy(readFileSync(candidatePath, 'utf8'), 'candidate').bundleId;
    const priya = await gw.token('priya', 'approver-console');

    // recorded traffic the candidate decides otherwise
    const copilot = await gw.token('payments-copilot', 'copilot-console');
    const rollback = { action: 'workers.rollback_pool', environment: 'staging', target: 'payments-worker', params: {}, rationale: 'r', expected_consequence: 'c' };
    const traffic = await call(gw.url, 'POST', '/v1/proposals', copilot, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [rollback] });
    expect(traffic.status, JSON.stringify(traffic.body)).toBe(201);

    const failing = cli(['policy', 'propose', failingPath, '--golden', GOLDEN], env(priya));
    expect([failing.code, failing.stderr], failing.stdout).toEqual([1, expect.stringContaining('error[RELEASE_GOLDEN_FAILED]')]);
    // the refusal names the failing cases and the golden digest
    const failingJson = cli(['policy', 'propose', failingPath, '--golden', GOLDEN, '--json'], env(priya));
    const refusal = JSON.parse(failingJson.stdout) as { error: { code: string; message: string; details: { golden_digest: string; failures: string[] } } };
    expect(refusal.error.code).toBe('RELEASE_GOLDEN_FAILED');
    expect(refusal.error.details.golden_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(refusal.error.details.failures.length).toBeGreaterThan(0);
    expect(refusal.error.message).toContain(`\`${refusal.error.details.failures[0]}\``);
    // absent a release section, the golden gate cannot be skipped by sending no cases
    const skipped = cli(['policy', 'propose', candidatePath], env(priya));
    expect([skipped.code, skipped.stderr]).toEqual([1, expect.stringContaining('error[RELEASE_GOLDEN_MISSING]')]);

    const proposed = cli(['policy', 'propose', candidatePath, '--golden', GOLDEN, '--json'], env(priya));
    expect(proposed.code, proposed.stderr).toBe(0);
    const release = JSON.parse(proposed.stdout) as { id: string; candidate: string; golden: { cases: number; failed: number }; diff: { replayed: number; changed: number; through_seq: number } };
    expect(release.candidate).toBe(candidate);
    expect(release.golden.failed).toBe(0);
    expect(release.golden.cases).toBeGreaterThan(0);
    expect([release.diff.replayed, release.diff.changed]).toEqual([1, 1]);
    expect(release.diff.through_seq).toBeGreaterThan(0);
    // the case files are in the ledger with the candidate
    const proposedEntry = (await ledgerEntries(gw)).find((e) => e.type === 'release.proposed');
    expect(((proposedEntry?.payload as { golden_files: { name: string }[] }).golden_files).map((f) => f.name)).toContain('incident.yaml');

    // signers read every decision that would change, rebuilt from the ledger, not only the counts
    const shown = cli(['policy', 'status', release.id], env(priya));
    expect(shown.stdout).toContain(`ledger through seq ${release.diff.through_seq}`);
    expect(shown.stdout).toMatch(/workers\.rollback_pool@staging payments-worker/);
    expect(shown.stdout).toContain('effect: allow → require_approval');
    expect(shown.stdout).toMatch(/differs; digest sha256:[0-9a-f]{64}/);
    // a key signature from the copilot console, where agents propose, does not count toward the default release
    const fromCopilot = cli(['policy', 'approve', release.id, '--key', key('fatima'), '--policy', EXAMPLE_POLICY, '--candidate', candidatePath, '--yes', '--surface', 'copilot-console'], env(await gw.token('fatima', 'copilot-console')));
    expect([fromCopilot.code, fromCopilot.stderr]).toEqual([1, expect.stringContaining('error[SURFACE_NOT_ALLOWED]')]);

    const sign = async (principal: string, extra: string[] = []): Promise<Run> =>
      cli(['policy', 'approve', release.id, '--key', key(principal), '--policy', EXAMPLE_POLICY, '--candidate', candidatePath, '--yes', '--reason', 'read the diff', ...extra], env(await gw.token(principal, 'signed-cli')));
    // lena reports to priya, the proposer
    const lena = await sign('lena');
    expect([lena.code, lena.stderr]).toEqual([1, expect.stringContaining('error[REPORTS_TO_REQUESTER]')]);
    // a signer who reviewed another file is stopped before signing
    const wrongFile = cli(['policy', 'approve', release.id, '--key', key('fatima'), '--policy', EXAMPLE_POLICY, '--candidate', EXAMPLE_POLICY, '--yes'], env(await gw.token('fatima', 'signed-cli')));
    expect([wrongFile.code, wrongFile.stderr]).toEqual([1, expect.stringContaining('error[DIGEST_MISMATCH]')]);

    const fatima = await sign('fatima');
    expect(fatima.code, fatima.stderr).toBe(0);
    // shown before signing: the decision that changes, not only how many
    expect(fatima.stderr).toContain('effect: allow → require_approval');
    expect(fatima.stdout).toContain('quorum met  no');
    const still = cli(['policy', 'status', release.id], env(priya));
    expect([still.code, still.stdout]).toEqual([1, expect.stringContaining('status')]);
    const policyBefore = await call(gw.url, 'GET', '/v1/policy', priya);
    expect(policyBefore.body['bundle_id']).toBe(active);

    const sam = await sign('sam');
    expect(sam.code, sam.stderr).toBe(0);
    expect(sam.stdout).toContain(`bundle in force  ${candidate}`);
    expect(cli(['policy', 'status', release.id], env(priya)).code).toBe(0);
    expect((await call(gw.url, 'GET', '/v1/policy', priya)).body['bundle_id']).toBe(candidate);

    // every attempt is in the ledger, refusals included
    const trace = cli(['trace', release.id, '--db', db], {});
    expect(trace.code, trace.stderr).toBe(0);
    expect(trace.stdout).toContain(`priya@approver-console  release ${release.id} proposed`);
    expect(trace.stdout).toMatch(/lena tried to sign release .*: refused {2}\[REPORTS_TO_REQUESTER\]/);
    expect(trace.stdout).toContain('fatima (finance-delegate) signs release');
    expect(trace.stdout).toContain(`bundle payments ${candidate} activated, replacing`);
  }, 120_000);

  it('serve refuses a --policy that is not the bundle in force, and without --policy runs the one the ledger holds', async () => {
    const candidate = loadPolicy(readFileSync(candidatePath, 'utf8'), 'candidate').bundleId;
    const active = loadPolicy(readFileSync(EXAMPLE_POLICY, 'utf8'), 'active').bundleId;
    expect(await gw.stop()).toBe(0);
    // the old file: the rules do not change by restarting a replica
    const mismatch = cli(['serve', '--policy', EXAMPLE_POLICY, '--db', db, '--key', gw.keyPath, '--port', '0'], {});
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toContain('error[POLICY_MISMATCH]');
    expect(mismatch.stderr).toContain(active);
    expect(mismatch.stderr).toContain(candidate);

    const child = spawn(process.execPath, [CLI, 'serve', '--db', db, '--key', gw.keyPath, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`not listening within 20 s:\n${out}`)), 20_000);
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const match = /"address":"(http:[^"]+)"/.exec(out);
          if (match?.[1]) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
        child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${out}`)));
      });
      const token = await gw.token('priya', 'approver-console');
      expect((await call(url, 'GET', '/v1/policy', token)).body['bundle_id']).toBe(candidate);
      expect((await call(url, 'GET', '/readyz', null)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }, 120_000);
});
