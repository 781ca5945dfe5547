import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeEntry, sealEntry, type LedgerEntry, type SealedEntry } from '../packages/core/src/ledger/entry.js';
import { SqliteLedgerStore } from '../packages/gateway/src/store/sqlite.js';
import { exportLedger, recordMode } from './helpers/record-incident.js';
import { appendDrafts } from '../packages/gateway/src/testing/plain-append.js';

/**
 * End to end: the built CLI (`npm run build` first) on the recorded ledgers
 * of the reference incident. Outputs are compared byte for byte with the
 * committed files under test/fixtures/expected/; regenerate them only on
 * purpose, after reading the diff, and never in CI:
 *
 *   COUNTERSIGN_RECORD=1 npx vitest run test/trace-cli.test.ts
 */

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
const POLICY = 'examples/payments/policy.yaml';
const GOLDEN = 'examples/payments/golden';
const PERMISSIVE = 'test/fixtures/ledgers/incident-permissive.jsonl';
const GOVERNED = 'test/fixtures/ledgers/incident-governed.jsonl';
const EXPECTED = join(ROOT, 'test', 'fixtures', 'expected');
const RECORD = recordMode();

const tmp = mkdtempSync(join(tmpdir(), 'countersign-trace-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function countersign(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run, expect `code`, and compare stdout with the committed expected file. */
function snapshot(name: string, args: string[], code = 0): string {
  const r = countersign(args);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(code);
  const file = join(EXPECTED, name);
  if (RECORD) {
    mkdirSync(EXPECTED, { recursive: true });
    writeFileSync(file, r.stdout);
  }
  expect(r.stdout).toBe(readFileSync(file, 'utf8'));
  return r.stdout;
}

it('runs the built CLI', () => {
  expect(existsSync(CLI), 'run `npm run build` first').toBe(true);
});

describe('countersign trace on the recorded incident', () => {
  it('shows the permissive run: both mutations granted to the requesting console at once, no approver anywhere', () => {
    const out = snapshot('trace-permissive-incident.txt', ['trace', 'inc-payments-0912', '--file', PERMISSIVE, '--check', '--policy', POLICY]);
    expect(out).toContain('proposal-2.0  workers.restart_pool@prod payments-worker: allow, risk low');
    expect(out).toContain('grant grant-6 issued for step proposal-2.1 without a request');
    snapshot('trace-permissive-incident.json', ['trace', 'inc-payments-0912', '--file', PERMISSIVE, '--json']);
  });

  it('shows the governed restart: refusals, the denied override, the hold, the independent key, then the run', () => {
    const out = snapshot('trace-governed-request-1.txt', ['trace', 'request-1', '--file', GOVERNED, '--check', '--prove']);
    expect(out).toMatch(/#22 +olivia@copilot-console +olivia tried to approve request-1 via copilot-console: refused, signature verified {2}\[SELF_APPROVAL\]/);
    expect(out).toContain('[O1_IDENTITY_COLLISION, O4_MISSING_ROLLBACK, O5_NOT_ELIGIBLE]');
    expect(out).toContain('leo (incident-lead) approves request-1 via signed-cli, attestation key leo-2025, signature verified');
    expect(out).toContain('check: ok');
    snapshot('trace-governed-incident.json', ['trace', 'inc-payments-0912', '--file', GOVERNED, '--json', '--prove']);
  });

  it('proves every line against the signed checkpoint', () => {
    const report = JSON.parse(countersign(['trace', 'request-1', '--file', GOVERNED, '--prove', '--json']).stdout) as {
      lines: { seq: number }[];
      proofs: { tree_size: number; proofs: { seq: number; path: string[] }[]; unproven: number[] };
    };
    expect(report.proofs.proofs.map((p) => p.seq)).toEqual(report.lines.map((l) => l.seq));
    expect(report.proofs.unproven).toEqual([]);
  });

  it('reads a SQLite store the same as the export', async () => {
    const db = join(tmp, 'permissive.db');
    const store = SqliteLedgerStore.open(db, {});
    const lines = readFileSync(join(ROOT, PERMISSIVE), 'utf8').split('\n').filter((l) => l.startsWith('{"actor"'));
    await appendDrafts(store, lines.map((l) => {
      const { v: _v, seq: _seq, prev_hash: _prev, ...draft } = decodeEntry(new TextEncoder().encode(l));
      return draft;
    }));
    await store.close();
    const fromDb = countersign(['trace', 'proposal-2', '--db', db, '--check']);
    expect(fromDb.code).toBe(0);
    expect(fromDb.stdout).toBe(countersign(['trace', 'proposal-2', '--file', PERMISSIVE, '--check']).stdout);
  });

  it('refuses an id no entry names', () => {
    const r = countersign(['trace', 'request-404', '--file', GOVERNED]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error[TRACE_NOT_FOUND]: no ledger entry names `request-404`\n');
  });
});

/** Reseal a recorded ledger after editing its decoded entries, so only the edit differs. */
function reseal(file: string, edit: (e: LedgerEntry) => LedgerEntry): string {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n').filter((l) => l.startsWith('{"actor"'));
  const sealed: SealedEntry[] = [];
  for (const line of lines) {
    const { v: _v, seq: _seq, prev_hash: _prev, ...draft } = edit(decodeEntry(new TextEncoder().encode(line)));
    sealed.push(sealEntry(draft, sealed.length, sealed.at(-1)?.hash ?? null));
  }
  const out = join(tmp, `edited-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(out, exportLedger(sealed));
  return out;
}

describe('countersign trace --check', () => {
  it('fails on an execution recorded without its surface, and on a consumed grant that was never issued', () => {
    const noSurface = reseal(PERMISSIVE, (e) => (e.seq === 23 ? { ...e, surface: null } : e));
    const r = countersign(['trace', 'proposal-2', '--file', noSurface, '--check', '--policy', POLICY]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('check: 1 problem\n  #23 grant.consumed: surface: no surface\n');

    const noGrant = reseal(PERMISSIVE, (e) => (e.seq === 20 ? { ...e, type: 'grant.revoked', payload: { jti: 'grant-5', reason: 'halt', cause: 'x', rule_ids: ['halt:roles'] } } : e));
    const g = countersign(['trace', 'proposal-2', '--file', noGrant, '--check']);
    expect(g.code).toBe(1);
    expect(g.stdout).toContain('#23 grant.consumed: authority: executed on grant `grant-5`, which was never issued');
  });

  it('holds the policy to its own trace contract: a field the bundle does not require is not reported', () => {
    const policy = join(tmp, 'policy-no-surface.yaml');
    writeFileSync(policy, `${readFileSync(join(ROOT, POLICY), 'utf8')}\ntrace:\n  required_fields: [bundle_id, actor, rule_ids]\n`);
    const noSurface = reseal(PERMISSIVE, (e) => (e.seq === 23 ? { ...e, surface: null } : e));
    const r = countersign(['trace', 'proposal-2', '--file', noSurface, '--check', '--policy', policy]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

describe('countersign postmortem on the recorded incident', () => {
  it('classifies the permissive run as the incident analysis does', () => {
    const out = snapshot('postmortem-permissive.txt', ['postmortem', '--incident', 'inc-payments-0912', '--file', PERMISSIVE, '--policy', POLICY, '--golden', GOLDEN]);
    expect(out).toMatch(/^primary_failure_class +authority-boundary-failure$/m);
    expect(out).toMatch(/^secondary_failure_class +policy-enforcement-failure$/m);
    expect(out).toMatch(/^additional_classes +tool-authority-failure, operator-process-failure, evaluation-blind-spot, traceability-gap$/m);
    expect(out).toMatch(/^detection_stage +runtime incident$/m);
    snapshot('postmortem-permissive.md', ['postmortem', '--incident', 'inc-payments-0912', '--file', PERMISSIVE, '--policy', POLICY, '--golden', GOLDEN, '--markdown']);
    const json = JSON.parse(snapshot('postmortem-permissive.json', ['postmortem', '--incident', 'inc-payments-0912', '--file', PERMISSIVE, '--policy', POLICY, '--golden', GOLDEN, '--json'])) as {
      classes: { class: string; seqs: number[] }[];
    };
    // every class cites the two executions: restart #23 and clear #25
    for (const c of json.classes) expect(c.seqs, c.class).toEqual(expect.arrayContaining([23, 25]));
  });

  it('finds no failure in the governed run: every attempt was stopped', () => {
    const out = snapshot('postmortem-governed.txt', ['postmortem', '--incident', 'inc-payments-0912', '--file', GOVERNED, '--policy', POLICY, '--golden', GOLDEN]);
    expect(out).toMatch(/^primary_failure_class +none$/m);
    expect(out).toContain('#24 override.denied olivia@copilot-console [O1_IDENTITY_COLLISION, O4_MISSING_ROLLBACK, O5_NOT_ELIGIBLE]');
    snapshot('postmortem-governed.json', ['postmortem', '--file', GOVERNED, '--policy', POLICY, '--golden', GOLDEN, '--json']);
  });

  it('classifies a time window, and says what it could not evaluate without a golden set', () => {
    const r = countersign(['postmortem', '--from', '2025-06-01T09:20:00Z', '--to', '2025-06-01T09:30:00Z', '--file', PERMISSIVE, '--policy', POLICY]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('postmortem of 2025-06-01T09:20:00.000Z to 2025-06-01T09:30:00.000Z: 2 entries, seq 25 to 26');
    expect(r.stdout).toContain('queue.clear_shard@prod (#25)');
    expect(r.stdout).not.toContain('(#23)');
    expect(r.stdout).toContain('not evaluated: evaluation-blind-spot: no golden set was given');
  });
});

describe('countersign report overrides', () => {
  it('reports the governed run: one denied override against two approvals', () => {
    snapshot('report-overrides-governed.txt', ['report', 'overrides', '--file', GOVERNED, '--policy', POLICY, '--now', '2025-06-01T10:00:00Z']);
    const r = JSON.parse(countersign(['report', 'overrides', '--file', GOVERNED, '--policy', POLICY, '--now', '2025-06-01T10:00:00Z', '--window', '1h', '--json']).stdout) as {
      overrides: { granted: number; denied: number };
      approvals: number;
      override_rate: number;
    };
    expect(r).toMatchObject({ overrides: { granted: 0, denied: 1 }, approvals: 2, override_rate: 0 });
  });
});
