import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canonicalDigest } from '../packages/core/src/digest.js';
import { decodeEntry, sealEntry, type LedgerEntry, type SealedEntry } from '../packages/core/src/ledger/entry.js';
import type { PolicyDiff } from '../packages/core/src/policy/diff.js';
import { SqliteLedgerStore } from '../packages/gateway/src/store/sqlite.js';
import { exportLedger } from './helpers/record-incident.js';
import { appendDrafts } from '../packages/gateway/src/testing/plain-append.js';

/**
 * End to end: the built CLI (`npx tsc -b packages/core packages/client
 * packages/gateway` first) diffing the bundle the reference incident ran
 * under against the payments bundle, on the recorded ledger of that morning.
 */

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
const PAYMENTS = 'examples/payments/policy.yaml';
const PERMISSIVE = 'examples/permissive/policy.yaml';
const LEDGER = 'test/fixtures/ledgers/incident-permissive.jsonl';

const tmp = mkdtempSync(join(tmpdir(), 'countersign-policy-diff-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function countersign(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function diffJson(args: string[], code = 1): PolicyDiff {
  const r = countersign(['policy', 'diff', ...args, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(code);
  return JSON.parse(r.stdout) as PolicyDiff;
}

function ledgerLines(): string[] {
  return readFileSync(join(ROOT, LEDGER), 'utf8').split('\n').filter((l) => l.startsWith('{"actor"'));
}

/** The recorded ledger, resealed after an edit of its decoded entries, so only the edit differs. */
function resealed(edit: (e: LedgerEntry) => LedgerEntry): string {
  const sealed: SealedEntry[] = [];
  for (const line of ledgerLines()) {
    const { v: _v, seq: _seq, prev_hash: _prev, ...draft } = edit(decodeEntry(new TextEncoder().encode(line)));
    sealed.push(sealEntry(draft, sealed.length, sealed.at(-1)?.hash ?? null));
  }
  const out = join(tmp, 'edited.jsonl');
  writeFileSync(out, exportLedger(sealed));
  return out;
}

it('runs the built CLI', () => {
  expect(existsSync(CLI), 'build first: npx tsc -b packages/core packages/client packages/gateway').toBe(true);
});

describe('countersign policy diff on the recorded permissive incident', () => {
  it('lists the restart and the queue clear as changed under the payments bundle', () => {
    const r = countersign(['policy', 'diff', PERMISSIVE, PAYMENTS, '--file', LEDGER]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('replay: 6 decisions from 27 ledger entries, 2 would change\n');
    expect(r.stdout).toContain('  proposal-2.0  workers.restart_pool@prod payments-worker  (seq 19, 2025-06-01T09:16:00.000Z)\n      effect: allow → require_approval\n');
    expect(r.stdout).toContain('  proposal-2.1  queue.clear_shard@prod payments-queue/shard-7  (seq 21, 2025-06-01T09:16:00.000Z)\n      effect: allow → deny\n');
    expect(r.stdout).toContain('    ~ queue.clear_shard\n');
    expect(r.stdout).toContain('        risk.prod: low → critical\n');

    const diff = diffJson([PERMISSIVE, PAYMENTS, '--file', LEDGER]);
    expect(diff.replay?.changes.map((c) => [c.step, c.action, c.before.effect, c.after.effect])).toEqual([
      ['proposal-2.0', 'workers.restart_pool', 'allow', 'require_approval'],
      ['proposal-2.1', 'queue.clear_shard', 'allow', 'deny'],
    ]);
    expect(diff.replay?.changes[0]?.after).toMatchObject({ risk: 'high', quorum: [{ roles: ['incident-lead', 'payments-owner'], count: 1 }], surfaces: ['approver-console', 'signed-cli'] });
    expect(diff.replay?.changes[1]?.after.reasons).toEqual(['PREREQUISITE_MISSING']);
    // the diagnostics stay allowed; the ledger's own bundle decides as the example permissive bundle does
    expect(diff.replay?.counts).toMatchObject({ entries: 27, decisions: 6, changed: 2, unchanged: 4, differs_from_recorded: 0 });
    const { digest, ...body } = diff;
    expect(digest).toBe(canonicalDigest(body));
    expect(r.stdout.endsWith(`\ndiffers; digest ${digest}\n`)).toBe(true);
  });

  it('reads a SQLite store as it reads the export', async () => {
    const db = join(tmp, 'permissive.db');
    const store = SqliteLedgerStore.open(db, {});
    await appendDrafts(store, 
      ledgerLines().map((l) => {
        const { v: _v, seq: _seq, prev_hash: _prev, ...draft } = decodeEntry(new TextEncoder().encode(l));
        return draft;
      }),
    );
    await store.close();
    expect(diffJson([PERMISSIVE, PAYMENTS, '--db', db])).toEqual(diffJson([PERMISSIVE, PAYMENTS, '--file', LEDGER]));
  });

  it('exits 0 for a bundle against itself, whatever the ledger recorded', () => {
    const r = countersign(['policy', 'diff', PAYMENTS, PAYMENTS, '--file', LEDGER]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('rules: identical\n');
    expect(r.stdout).toContain('replay: 6 decisions from 27 ledger entries, 0 would change\n');
    expect(r.stdout).toMatch(/\nidentical; digest sha256:[0-9a-f]{64}\n$/);
  });

  it('diffs the rules alone without a ledger', () => {
    const diff = diffJson([PERMISSIVE, PAYMENTS]);
    expect(diff.replay).toBeNull();
    expect(diff.static.counts).toMatchObject({ added: 3, removed: 0 });
    expect(diff.static.changes.find((c) => c.section === 'risk_classes' && c.id === 'critical')?.change).toBe('added');
  });

  it('replays only what was decided since a time, or a duration ago', () => {
    const since = diffJson([PERMISSIVE, PAYMENTS, '--file', LEDGER, '--since', '2025-06-01T11:15:00+02:00']);
    expect(since.replay).toMatchObject({ since: '2025-06-01T09:15:00.000Z', counts: { decisions: 2, changed: 2 } });
    const recent = diffJson([PERMISSIVE, PAYMENTS, '--file', LEDGER, '--since', '24h']);
    expect(recent.replay?.counts).toMatchObject({ decisions: 0, changed: 0 });
  });
});

describe('countersign policy diff refuses bad input', () => {
  it.each([
    [['policy', 'diff', PAYMENTS], /missing required argument 'candidate'/],
    [['policy', 'diff', PERMISSIVE, PAYMENTS, '--since', '24h'], /^error\[USAGE\]: `--since` bounds the replay of a ledger/],
    [['policy', 'diff', PERMISSIVE, PAYMENTS, '--file', LEDGER, '--since', 'yesterday'], /`yesterday` is neither an RFC 3339 time/],
    [['policy', 'diff', PERMISSIVE, 'no-such-policy.yaml'], /^error\[FILE_NOT_FOUND\]: cannot read policy `no-such-policy.yaml`/],
    [['policy', 'diff', PERMISSIVE, 'test/fixtures/policies/unknown-key.yaml'], /^error\[POLICY_INVALID\]: policy `test\/fixtures\/policies\/unknown-key.yaml` is invalid/],
    [['policy', 'diff', PERMISSIVE, PAYMENTS, '--file', 'no-such-ledger.jsonl'], /^error\[FILE_NOT_FOUND\]: cannot read ledger export/],
  ])('exits 2 for %j', (args, message) => {
    const r = countersign(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
  });

  it('exits 2 for a ledger entry it cannot read, naming it', () => {
    const file = resealed((e) => (e.type === 'step.decided' && e.seq === 21 ? { ...e, payload: { ...e.payload, effect: 'maybe' } } : e));
    const r = countersign(['policy', 'diff', PERMISSIVE, PAYMENTS, '--file', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error\[LEDGER_ENTRY_INVALID\]: entry 21 \(`step.decided`\) cannot be replayed at `\/payload\/effect`/);
  });

  it('exits 3 when the store is unreachable', () => {
    const r = countersign(['policy', 'diff', PERMISSIVE, PAYMENTS, '--postgres', 'postgres://countersign@127.0.0.1:1/countersign']);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error\[STORE_UNAVAILABLE\]/);
  });

  it('documents its exit codes and examples in --help', () => {
    const r = countersign(['policy', 'diff', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Exit codes:\n  0  identical');
    expect(r.stdout).toContain('  3  store unreachable');
    expect(r.stdout).toContain('countersign policy diff active.yaml candidate.yaml --db ledger.db --since 24h');
    expect(countersign(['policy', '--help']).stdout).toContain('\n  diff [options] <active> <candidate>');
  });
});
