import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { caller, compileBundle, COPILOT, EVIDENCE, EVIDENCE_2, examplePolicy, MINUTE, ok, refused, restartOverride, restartStep, snapshotStep, World, type OverrideDraft } from '../../../../test/scenario/world.js';
import type { MachineStep } from './machine.js';
import type { ApprovalResult } from './approve.js';
import type { ExecutionResult } from './execute.js';
import type { HoldResult } from './hold.js';
import type { RegisterRollbackResult } from './rollback.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import { runCommand } from './commands.js';
import { counterIds } from './machine.js';
import { uniqueKey } from './entries.js';
import { rebuildState } from './machine.js';
import { applyEntry } from './reduce.js';
import { projectionRows } from './state.js';
import { canonicalJson } from '../canonical.js';

/**
 * INVARIANT under test: a step runs at most once, whichever authority is
 * presented for it (issue 17). Two authorities can cover one step, an
 * approved grant and an override lease; the first to execute retires the
 * other in the same commit, and every later attempt is refused with
 * STEP_ALREADY_EXECUTED and recorded.
 */

const OLIVIA_CONSOLE = caller('olivia', 'approver-console');
const LENA = caller('lena', 'approver-console');
const LENA_CLI = caller('lena', 'signed-cli');
const PRIYA = caller('priya', 'approver-console');

/** The restart proposed (its request open) and its rollback registered: what an override needs. */
function openRestart(w: World): { step: string; request: string; digest: string; artifact: string } {
  const s = ok(w.propose([restartStep()])).steps[0];
  if (!s?.request || !s.digest) throw new Error('the restart in prod needs approval');
  const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA_CONSOLE, step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
  return { step: s.step, request: s.request, digest: s.digest, artifact };
}

/** Requested by olivia, signed by lena (A) and fatima (B) through the signed CLI, with priya as the budget's extra signer. */
function lease(w: World, draft: OverrideDraft): MachineStep<SubmitOverrideResult> {
  const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA_CONSOLE, ...draft }));
  const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli'), w.sign(requested.body, 'extra', 'priya', 'signed-cli')];
  return w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: LENA_CLI, override: requested.override, signatures });
}

function useLease(w: World, leaseId: string, step: string): MachineStep<ExecutionResult> {
  return w.run<ExecutionResult>({ kind: 'use_lease', caller: COPILOT, lease: leaseId, step });
}

function consume(w: World, grant: string): MachineStep<ExecutionResult> {
  return w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant });
}

function executionsOf(w: World, step: string): string[] {
  return w.machine.entries.filter((e) => (e.type === 'grant.consumed' || e.type === 'lease.used') && e.payload['step'] === step).map((e) => e.payload['execution'] as string);
}

/** The call was refused with STEP_ALREADY_EXECUTED and the refusal is recorded as `type`. */
function expectAlreadyRan(out: MachineStep<unknown>, type: 'grant.rejected' | 'lease.rejected'): void {
  expect(refused(out).code).toBe('STEP_ALREADY_EXECUTED');
  const last = out.entries.at(-1);
  expect(last?.type).toBe(type);
  expect(last?.payload['code']).toBe('STEP_ALREADY_EXECUTED');
  expect(last?.payload['rule_ids']).toEqual(expect.arrayContaining([expect.stringMatching(/^execution:/)]));
}

describe('a step runs at most once', () => {
  it('fails closed on a grant whose step the state does not hold: whether the step ran cannot be checked, so it does not run', () => {
    const w = new World(examplePolicy());
    ok(w.propose([snapshotStep({ environment: 'dev' })]));
    const issued = w.machine.entries.find((e) => e.type === 'grant.issued');
    if (!issued) throw new Error('the snapshot in dev is allowed and granted');
    // two grants for one step no proposal made, as only a ledger written by hand can hold
    for (const jti of ['grant-ghost-1', 'grant-ghost-2']) {
      applyEntry(w.state, { ...issued, seq: w.state.seq + 1, subjects: { ...issued.subjects, grant: jti, step: 'step-ghost' }, payload: { ...issued.payload, jti, step: 'step-ghost' } });
      const out = consume(w, jti);
      expect(refused(out).code).toBe('STEP_UNKNOWN');
      expect(out.entries.map((e) => [e.type, e.payload['code']])).toEqual([['grant.rejected', 'STEP_UNKNOWN']]);
    }
    expect(w.machine.entries.filter((e) => e.type === 'grant.consumed')).toEqual([]);
  });

  it('way 1: a lease runs the step while its request is open; the request is voided in the same commit and a later approval cannot grant it', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const granted = ok(lease(w, restartOverride(w, null, r.digest, r.artifact)));
    const used = useLease(w, granted.lease, r.step);
    ok(used);
    expect(used.entries.map((e) => e.type)).toEqual(['lease.used', 'request.voided']);
    expect(used.entries[1]?.payload).toMatchObject({ request: r.request, reason: 'step_executed', execution: ok(used).execution });
    expect(w.state.requests.get(r.request)?.status).toBe('voided');

    const late = w.approve(r.request, 'fatima', 'approver-console');
    expect(refused(late).code).toBe('REQUEST_CLOSED');
    expect(late.entries.at(-1)?.type).toBe('approval.rejected');
    expect(w.state.steps.get(r.step)?.grants).toEqual([]);
    expect(executionsOf(w, r.step)).toHaveLength(1);
  });

  it('way 1, approved first: the lease runs the step and revokes the live grant in the same commit; the grant is then refused', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const approved = ok(w.approve(r.request, 'lena', 'approver-console') as MachineStep<ApprovalResult>);
    const grant = approved.grant?.jti;
    if (!grant) throw new Error('the rollback is registered: the approval should issue the grant');
    const granted = ok(lease(w, restartOverride(w, null, r.digest, r.artifact)));
    const used = useLease(w, granted.lease, r.step);
    const execution = ok(used).execution;
    expect(used.entries.map((e) => e.type)).toEqual(['lease.used', 'grant.revoked']);
    expect(used.entries[1]?.payload).toMatchObject({ jti: grant, reason: 'step_executed', cause: execution });
    expect(w.state.grants.get(grant)?.status).toBe('revoked');

    expectAlreadyRan(consume(w, grant), 'grant.rejected');
    expect(executionsOf(w, r.step)).toEqual([execution]);
  });

  it('way 2: grant live, a hold opens, a lease runs the step, the hold is lifted: the grant is refused', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const grant = ok(w.approve(r.request, 'lena', 'approver-console')).grant?.jti ?? '';
    const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE })).hold;
    // the hold suspends the grant but does not end it
    expect(refused(consume(w, grant)).code).toBe('HOLD_ACTIVE');
    const granted = ok(lease(w, restartOverride(w, hold, r.digest, r.artifact)));
    w.advance(MINUTE);
    const execution = ok(useLease(w, granted.lease, r.step)).execution;
    ok(w.run({ kind: 'hold_lift', caller: PRIYA, hold }));

    expectAlreadyRan(consume(w, grant), 'grant.rejected');
    expect(executionsOf(w, r.step)).toEqual([execution]);
  });

  it('a lease cannot re-run a step its grant already ran; its entry for that digest is retired in the same commit', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const grant = ok(w.approve(r.request, 'lena', 'approver-console')).grant?.jti ?? '';
    const granted = ok(lease(w, restartOverride(w, null, r.digest, r.artifact)));
    const consumed = consume(w, grant);
    const execution = ok(consumed).execution;
    expect(consumed.entries.map((e) => e.type)).toEqual(['grant.consumed', 'lease.step_retired']);
    expect(consumed.entries[1]?.payload).toMatchObject({ lease: granted.lease, step: r.step, digest: r.digest, reason: 'step_executed', execution });
    expect(w.state.leases.get(granted.lease)?.retired).toEqual({ [r.digest]: execution });

    expectAlreadyRan(useLease(w, granted.lease, r.step), 'lease.rejected');

    // the same action proposed again is another step with the same digest: the lease's entry for that digest is spent
    const again = ok(w.propose([restartStep()])).steps[0];
    expect(again?.digest).toBe(r.digest);
    const second = useLease(w, granted.lease, again?.step ?? '');
    expect(refused(second).code).toBe('LEASE_STEP_USED');
    expect(second.entries.at(-1)?.type).toBe('lease.rejected');
    expect(executionsOf(w, r.step)).toEqual([execution]);
  });

  it('a lease granted after the step ran cannot run it', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const grant = ok(w.approve(r.request, 'lena', 'approver-console')).grant?.jti ?? '';
    ok(consume(w, grant));
    const granted = ok(lease(w, restartOverride(w, null, r.digest, r.artifact)));
    expectAlreadyRan(useLease(w, granted.lease, r.step), 'lease.rejected');
    expect(executionsOf(w, r.step)).toHaveLength(1);
  });

  it('a bundle change does not decide an executed step again', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const granted = ok(lease(w, restartOverride(w, null, r.digest, r.artifact)));
    ok(useLease(w, granted.lease, r.step));
    const decidedBefore = w.machine.entries.filter((e) => e.type === 'step.decided' && e.payload['step'] === r.step).length;
    ok(w.activate(compileBundle({ ...examplePolicy().bundle, description: 'next' })));
    expect(w.machine.entries.filter((e) => e.type === 'step.decided' && e.payload['step'] === r.step)).toHaveLength(decidedBefore);
  });

  it('replicas racing a grant and a lease for one step write the same unique key, so the store commits only one', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const grant = ok(w.approve(r.request, 'lena', 'approver-console')).grant?.jti ?? '';
    const granted = ok(lease(w, restartOverride(w, null, r.digest, r.artifact)));
    const ctx = { now: w.now, ids: counterIds() };
    const a = runCommand(w.state, w.policy, { kind: 'consume', caller: COPILOT, grant }, ctx);
    const b = runCommand(w.state, w.policy, { kind: 'use_lease', caller: COPILOT, lease: granted.lease, step: r.step }, ctx);
    const [da, db] = [a.entries[0], b.entries[0]];
    expect(da?.type).toBe('grant.consumed');
    expect(db?.type).toBe('lease.used');
    // ADR 002 §5: the UNIQUE(unique_key) backstop
    expect(da && uniqueKey(da)).toBe(`step.executed:${r.step}`);
    expect(db && uniqueKey(db)).toBe(`step.executed:${r.step}`);
  });
});

type Action =
  | { readonly kind: 'approve'; readonly approver: number }
  | { readonly kind: 'override'; readonly withHold: boolean }
  | { readonly kind: 'hold' }
  | { readonly kind: 'lift' }
  | { readonly kind: 'evidence' }
  | { readonly kind: 'halt' }
  | { readonly kind: 'lift_halt' }
  | { readonly kind: 'consume'; readonly grant: number }
  | { readonly kind: 'use'; readonly lease: number; readonly step: number }
  | { readonly kind: 'propose' }
  | { readonly kind: 'outcome'; readonly execution: number; readonly outcome: 'succeeded' | 'failed' | 'ambiguous' }
  | { readonly kind: 'rollback'; readonly artifact: number }
  | { readonly kind: 'advance'; readonly ms: number };

const APPROVERS = ['lena', 'fatima', 'leo', 'sam'];

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('approve' as const), approver: fc.nat(APPROVERS.length - 1) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('override' as const), withHold: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'hold' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'lift' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'evidence' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'halt' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lift_halt' as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('consume' as const), grant: fc.nat(7) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('use' as const), lease: fc.nat(7), step: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'propose' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('outcome' as const), execution: fc.nat(7), outcome: fc.constantFrom('succeeded' as const, 'failed' as const, 'ambiguous' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('rollback' as const), artifact: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 20 * MINUTE }) }) },
);

describe('property: no interleaving runs a step twice, and replay rebuilds the state', () => {
  it('approve, override, hold, lift, halt, consume, lease use, outcomes and rollbacks in any order: at most one execution per step, every success is one, and the ledger replays to the live state', () => {
    fc.assert(
      fc.property(fc.array(actionArb, { minLength: 1, maxLength: 40 }), (actions) => {
        const w = new World(examplePolicy());
        const steps = [openRestart(w)];
        let successes = 0;
        for (const a of actions) {
          const latest = steps.at(-1);
          if (!latest) break;
          switch (a.kind) {
            case 'approve':
              w.approve(latest.request, APPROVERS[a.approver] ?? 'lena', 'approver-console');
              break;
            case 'override': {
              const hold = a.withHold ? ([...w.state.index.openHolds][0] ?? null) : null;
              const target = steps[successes % steps.length] ?? latest;
              lease(w, restartOverride(w, hold, target.digest, target.artifact));
              break;
            }
            case 'hold':
              w.run({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE });
              break;
            case 'lift':
              for (const id of [...w.state.index.openHolds]) w.run({ kind: 'hold_lift', caller: PRIYA, hold: id });
              break;
            case 'evidence':
              for (const id of [...w.state.index.openHolds]) w.run({ kind: 'hold_evidence', caller: LENA, hold: id, evidence_hash: EVIDENCE_2 });
              break;
            case 'halt':
              w.run({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'environment', environment: 'prod' } });
              break;
            case 'lift_halt':
              for (const id of [...w.state.index.activeHalts]) w.run({ kind: 'halt_lift', caller: caller('sam', 'signed-cli'), halt: id });
              break;
            case 'consume': {
              const grants = [...w.state.grants.keys()];
              const jti = grants[a.grant % Math.max(1, grants.length)];
              if (jti !== undefined && consume(w, jti).result.ok) successes += 1;
              break;
            }
            case 'use': {
              const leases = [...w.state.leases.keys()];
              const leaseId = leases[a.lease % Math.max(1, leases.length)];
              const step = steps[a.step % steps.length];
              if (leaseId !== undefined && step && useLease(w, leaseId, step.step).result.ok) successes += 1;
              break;
            }
            case 'propose':
              // during a hold or halt the restart is decided `held`, with no request to approve
              if (steps.length < 4 && w.state.index.openHolds.size === 0 && w.state.index.activeHalts.size === 0) steps.push(openRestart(w));
              break;
            case 'outcome': {
              const executions = [...w.state.executions.keys()];
              const id = executions[a.execution % Math.max(1, executions.length)];
              if (id !== undefined) w.run({ kind: 'outcome', caller: COPILOT, execution: id, outcome: a.outcome });
              break;
            }
            case 'rollback': {
              const artifacts = [...w.state.artifacts.keys()];
              const id = artifacts[a.artifact % Math.max(1, artifacts.length)];
              if (id !== undefined) w.run({ kind: 'rollback_run', caller: LENA, artifact: id });
              break;
            }
            case 'advance':
              w.advance(a.ms);
              break;
          }
        }
        // ADR 002 §2: replaying the ledger alone rebuilds exactly the live state, row for row
        const rows = (state: Parameters<typeof projectionRows>[0]): string[] => projectionRows(state).map((r) => `${r.kind}/${r.id}=${canonicalJson(r.value)}`);
        expect(rows(rebuildState(w.machine.entries))).toEqual(rows(w.state));
        const executed = w.machine.entries.filter((e) => e.type === 'grant.consumed' || e.type === 'lease.used').map((e) => e.payload['step'] as string);
        expect(executed).toHaveLength(successes);
        expect(new Set(executed).size).toBe(executed.length);
        for (const step of w.state.steps.values()) expect(step.executions.length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });
});
