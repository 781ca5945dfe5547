import { describe, expect, it } from 'vitest';
import { caller, COPILOT, EVIDENCE, EVIDENCE_2, examplePolicy, ok, refused, restartOverride, restartStep, World } from '../../../../test/scenario/world.js';
import type { LedgerEntry } from '../ledger/entry.js';
import type { HoldResult, OpenHoldCommand } from './hold.js';
import type { MachineStep } from './machine.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import type { RegisterRollbackResult } from './rollback.js';

/**
 * What opening, extending and lifting a hold check and record: a scope that
 * names only what the bundle declares, a well-formed evidence hash, entries
 * filed under the hold and its incident citing the hold rules, and new
 * evidence revoking exactly the leases granted under that hold.
 */

const LENA = caller('lena', 'approver-console');
const PRIYA = caller('priya', 'approver-console');
const OLIVIA = caller('olivia', 'approver-console');
const FATIMA = caller('fatima', 'signed-cli');

const only = <R>(step: MachineStep<R>): LedgerEntry => {
  expect(step.entries).toHaveLength(1);
  return step.entries[0] as LedgerEntry;
};

function open(w: World, over: Partial<OpenHoldCommand> = {}): MachineStep<HoldResult> {
  return w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE, ...over });
}

/** A lease for the restart in prod under `hold`: proposed (held), rollback registered, signed by lena and fatima. */
function leaseUnder(w: World, hold: string, target = 'payments-worker'): string {
  const s = ok(w.propose([restartStep({ target })])).steps[0];
  if (!s?.digest) throw new Error('the restart should have a digest');
  const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: s.step, action: 'workers.rollback_pool', target })).artifact;
  const draft = { ...restartOverride(w, hold, s.digest, artifact), scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: [target] } };
  const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...draft }));
  const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')];
  return ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures })).lease;
}

describe('a hold scope names only what the bundle declares', () => {
  it.each([
    ['an undeclared environment beside a declared one', { environments: ['prod', 'Prod'] }],
    ['an unknown class beside a known one', { classes: ['write', 'mutation'] as never[] }],
    ['an unknown action beside a known one', { actions: ['workers.restart_pool', 'workers.make_it_so'] }],
    ['an empty target', { targets: ['payments-worker', ''] }],
    ['a target over 512 characters', { targets: ['t'.repeat(513)] }],
  ])('refuses %s', (_label, scope) => {
    const w = new World(examplePolicy());
    const attempt = open(w, { scope });
    expect(refused(attempt).code).toBe('HOLD_SCOPE_INVALID');
    expect(only(attempt).payload['rule_ids']).toEqual(['holds:open_roles']);
  });

  it('accepts a 512-character target, and an empty scope as everything', () => {
    const w = new World(examplePolicy());
    ok(open(w, { scope: { targets: ['t'.repeat(512)] } }));
    const all = ok(open(w, { scope: {} }));
    expect(all).toEqual({ ok: true, hold: all.hold, revoked_leases: [] });
    expect(w.state.holds.get(all.hold)?.scope).toEqual({ environments: [], classes: [], actions: [], targets: [] });
  });

  it('refuses an evidence hash with anything around it, when opening or extending', () => {
    const w = new World(examplePolicy());
    expect(refused(open(w, { evidence_hash: `x${EVIDENCE}` })).code).toBe('EVIDENCE_INVALID');
    expect(refused(open(w, { evidence_hash: `${EVIDENCE}0` })).code).toBe('EVIDENCE_INVALID');
    const hold = ok(open(w)).hold;
    const bad = w.run({ kind: 'hold_evidence', caller: LENA, hold, evidence_hash: `${EVIDENCE_2}0` });
    expect(refused(bad).code).toBe('EVIDENCE_INVALID');
    expect(only(bad)).toMatchObject({ subjects: { hold }, payload: { rule_ids: ['holds:open_roles'] } });
  });
});

describe('refusals cite the hold rules and name the hold', () => {
  it('when opening', () => {
    const w = new World(examplePolicy());
    expect(only(open(w, { caller: FATIMA })).payload).toMatchObject({ code: 'ROLE_NOT_ELIGIBLE', rule_ids: ['holds:open_roles'] });
    expect(only(open(w, { trip_gate: 'K9' })).payload).toMatchObject({ code: 'UNKNOWN_TRIP_GATE', rule_ids: ['holds:trip_gates'] });
    expect(only(open(w, { evidence_hash: 'sha256:short' })).payload).toMatchObject({ code: 'EVIDENCE_INVALID', rule_ids: ['holds:open_roles'] });
    expect(only(open(w, { caller: FATIMA })).subjects).toEqual({});
  });

  it('when extending: only the open roles may add evidence, to a hold that exists and is open', () => {
    const w = new World(examplePolicy());
    const hold = ok(open(w)).hold;
    const evidence = (who = LENA, id = hold) => w.run({ kind: 'hold_evidence', caller: who, hold: id, evidence_hash: EVIDENCE_2 });
    expect(only(evidence(FATIMA))).toMatchObject({ subjects: { hold }, payload: { code: 'ROLE_NOT_ELIGIBLE', hold, rule_ids: ['holds:open_roles'] } });
    expect(only(evidence(COPILOT)).payload).toMatchObject({ code: 'AGENT_CANNOT_HOLD', rule_ids: ['holds:open_roles'] });
    expect(only(evidence(LENA, 'hold-404'))).toMatchObject({ subjects: { hold: 'hold-404' }, payload: { code: 'HOLD_UNKNOWN', rule_ids: ['holds:open_roles'] } });
    ok(w.run({ kind: 'hold_lift', caller: PRIYA, hold }));
    expect(only(evidence()).payload).toMatchObject({ code: 'HOLD_NOT_OPEN', rule_ids: ['holds:open_roles'] });
  });

  it('when lifting: only the lift roles, a hold that exists and is open', () => {
    const w = new World(examplePolicy());
    const hold = ok(open(w)).hold;
    const lift = (who = PRIYA, id = hold) => w.run({ kind: 'hold_lift', caller: who, hold: id });
    expect(only(lift(OLIVIA)).payload).toMatchObject({ code: 'ROLE_NOT_ELIGIBLE', rule_ids: ['holds:lift_roles'] });
    const unknown = lift(PRIYA, 'hold-404');
    expect(refused(unknown).code).toBe('HOLD_UNKNOWN');
    expect(only(unknown)).toMatchObject({ subjects: { hold: 'hold-404' }, payload: { rule_ids: ['holds:lift_roles'] } });
    expect(ok(lift())).toEqual({ ok: true, hold, revoked_leases: [] });
    expect(only(lift()).payload).toMatchObject({ code: 'HOLD_NOT_OPEN', rule_ids: ['holds:lift_roles'] });
  });
});

describe('what a hold records', () => {
  it('files opening, evidence and lifting under the hold and its incident, keeping 2,000 characters of a reason', () => {
    const w = new World(examplePolicy());
    const opened = open(w, { incident: 'inc-9', reason: 'r'.repeat(3_000) });
    const hold = ok(opened).hold;
    expect(only(opened).subjects).toEqual({ hold, incident: 'inc-9' });
    expect(only(opened).payload['reason']).toBe('r'.repeat(2_000));
    const added = only(w.run({ kind: 'hold_evidence', caller: LENA, hold, evidence_hash: EVIDENCE_2 }));
    expect(added.subjects).toEqual({ hold, incident: 'inc-9' });
    expect(added.payload['rule_ids']).toEqual(['holds:open_roles']);
    const lifted = only(w.run({ kind: 'hold_lift', caller: PRIYA, hold, reason: 'l'.repeat(3_000) }));
    expect(lifted.subjects).toEqual({ hold, incident: 'inc-9' });
    expect(lifted.payload['reason']).toBe('l'.repeat(2_000));
  });

  it('new evidence revokes the leases granted under that hold, and no other', () => {
    const w = new World(examplePolicy());
    const first = ok(open(w, { scope: { targets: ['payments-worker'] } })).hold;
    const second = ok(open(w, { trip_gate: 'K2', scope: { targets: ['ledger-worker'] } })).hold;
    const lease = leaseUnder(w, first);
    const other = leaseUnder(w, second, 'ledger-worker');
    expect(ok(w.run<HoldResult>({ kind: 'hold_evidence', caller: LENA, hold: second, evidence_hash: EVIDENCE_2 })).revoked_leases).toEqual([other]);
    const step = w.run<HoldResult>({ kind: 'hold_evidence', caller: LENA, hold: first, evidence_hash: EVIDENCE_2 });
    expect(ok(step).revoked_leases).toEqual([lease]);
    const revoked = step.entries.find((e) => e.type === 'lease.revoked');
    expect(revoked?.subjects).toEqual({ lease, hold: first, override: w.state.leases.get(lease)?.override });
    expect(revoked?.payload).toMatchObject({ reason: 'hold_evidence', cause: first, rule_ids: ['override:revocation'] });
  });
});

describe('what a hold refusal and an opening say', () => {
  it('names the operation refused: hold_open, hold_evidence or hold_lift', () => {
    const w = new World(examplePolicy());
    const operation = (step: MachineStep<HoldResult>) => only(step).payload['operation'];
    expect(operation(open(w, { trip_gate: 'K9' }))).toBe('hold_open');
    expect(operation(open(w, { evidence_hash: 'sha256:short' }))).toBe('hold_open');
    const hold = ok(open(w)).hold;
    const evidence = (who = LENA, id = hold, evidence_hash = EVIDENCE_2) => w.run<HoldResult>({ kind: 'hold_evidence', caller: who, hold: id, evidence_hash });
    const lift = (who = PRIYA, id = hold) => w.run<HoldResult>({ kind: 'hold_lift', caller: who, hold: id });
    expect([evidence(FATIMA), evidence(LENA, 'hold-404'), evidence(LENA, hold, 'sha256:short')].map(operation)).toEqual(['hold_evidence', 'hold_evidence', 'hold_evidence']);
    expect([lift(OLIVIA), lift(PRIYA, 'hold-404')].map(operation)).toEqual(['hold_lift', 'hold_lift']);
    ok(lift());
    expect([evidence(), lift()].map(operation)).toEqual(['hold_evidence', 'hold_lift']);
  });

  it('cites the trip gate it was opened with, and records an empty reason when none is given', () => {
    const w = new World(examplePolicy());
    const opened = open(w);
    expect(only(opened).payload).toMatchObject({ rule_ids: ['holds:open_roles', 'hold:trip_gate:K1'], reason: '' });
    expect(only(w.run({ kind: 'hold_lift', caller: PRIYA, hold: ok(opened).hold })).payload['reason']).toBe('');
  });

  it('accepts a scope of declared actions only', () => {
    const w = new World(examplePolicy());
    const hold = ok(open(w, { scope: { actions: ['workers.restart_pool', 'queue.clear_shard'] } })).hold;
    expect(w.state.holds.get(hold)?.scope.actions).toEqual(['workers.restart_pool', 'queue.clear_shard']);
  });

  it('quotes a long wildcard entry shortened to 80 characters', () => {
    const w = new World(examplePolicy());
    const entry = `${'t'.repeat(100)}*`;
    const refusal = refused(open(w, { scope: { targets: [entry] } }));
    expect(refusal.message).toBe(`hold scope entry \`${'t'.repeat(79)}…\` holds a wildcard: scopes are explicit lists, name each one`);
    const eighty = `${'u'.repeat(79)}*`;
    expect(refused(open(w, { scope: { targets: [eighty] } })).message).toContain(`\`${eighty}\``);
  });
});
