import { describe, expect, it } from 'vitest';
import { caller, compileBundle, COPILOT, EVIDENCE, examplePolicy, ok, refused, restartOverride, restartStep, World, type OverrideDraft } from '../../../../test/scenario/world.js';
import type { LedgerEntry } from '../ledger/entry.js';
import type { HoldResult } from './hold.js';
import type { MachineStep } from './machine.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import type { RegisterRollbackResult } from './rollback.js';

/**
 * What an override request and its submission record: who may ask, the body
 * to sign (incident class included), and entries filed under the override,
 * its hold, its incident and its lease, citing the override rules and every
 * hold the gates read.
 */

const OLIVIA = caller('olivia', 'approver-console');
const LENA = caller('lena', 'approver-console');

/** The restart proposed in prod (held while `hold` is open), its rollback registered, and an override draft for it. */
function restartDraft(w: World, options: { hold?: string; incident?: string; target?: string } = {}): OverrideDraft {
  const target = options.target ?? 'payments-worker';
  const s = ok(w.propose([restartStep({ target })], options.incident === undefined ? {} : { incident: options.incident })).steps[0];
  if (!s?.digest) throw new Error('the restart should have a digest');
  const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: s.step, action: 'workers.rollback_pool', target })).artifact;
  return { ...restartOverride(w, options.hold ?? null, s.digest, artifact), scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: [target] } };
}

function request(w: World, draft: OverrideDraft & { incident_class?: string }, who = OLIVIA): MachineStep<RequestOverrideResult> {
  return w.run<RequestOverrideResult>({ kind: 'override_request', caller: who, ...draft });
}

/** Signed by lena (A) and fatima (B) through the signed CLI. */
function submit(w: World, requested: RequestOverrideResult): MachineStep<SubmitOverrideResult> {
  const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')];
  return w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures });
}

const only = <R>(step: MachineStep<R>): LedgerEntry => {
  expect(step.entries).toHaveLength(1);
  return step.entries[0] as LedgerEntry;
};

describe('who may ask for an override', () => {
  it('refuses a caller outside the roster and an agent, citing the override rules', () => {
    const w = new World(examplePolicy());
    const draft = restartDraft(w);
    const stranger = request(w, draft, caller('mallory', 'signed-cli'));
    expect(refused(stranger).code).toBe('UNKNOWN_PRINCIPAL');
    expect(only(stranger).payload).toMatchObject({ operation: 'override_request', code: 'UNKNOWN_PRINCIPAL', rule_ids: ['overrides:rules'] });
    expect(only(request(w, draft, COPILOT)).payload['rule_ids']).toEqual(['overrides:rules']);
    expect(w.state.overrides.size).toBe(0);
  });

  it('cites the override rules when it refuses a malformed request, a scope that can never be granted, or a submission it cannot take', () => {
    const w = new World(examplePolicy());
    const draft = restartDraft(w);
    expect(only(request(w, { ...draft, valid_from: 'yesterday' })).payload).toMatchObject({ code: 'OVERRIDE_INVALID', rule_ids: ['overrides:rules'] });
    expect(only(request(w, { ...draft, scope: { ...draft.scope, targets: ['*'] } })).payload).toMatchObject({ code: 'O2_SCOPE_CREEP', rule_ids: ['overrides:rules'] });
    const unknown = w.run({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: 'override-404', signatures: [] });
    expect(only(unknown).payload).toMatchObject({ code: 'OVERRIDE_UNKNOWN', rule_ids: ['overrides:rules'] });
    const agent = w.run({ kind: 'override_submit', caller: COPILOT, override: 'override-404', signatures: [] });
    expect(only(agent).payload).toMatchObject({ code: 'AGENT_CANNOT_OVERRIDE', rule_ids: ['overrides:rules'] });
    const requested = ok(request(w, draft));
    ok(submit(w, requested));
    expect(only(submit(w, requested)).payload).toMatchObject({ code: 'OVERRIDE_CLOSED', rule_ids: ['overrides:rules'] });
  });
});

describe('the body to sign', () => {
  it('carries the incident class the requester names', () => {
    const w = new World(examplePolicy());
    const requested = ok(request(w, { ...restartDraft(w), incident_class: 'sev1' }));
    expect(requested.body.incident_class).toBe('sev1');
    expect(ok(request(w, restartDraft(w, { target: 'ledger-worker' }))).body).not.toHaveProperty('incident_class');
  });
});

describe('the entries of an override are filed under the override, its hold, its incident and its lease', () => {
  it('takes the incident of the steps it unlocks', () => {
    const w = new World(examplePolicy());
    const requested = request(w, restartDraft(w, { incident: 'inc-7' }));
    const override = ok(requested).override;
    expect(only(requested).subjects).toEqual({ override, incident: 'inc-7' });
    expect(w.state.overrides.get(override)?.incident).toBe('inc-7');
  });

  it('takes the incident of its hold when the steps have none, and names the hold', () => {
    const w = new World(examplePolicy());
    const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE, incident: 'inc-9' })).hold;
    const requested = request(w, restartDraft(w, { hold }));
    const override = ok(requested).override;
    expect(only(requested).subjects).toEqual({ override, hold, incident: 'inc-9' });

    const granted = submit(w, ok(requested));
    const lease = ok(granted).lease;
    const entry = only(granted);
    expect(entry.type).toBe('override.granted');
    expect(entry.subjects).toEqual({ override, hold, incident: 'inc-9', lease });
    // the hold the gates read is cited, and the scope signed is the scope recorded
    expect(entry.payload['rule_ids']).toEqual(['overrides:rules', `hold:${hold}`]);
    expect(entry.payload['scope']).toEqual({ environments: ['prod'], actions: ['workers.restart_pool'], targets: ['payments-worker'] });
    expect(w.state.leases.get(lease)?.scope).toEqual({ environments: ['prod'], actions: ['workers.restart_pool'], targets: ['payments-worker'] });
  });

  it('files a denial under the override, its hold and its incident, citing the hold', () => {
    const w = new World(examplePolicy());
    const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE, incident: 'inc-9' })).hold;
    const requested = ok(request(w, { ...restartDraft(w, { hold }), trip_gate_ack: 'K2' }));
    const denied = submit(w, requested);
    expect(refused(denied).code).toBe('O6_GATE_ACK_MISMATCH');
    expect(only(denied).subjects).toEqual({ override: requested.override, hold, incident: 'inc-9' });
    expect(only(denied).payload['rule_ids']).toEqual(['overrides:rules', `hold:${hold}`]);
  });

  it('records a request naming a hold nobody opened; the gates refuse it at submission', () => {
    const w = new World(examplePolicy());
    const requested = request(w, { ...restartDraft(w), hold: 'hold-404', trip_gate_ack: 'K1' });
    const override = ok(requested).override;
    expect(only(requested).subjects).toEqual({ override, hold: 'hold-404' });
    expect(refused(submit(w, ok(requested))).code).toBe('O6_GATE_ACK_MISMATCH');
  });
});

describe('the holds the gates read', () => {
  it('are the holds over the listed steps only, not over other steps of the ledger', () => {
    const w = new World(examplePolicy());
    // a hold over another worker, and a step on it that the hold stops
    ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { targets: ['ledger-worker'] }, evidence_hash: EVIDENCE }));
    restartDraft(w, { target: 'ledger-worker' });
    // and a hold over destructive steps only, which a restart is not
    ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K2', scope: { classes: ['destructive'] }, evidence_hash: EVIDENCE }));
    const requested = ok(request(w, restartDraft(w)));
    const granted = submit(w, requested);
    ok(granted);
    expect(only(granted).payload['rule_ids']).toEqual(['overrides:rules']);
  });
});

describe('what an override refusal names', () => {
  it('the operation refused, override_request or override_submit, and the override rules for a reason code the policy does not list', () => {
    const w = new World(examplePolicy());
    const draft = restartDraft(w);
    expect(only(request(w, { ...draft, valid_from: 'yesterday' })).payload['operation']).toBe('override_request');
    expect(only(request(w, { ...draft, reason_code: 'BORED' })).payload).toMatchObject({ operation: 'override_request', code: 'O5_NOT_ELIGIBLE', rule_ids: ['overrides:rules'] });
    const submitAs = (who: ReturnType<typeof caller>, override: string) => w.run({ kind: 'override_submit', caller: who, override, signatures: [] });
    expect(only(submitAs(caller('mallory', 'signed-cli'), 'override-404')).payload['operation']).toBe('override_submit');
    expect(only(submitAs(LENA, 'override-404')).payload['operation']).toBe('override_submit');
    const requested = ok(request(w, draft));
    ok(submit(w, requested));
    expect(only(submit(w, requested)).payload['operation']).toBe('override_submit');
  });

  it('O5_NOT_ELIGIBLE before anyone signs when the policy allows no overrides, citing the override rules', () => {
    const example = examplePolicy().bundle;
    const w = new World(compileBundle({ ...example, overrides: undefined }));
    const attempt = request(w, restartDraft(w));
    expect(refused(attempt).code).toBe('O5_NOT_ELIGIBLE');
    expect(only(attempt).payload).toMatchObject({ operation: 'override_request', code: 'O5_NOT_ELIGIBLE', rule_ids: ['overrides:rules'] });
    expect(w.state.overrides.size).toBe(0);
  });
});
