import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// End to end: the built CLI (`npm run build` first) against the shipped example policy.
const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
const POLICY = join(ROOT, 'examples', 'payments', 'policy.yaml');
const NOW = '2026-05-15T09:16:00Z';

const tmp = mkdtempSync(join(tmpdir(), 'countersign-decide-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface CliDecision {
  step_index: number;
  step_digest: string;
  bundle_id: string;
  effect: string;
  risk: string | null;
  reasons: string[];
  requirements: { surfaces: string[]; approval_expires_at: string | null } | null;
}

function countersign(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', ...(input === undefined ? {} : { input }) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const incident = {
  agent: 'payments-copilot',
  on_behalf_of: 'olivia',
  surface: 'copilot-console',
  incident: 'inc-2026-0515-payments',
  steps: [
    { action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling' } },
    { action: 'queue.clear_shard', environment: 'prod', target: 'payments/shard-7' },
  ],
};

function write(name: string, content: unknown): string {
  const path = join(tmp, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('countersign decide', () => {
  it('prints one decision per step and exits 1 when a step is not allow', () => {
    const r = countersign(['decide', POLICY, write('incident.json', incident), '--now', NOW]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const decisions = JSON.parse(r.stdout) as CliDecision[];
    expect(decisions.map((d) => [d.step_index, d.effect, d.risk])).toEqual([
      [0, 'require_approval', 'high'],
      [1, 'deny', 'critical'],
    ]);
    expect(decisions[0]?.requirements?.surfaces).toEqual(['approver-console', 'signed-cli']);
    expect(decisions[0]?.requirements?.approval_expires_at).toBe('2026-05-15T09:31:00.000Z');
    expect(decisions[1]?.reasons).toEqual(['PREREQUISITE_MISSING']);
    expect(decisions[0]?.step_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(decisions[0]?.step_digest).not.toBe(decisions[1]?.step_digest);
    expect(decisions[0]?.bundle_id).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('reads the proposal from stdin with `-` and exits 0 when every step is allow', () => {
    const reads = { ...incident, steps: [{ action: 'queue.inspect', environment: 'prod', target: 'payments/shard-7' }, { action: 'metrics.query', environment: 'prod', target: 'payments-worker' }] };
    const r = countersign(['decide', POLICY, '-', '--now', NOW], JSON.stringify(reads));
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as CliDecision[]).map((d) => d.effect)).toEqual(['allow', 'allow']);
  });

  it('applies holds and executions from --state', () => {
    const state = write('state.yaml', [
      'holds:',
      '  - { id: hold-1, trip_gate: K1, scope: { environments: [prod], classes: [write] } }',
      'executions:',
      '  - { action: queue.snapshot_shard, environment: prod, target: payments/shard-7, ago: 10m }',
      '',
    ].join('\n'));
    const r = countersign(['decide', POLICY, write('incident2.json', incident), '--now', NOW, '--state', state]);
    expect(r.code).toBe(1);
    expect((JSON.parse(r.stdout) as CliDecision[]).map((d) => d.effect)).toEqual(['held', 'require_approval']);
  });

  it('gives the same digest for the same step whatever the key order, and another for `prod `', () => {
    const a = countersign(['decide', POLICY, write('a.json', '{"agent":"payments-copilot","on_behalf_of":"olivia","surface":"copilot-console","steps":[{"action":"queue.inspect","environment":"prod","target":"t","params":{"a":1,"b":2}}]}'), '--now', NOW]);
    const b = countersign(['decide', POLICY, write('b.json', '{"steps":[{"params":{"b":2,"a":1},"target":"t","environment":"prod","action":"queue.inspect"}],"surface":"copilot-console","on_behalf_of":"olivia","agent":"payments-copilot"}'), '--now', NOW]);
    const c = countersign(['decide', POLICY, write('c.json', '{"agent":"payments-copilot","on_behalf_of":"olivia","surface":"copilot-console","steps":[{"action":"queue.inspect","environment":"prod ","target":"t","params":{"a":1,"b":2}}]}'), '--now', NOW]);
    const digest = (out: string) => (JSON.parse(out) as CliDecision[])[0]?.step_digest;
    expect(digest(a.stdout)).toBe(digest(b.stdout));
    expect(digest(c.stdout)).not.toBe(digest(a.stdout));
    expect((JSON.parse(c.stdout) as CliDecision[])[0]?.reasons).toEqual(['UNKNOWN_ENVIRONMENT']);
  });

  it('exits 2 with a typed error on bad input', () => {
    const notJson = countersign(['decide', POLICY, write('bad.json', '{not json'), '--now', NOW]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(/^error\[PROPOSAL_INVALID\]: proposal `.*bad\.json` is not valid JSON\n$/);

    const tooMany = countersign(['decide', POLICY, write('extra.json', { ...incident, approved_by: 'lena' }), '--now', NOW]);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toContain('error[PROPOSAL_INVALID]');

    const missing = countersign(['decide', POLICY, join(tmp, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('error[FILE_NOT_FOUND]');

    const badNow = countersign(['decide', POLICY, write('ok.json', incident), '--now', 'yesterday']);
    expect(badNow.code).toBe(2);
    expect(badNow.stderr).toContain('`--now`');
  });

  it('documents the exit codes in --help', () => {
    const r = countersign(['decide', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1  at least one step is require_approval, deny or held');
  });
});
