import { describe, expect, it } from 'vitest';
import {
  caller,
  clearStep,
  compileBundle,
  COPILOT,
  EVIDENCE,
  examplePolicy,
  MINUTE,
  ok,
  refused,
  restartOverride,
  restartStep,
  snapshotStep,
  World,
  type OverrideDraft,
} from '../../../../test/scenario/world.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { LedgerEntry } from '../ledger/entry.js';
import type { ExecutionResult } from './execute.js';
import type { HaltResult } from './halt.js';
import type { HoldResult } from './hold.js';
import type { MachineStep } from './machine.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import type { RegisterRollbackResult } from './rollback.js';

/**
 * Using a lease runs one listed step inside the window, and repeats the checks
 * a lease does not stand in for: other holds, halts and prerequisites. Every
 * refusal is recorded as `lease.rejected` (or `lease.clock_breach`), filed
 * under the lease and the step and citing the override.
 */

const OLIVIA = caller('olivia', 'approver-console');
const LENA = caller('lena', 'approver-console');

/** The one entry a command wrote. */
function only<R>(step: MachineStep<R>): LedgerEntry {
  expect(step.entries).toHaveLength(1);
  return step.entries[0] as LedgerEntry;
}

/** Requested by olivia, signed by lena (A) and fatima (B) through the signed CLI. */
function lease(w: World, draft: OverrideDraft): string {
  const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...draft }));
  const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')];
  return ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures })).lease;
}

/** The restart proposed in prod (held when `hold` is set), its rollback registered, and a lease for it valid for an hour. */
function leasedRestart(w: World, options: { hold?: string; incident?: string } = {}): { lease: string; step: string; proposal: string; override: string } {
  const s = ok(w.propose([restartStep()], options.incident === undefined ? {} : { incident: options.incident })).steps[0];
  if (!s?.digest) throw new Error('the restart should have a digest');
  const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
  const id = lease(w, restartOverride(w, options.hold ?? null, s.digest, artifact));
  return { lease: id, step: s.step, proposal: w.state.steps.get(s.step)?.proposal ?? '', override: w.state.leases.get(id)?.override ?? '' };
}

const use = (w: World, leaseId: string, step: string, who = COPILOT): MachineStep<ExecutionResult> => w.run<ExecutionResult>({ kind: 'use_lease', caller: who, lease: leaseId, step });

describe('a refused lease use is recorded where a trace finds it', () => {
  it('files an unknown lease under the lease and the step named, citing no rule', () => {
    const w = new World(examplePolicy());
    const attempt = use(w, 'lease-404', 'proposal-9.0');
    expect(refused(attempt).code).toBe('LEASE_UNKNOWN');
    const entry = only(attempt);
    expect(entry.subjects).toEqual({ lease: 'lease-404', step: 'proposal-9.0' });
    expect(entry.payload).toMatchObject({ lease: 'lease-404', step: null, code: 'LEASE_UNKNOWN', rule_ids: [] });
  });

  it('cites the override behind the lease, and the roster for a caller outside it', () => {
    const w = new World(examplePolicy());
    const r = leasedRestart(w);
    const stranger = use(w, r.lease, r.step, caller('mallory', 'webhook'));
    expect(refused(stranger).code).toBe('UNKNOWN_PRINCIPAL');
    expect(only(stranger).payload['rule_ids']).toEqual([`override:${r.override}`, 'principal:roster']);
    const other = ok(w.propose([restartStep({ target: 'ledger-worker' })])).steps[0]?.step ?? '';
    const unlisted = use(w, r.lease, other);
    expect(refused(unlisted).code).toBe('O2_SCOPE_CREEP');
    expect(only(unlisted)).toMatchObject({ subjects: { lease: r.lease, step: other }, payload: { step: other, rule_ids: [`override:${r.override}`] } });
  });

  it('refuses a step nobody proposed as outside the lease, rather than failing', () => {
    const w = new World(examplePolicy());
    const r = leasedRestart(w);
    expect(refused(use(w, r.lease, 'proposal-404.0')).code).toBe('O2_SCOPE_CREEP');
  });
});

describe('the lease window', () => {
  it('is open from valid_from up to, not including, valid_to', () => {
    const w = new World(examplePolicy());
    const r = leasedRestart(w);
    const to = Date.parse(w.state.leases.get(r.lease)?.valid_to ?? '');
    w.now = to - 1;
    ok(use(w, r.lease, r.step));

    const late = new World(examplePolicy());
    const s = leasedRestart(late);
    late.now = to;
    expect(refused(use(late, s.lease, s.step)).code).toBe('O3_CLOCK_BREACH');
  });

  it('records a use outside it as a clock breach filed under the lease and the step, citing the window rule', () => {
    const w = new World(examplePolicy());
    const r = leasedRestart(w);
    w.advance(61 * MINUTE);
    const entry = only(use(w, r.lease, r.step));
    expect(entry.type).toBe('lease.clock_breach');
    expect(entry.subjects).toEqual({ lease: r.lease, step: r.step });
    expect(entry.payload['rule_ids']).toEqual([`override:${r.override}`, 'override:window']);
  });
});

describe('what a lease does not stand in for', () => {
  it('another hold over the step stops it, named in the refusal; the hold it was granted under does not', () => {
    const w = new World(examplePolicy());
    const first = ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE })).hold;
    const r = leasedRestart(w, { hold: first });
    const second = ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K2', scope: { targets: ['payments-worker'] }, evidence_hash: EVIDENCE })).hold;
    const attempt = use(w, r.lease, r.step);
    expect(refused(attempt).code).toBe('HOLD_ACTIVE');
    const rules = only(attempt).payload['rule_ids'];
    expect(rules).toContain(`hold:${second}`);
    expect(rules).not.toContain(`hold:${first}`);
    ok(w.run({ kind: 'hold_lift', caller: caller('priya', 'approver-console'), hold: second }));
    ok(use(w, r.lease, r.step));
  });

  it('a halt active when the lease was granted stops it, named in the refusal', () => {
    const w = new World(examplePolicy());
    const halted = ok(w.run<HaltResult>({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'environment', environment: 'prod' } }));
    const r = leasedRestart(w);
    const attempt = use(w, r.lease, r.step);
    expect(refused(attempt).code).toBe('HALT_ACTIVE');
    expect(only(attempt).payload['rule_ids']).toEqual([`override:${r.override}`, `halt:${halted.halt}`]);
  });
});

describe('prerequisites at lease use', () => {
  // A variant where clearing may be overridden: the two-key path is otherwise the only one.
  function overridableClear(): CompiledPolicy {
    const example = examplePolicy().bundle;
    return compileBundle({ ...example, actions: example.actions.map((a) => (a.id === 'queue.clear_shard' ? { ...a, override: { eligible: true } } : a)) });
  }

  /** The clear proposed (after a snapshot that succeeded now, when `snapshot`), its rollback registered, and a lease for it. */
  function leasedClear(w: World, snapshot: boolean): { lease: string; step: string } {
    if (snapshot) {
      const snap = ok(w.propose([snapshotStep()])).steps[0]?.grant?.jti ?? '';
      const done = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant: snap }));
      ok(w.run({ kind: 'outcome', caller: COPILOT, execution: done.execution, outcome: 'succeeded' }));
    }
    const clear = ok(w.propose([clearStep()])).steps[0];
    if (!clear?.digest) throw new Error('the clear should have a digest');
    const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: clear.step, action: 'queue.snapshot_shard', target: 'payments-queue/shard-7' })).artifact;
    const id = lease(w, { ...restartOverride(w, null, clear.digest, artifact), scope: { environments: ['prod'], actions: ['queue.clear_shard'], targets: ['payments-queue/shard-7'] } });
    return { lease: id, step: clear.step };
  }

  it('holds for exactly the window after the prior step succeeded', () => {
    const w = new World(overridableClear());
    const r = leasedClear(w, true);
    w.advance(30 * MINUTE);
    ok(use(w, r.lease, r.step));
  });

  it('lapses a millisecond after the window, naming the prerequisite', () => {
    const w = new World(overridableClear());
    const r = leasedClear(w, true);
    w.advance(30 * MINUTE + 1);
    const attempt = use(w, r.lease, r.step);
    expect(refused(attempt).code).toBe('PREREQUISITE_MISSING');
    const prior = w.policy.actions.get('queue.clear_shard')?.prior[0]?.ruleId;
    expect(prior).toBeDefined();
    expect(only(attempt).payload['rule_ids']).toContain(prior);
  });

  it('is missing when the prior step never ran, whatever the lease says', () => {
    const w = new World(overridableClear());
    const r = leasedClear(w, false);
    expect(refused(use(w, r.lease, r.step)).code).toBe('PREREQUISITE_MISSING');
  });
});

describe('a lease use that runs', () => {
  it('is filed under the lease, its override, the step, its proposal, its incident and the new execution', () => {
    const w = new World(examplePolicy());
    const r = leasedRestart(w, { incident: 'inc-7' });
    const ran = use(w, r.lease, r.step);
    expect(ok(ran).execution).toBe('execution-1');
    expect(ran.entries[0]?.type).toBe('lease.used');
    expect(ran.entries[0]?.subjects).toEqual({ lease: r.lease, override: r.override, step: r.step, proposal: r.proposal, execution: 'execution-1', incident: 'inc-7' });
  });
});
