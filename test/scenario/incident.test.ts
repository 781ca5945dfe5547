import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../packages/core/src/canonical.js';
import type { LedgerEntry } from '../../packages/core/src/ledger/entry.js';
import type { Refusal } from '../../packages/core/src/state/command.js';
import type { ApprovalResult } from '../../packages/core/src/state/approve.js';
import type { StepOutcome } from '../../packages/core/src/state/propose.js';
import { rebuildState } from '../../packages/core/src/state/machine.js';
import { projectionRows, type AuthorityState } from '../../packages/core/src/state/state.js';
import { INCIDENT, playGoverned, playPermissive } from './incident.js';

function rows(state: AuthorityState): Map<string, string> {
  return new Map(projectionRows(state).map((r) => [`${r.kind}/${r.id}`, canonicalJson(r.value)]));
}

function executed(entries: readonly LedgerEntry[], state: AuthorityState, action: string): LedgerEntry[] {
  return entries.filter((e) => (e.type === 'grant.consumed' || e.type === 'lease.used') && state.steps.get(e.payload['step'] as string)?.action === action);
}

/** Entries that record an authority decision carry the trace fields issue 6 checks. */
const DECISION_TYPES = new Set(['step.decided', 'approval.accepted', 'approval.rejected', 'grant.consumed', 'grant.rejected', 'override.denied', 'override.granted', 'hold.opened', 'hold.lifted', 'authority.rejected']);

function expectTraceFields(entries: readonly LedgerEntry[]): void {
  for (const e of entries) {
    if (!DECISION_TYPES.has(e.type)) continue;
    expect(e.bundle_id, `${e.type} #${e.seq} bundle`).toMatch(/^sha256:/);
    expect(e.actor, `${e.type} #${e.seq} actor`).toBeTruthy();
    expect(e.surface, `${e.type} #${e.seq} surface`).toBeTruthy();
    expect(typeof e.payload['credential'], `${e.type} #${e.seq} credential`).toBe('string');
    expect(Array.isArray(e.payload['rule_ids']), `${e.type} #${e.seq} rule_ids`).toBe(true);
  }
}

describe('the reference incident under a permissive bundle', () => {
  const { world, moments } = playPermissive();
  const entries = world.machine.entries;

  it('happens as in the report: both steps run on grants the requesting console got at once', () => {
    const plan = moments['plan'] as StepOutcome[];
    expect(plan.map((s) => s.effect)).toEqual(['allow', 'allow']);
    const restart = executed(entries, world.state, 'workers.restart_pool');
    const clear = executed(entries, world.state, 'queue.clear_shard');
    expect(restart).toHaveLength(1);
    expect(clear).toHaveLength(1);
    // no independent authority anywhere: no request, no approval, one console
    expect(entries.some((e) => e.type === 'request.opened' || e.type === 'approval.accepted')).toBe(false);
    for (const step of plan) expect(world.state.grants.get(step.grant?.jti ?? '')?.request).toBeNull();
    const proposal = world.state.proposals.get(world.state.steps.get(plan[0]?.step ?? '')?.proposal ?? '');
    expect(proposal).toMatchObject({ surface: 'copilot-console', on_behalf_of: 'olivia', incident: INCIDENT });
  });

  it('cleared the queue with no snapshot before it: the evidence is gone', () => {
    expect(executed(entries, world.state, 'queue.snapshot_shard')).toHaveLength(0);
    const clear = executed(entries, world.state, 'queue.clear_shard')[0];
    expect(world.state.executions.get(clear?.payload['execution'] as string)?.outcome).toBe('succeeded');
  });

  it('still leaves a ledger that rebuilds to the same state', () => {
    expect(rows(rebuildState(entries))).toEqual(rows(world.state));
    expectTraceFields(entries);
  });
});

describe('the reference incident under examples/payments/policy.yaml', () => {
  const { world, moments } = playGoverned();
  const entries = world.machine.entries;

  it('decides the two bundled steps on their own: the restart needs a key, the clear is blocked until a snapshot exists', () => {
    const [restart, clear] = moments['plan'] as StepOutcome[];
    expect(restart?.effect).toBe('require_approval');
    expect(restart?.request).toBeTruthy();
    expect(clear?.effect).toBe('deny');
    expect(clear?.reasons).toContain('PREREQUISITE_MISSING');
    expect(clear?.grant).toBeNull();
  });

  it('refuses the operator as her own second key, and the same-console override with O1_IDENTITY_COLLISION', () => {
    expect((moments['self_approval'] as Refusal).code).toBe('SELF_APPROVAL');
    const override = moments['override'] as Refusal;
    expect(override.ok).toBe(false);
    expect(override.code).toBe('O1_IDENTITY_COLLISION');
    // the same console is not an allowed signing surface, and there was no rollback
    expect(override.codes).toEqual(expect.arrayContaining(['O1_IDENTITY_COLLISION', 'O4_MISSING_ROLLBACK', 'O5_NOT_ELIGIBLE']));
    expect(world.state.leases.size).toBe(0);
    const denied = entries.find((e) => e.type === 'override.denied');
    expect(denied?.surface).toBe('copilot-console');
    expect(denied?.actor).toBe('olivia');
  });

  it('keeps diagnostics working during the hold', () => {
    const during = moments['diagnostics_during_hold'] as StepOutcome[];
    expect(during.map((s) => s.effect)).toEqual(['allow', 'allow', 'allow', 'allow']);
    const held = moments['clear_during_hold'] as StepOutcome;
    expect(held.effect).toBe('held');
    expect(held.reasons).toEqual(['HOLD_ACTIVE']);
  });

  it('runs the restart only after an independent key from another surface', () => {
    const approval = moments['restart_approval'] as ApprovalResult;
    expect(approval.quorum_met).toBe(true);
    const accepted = entries.filter((e) => e.type === 'approval.accepted' && e.payload['request'] === approval.request);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]?.payload).toMatchObject({ approver: 'leo', surface: 'signed-cli', attestation: 'key', signature_verified: true });
    const consumed = executed(entries, world.state, 'workers.restart_pool');
    expect(consumed).toHaveLength(1);
    expect(consumed[0]?.seq).toBeGreaterThan(accepted[0]?.seq ?? Infinity);
    // and its rollback was registered before the grant
    const registered = entries.find((e) => e.type === 'rollback.registered');
    const granted = entries.find((e) => e.type === 'grant.issued' && e.payload['request'] === approval.request);
    expect(registered?.seq).toBeLessThan(granted?.seq ?? -1);
  });

  it('clears the shard only after a snapshot succeeded, with two signed keys of its own', () => {
    const snapshot = executed(entries, world.state, 'queue.snapshot_shard');
    const clear = executed(entries, world.state, 'queue.clear_shard');
    expect(snapshot).toHaveLength(1);
    expect(clear).toHaveLength(1);
    const snapshotOutcome = entries.find((e) => e.type === 'execution.outcome' && e.payload['execution'] === snapshot[0]?.payload['execution']);
    expect(snapshotOutcome?.payload['outcome']).toBe('succeeded');
    expect(snapshotOutcome?.seq).toBeLessThan(clear[0]?.seq ?? -1);
    const approval = moments['clear_approval'] as ApprovalResult;
    const approvers = entries.filter((e) => e.type === 'approval.accepted' && e.payload['request'] === approval.request).map((e) => e.payload['approver']);
    expect(approvers).toEqual(['leo', 'fatima']);
    // one step, one decision: the clear's grant is not the restart's
    const grants = new Set([...executed(entries, world.state, 'workers.restart_pool'), ...clear].map((e) => e.payload['jti']));
    expect(grants.size).toBe(2);
  });

  it('holds every attempt in the ledger, each with its bundle, rules, actor, surface and credential', () => {
    const types = entries.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['approval.rejected', 'override.requested', 'override.denied', 'hold.opened', 'hold.lifted']));
    const decisions = entries.filter((e) => e.type === 'step.decided').map((e) => e.payload['effect']);
    expect(decisions).toEqual(expect.arrayContaining(['deny', 'held', 'require_approval', 'allow']));
    expectTraceFields(entries);
    expect(rows(rebuildState(entries))).toEqual(rows(world.state));
  });
});
