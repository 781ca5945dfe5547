import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * End to end: `countersign demo` (built CLI, `npm run build` first) starts two
 * live gateways, plays the reference incident through the HTTP API under the
 * permissive and the payments bundle, and reports both timelines. The kept
 * ledgers then go through `trace`, `postmortem` and `ledger verify`.
 */

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'countersign-demo-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function countersign(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Happening {
  readonly moment: string;
  readonly code: string;
  readonly refused: boolean;
}
interface Run {
  readonly run: string;
  readonly bundle_name: string;
  readonly ledger: string;
  readonly timeline: Happening[];
  readonly next: string[];
}

const codes = (run: Run | undefined): Record<string, string> => Object.fromEntries((run?.timeline ?? []).map((h) => [h.moment, h.code]));

describe('countersign demo', () => {
  const kept = join(tmp, 'kept');
  let report: { incident: string; runs: Run[]; kept: string | null; problems: string[] };

  it('plays the incident permissive then governed, and each failure of the report is stopped with its code', () => {
    const r = countersign(['demo', '--json', '--keep', kept]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    report = JSON.parse(r.stdout);
    expect(report.incident).toBe('inc-payments-0912');
    expect(report.kept).toBe(kept);
    expect(report.problems).toEqual([]);
    const [permissive, governed] = report.runs;
    expect(permissive?.bundle_name).toBe('payments-permissive');
    expect(governed?.bundle_name).toBe('payments');

    // as in the report: both bundled steps granted to the asking console, both run, no snapshot
    expect(codes(permissive)).toEqual({
      diagnostics: 'allow',
      'plan.restart': 'allow',
      'plan.clear': 'allow',
      second_key: 'none',
      override: 'none',
      restart: 'executed',
      clear: 'executed',
    });
    expect(permissive?.timeline.some((h) => h.refused)).toBe(false);

    // governed: each moment meets its control
    expect(codes(governed)).toEqual({
      diagnostics: 'allow',
      'plan.restart': 'require_approval',
      'plan.clear': 'PREREQUISITE_MISSING',
      second_key: 'SELF_APPROVAL',
      override: 'O1_IDENTITY_COLLISION',
      'policy.swap': 'RELEASE_REQUIRED',
      hold: 'opened',
      'diagnostics.hold': 'allow',
      rollback: 'registered',
      'approval.restart': 'approved',
      restart: 'executed',
      'clear.hold': 'HOLD_ACTIVE',
      snapshot: 'executed',
      lift: 'lifted',
      'clear.decision': 'require_approval',
      'approval.clear': 'approved',
      clear: 'executed',
    });
    expect(governed?.timeline.filter((h) => h.refused).map((h) => h.code)).toEqual(['SELF_APPROVAL', 'O1_IDENTITY_COLLISION', 'RELEASE_REQUIRED']);
  });

  it('keeps ledgers that verify, trace and classify as the report does', () => {
    const [permissive, governed] = report.runs;
    for (const run of [permissive, governed]) {
      const verify = run?.next.find((line) => line.startsWith('countersign ledger verify'));
      const v = countersign(verify!.split(' ').slice(1));
      expect(v.stderr).toBe('');
      expect(v.code).toBe(0);
      expect(v.stdout).toMatch(/^ok \d+ entries/);
    }
    const postmortem = (run: Run | undefined) => {
      const line = run?.next.find((l) => l.startsWith('countersign postmortem'));
      const p = countersign([...line!.split(' ').slice(1), '--json']);
      expect(p.stderr).toBe('');
      return JSON.parse(p.stdout) as { primary_failure_class: string | null };
    };
    expect(postmortem(permissive).primary_failure_class).toBe('authority-boundary-failure');
    expect(postmortem(governed).primary_failure_class).toBeNull();

    const trace = countersign(['trace', 'inc-payments-0912', '--db', governed!.ledger, '--json']);
    expect(trace.code).toBe(0);
    const lines = (JSON.parse(trace.stdout) as { lines: { type: string }[] }).lines.map((l) => l.type);
    expect(lines).toContain('override.denied');
    expect(lines).toContain('approval.rejected');
    expect(lines).toContain('hold.lifted');
  });

  it('prints the two timelines side by side and points at the trace', () => {
    const r = countersign(['demo', '--keep', join(tmp, 'human')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/permissive \(payments-permissive\)\s+governed \(payments\)/);
    expect(r.stdout).toContain('[REFUSED O1_IDENTITY_COLLISION]');
    expect(r.stdout).toContain(`countersign trace inc-payments-0912 --db ${join(tmp, 'human', 'governed.db')}`);
  });

  it('refuses to reuse a kept directory', () => {
    const r = countersign(['demo', '--keep', kept]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error\[FILE_EXISTS\]/);
  });
});
