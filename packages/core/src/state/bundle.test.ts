import { describe, expect, it } from 'vitest';
import { AuthorityMachine } from './machine.js';
import { caller, compileBundle, COPILOT, examplePolicy, inspectStep, ok, refused, restartOverride, restartStep, snapshotStep, World } from '../../../../test/scenario/world.js';
import type { ActivateBundleResult } from './bundle.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import type { RegisterRollbackResult } from './rollback.js';

/**
 * Bundle activation: the gateway installs the first bundle of a ledger and
 * only that one; any later bundle comes through a governed release. What was
 * decided under the old bundle and not used loses its footing, and every
 * entry says which bundle (and release) did it.
 */

const OLIVIA = caller('olivia', 'approver-console');
const T = Date.parse('2025-06-01T09:00:00.000Z');

describe('the gateway’s own activation', () => {
  it('installs the first bundle, filed under it and citing the activation rule', () => {
    const machine = new AuthorityMachine();
    const policy = examplePolicy();
    const step = machine.run<ActivateBundleResult>({ kind: 'bundle_activate', caller: null, policy }, T);
    expect(step.entries.map((e) => e.type)).toEqual(['bundle.activated']);
    expect(step.entries[0]?.subjects).toEqual({ bundle: policy.bundleId });
    expect(step.entries[0]?.payload['rule_ids']).toEqual(['bundle:activation']);
    // a ledger's first bundle has no grant to revoke, and says nothing about it
    expect(step.entries[0]?.payload).not.toHaveProperty('grants_revoked');
  });

  it('writes nothing when a replica restarts with the bundle already in force', () => {
    const machine = new AuthorityMachine();
    const policy = examplePolicy();
    machine.run({ kind: 'bundle_activate', caller: null, policy }, T);
    const again = machine.run<ActivateBundleResult>({ kind: 'bundle_activate', caller: null, policy }, T + 1);
    expect(again.entries).toEqual([]);
    expect(again.result).toEqual({ ok: true, bundle_id: policy.bundleId, previous_bundle_id: policy.bundleId, voided_requests: [], revoked_grants: [], revoked_leases: [], redecided: [] });
  });

  it('refuses to replace the bundle in force: a replica started with another file does not change the rules', () => {
    const machine = new AuthorityMachine();
    const policy = examplePolicy();
    machine.run({ kind: 'bundle_activate', caller: null, policy }, T);
    const other = compileBundle({ ...policy.bundle, description: 'another file' });
    expect(() => machine.run({ kind: 'bundle_activate', caller: null, policy: other }, T + 1)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(machine.state.bundle.bundle_id).toBe(policy.bundleId);
  });
});

describe('activation by a caller', () => {
  it('is always refused, naming the operation and citing the activation rule: unknown, agent, already active, or anyone at all', () => {
    const w = new World(examplePolicy());
    const next = compileBundle({ ...w.policy.bundle, description: 'next' });
    for (const [who, policy, code] of [
      [caller('mallory', 'signed-cli'), next, 'UNKNOWN_PRINCIPAL'],
      [COPILOT, next, 'AGENT_CANNOT_ACTIVATE'],
      [caller('priya', 'approver-console'), w.policy, 'BUNDLE_ALREADY_ACTIVE'],
      [caller('priya', 'approver-console'), next, 'RELEASE_REQUIRED'],
    ] as const) {
      const attempt = w.run({ kind: 'bundle_activate', caller: who, policy });
      expect(refused(attempt).code).toBe(code);
      expect(attempt.entries[0]?.payload).toMatchObject({ operation: 'bundle_activate', rule_ids: ['bundle:activation'] });
    }
  });

  it('judges the caller by the bundle in force, not by the candidate', () => {
    const w = new World(examplePolicy());
    const example = w.policy.bundle;
    // a candidate without priya: she is still a person of the bundle in force
    const next = compileBundle({ ...example, principals: example.principals.filter((p) => p.id !== 'priya') });
    expect(refused(w.run({ kind: 'bundle_activate', caller: caller('priya', 'approver-console'), policy: next })).code).toBe('RELEASE_REQUIRED');
  });
});

describe('a release’s activation', () => {
  it('is filed under the bundle and the release, citing the release quorum', () => {
    const w = new World(examplePolicy());
    const next = compileBundle({ ...w.policy.bundle, description: 'next' });
    ok(w.activate(next));
    const activated = w.machine.entries.filter((e) => e.type === 'bundle.activated').at(-1);
    const release = activated?.payload['release'];
    expect(typeof release).toBe('string');
    expect(activated?.subjects).toEqual({ bundle: next.bundleId, release });
    expect(activated?.payload['rule_ids']).toEqual(['release:quorum']);
  });

  it('files the grants, leases and requests it ends under the new bundle', () => {
    const w = new World(examplePolicy());
    const snap = ok(w.propose([snapshotStep()])).steps[0];
    const restart = ok(w.propose([restartStep()])).steps[0];
    const held = ok(w.propose([restartStep({ target: 'ledger-worker' })])).steps[0];
    const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: held?.step ?? '', action: 'workers.rollback_pool', target: 'ledger-worker' })).artifact;
    const draft = { ...restartOverride(w, null, held?.digest ?? '', artifact), scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['ledger-worker'] } };
    const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...draft }));
    const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')];
    const lease = ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures })).lease;

    const next = compileBundle({ ...w.policy.bundle, description: 'next' });
    const live = [...w.state.index.liveGrants];
    expect(live).toContain(snap?.grant?.jti);
    const activation = w.activate(next);
    ok(activation);
    const entry = (type: string) => activation.entries.find((e) => e.type === type);
    // the activation entry itself revokes every live grant, and says how many (ADR 006 decision 4)
    expect(entry('grant.revoked')).toBeUndefined();
    expect(entry('bundle.activated')?.payload['grants_revoked']).toBe(live.length);
    expect(ok(activation).activated?.revoked_grants).toEqual(live);
    for (const jti of live) expect(w.state.grants.get(jti)).toMatchObject({ status: 'revoked', revoked_reason: 'bundle_change' });
    expect(w.state.index.liveGrants.size).toBe(0);
    expect(entry('lease.revoked')?.subjects).toEqual({ lease, override: requested.override, bundle: next.bundleId });
    expect(entry('lease.revoked')?.payload).toMatchObject({ reason: 'bundle_change', rule_ids: ['bundle:activation'] });
    const voided = activation.entries.filter((e) => e.type === 'request.voided').find((e) => e.payload['request'] === restart?.request);
    expect(voided?.subjects).toEqual({ request: restart?.request, step: restart?.step, proposal: w.state.steps.get(restart?.step ?? '')?.proposal });
  });

  it('decides again a step that awaits its rollback, and not one whose grant it revokes', () => {
    const w = new World(examplePolicy());
    // allowed in dev, but no grant until a rollback is registered: it awaits its rollback
    const waiting = ok(w.propose([restartStep({ environment: 'dev' })])).steps[0];
    expect(waiting?.grant).toBeNull();
    const granted = ok(w.propose([snapshotStep()])).steps[0];
    expect(granted?.grant).not.toBeNull();
    // one that ran is history: neither its grant nor a rollback brings it back
    const ran = ok(w.propose([inspectStep()])).steps[0];
    ok(w.run({ kind: 'consume', caller: COPILOT, grant: ran?.grant?.jti ?? '' }));

    const before = w.policy.bundleId;
    const activation = w.activate(compileBundle({ ...w.policy.bundle, description: 'next' }));
    ok(activation);
    expect(activation.entries.filter((e) => e.type === 'step.decided').map((e) => e.payload['step'])).toEqual([waiting?.step]);
    expect(activation.entries.filter((e) => e.type === 'grant.revoked')).toEqual([]);
    expect(w.state.grants.get(granted?.grant?.jti ?? '')?.status).toBe('revoked');
    expect(w.state.grants.get(ran?.grant?.jti ?? '')?.status).toBe('consumed');
    // the step is as its decision left it: under the old bundle, its one grant revoked
    expect(w.state.steps.get(granted?.step ?? '')).toMatchObject({ bundle_id: before, grants: [granted?.grant?.jti] });
  });

  it('leaves alone a step whose decision needs a rollback but that was denied, and decides the open steps of one proposal in their order', () => {
    const w = new World(examplePolicy());
    // needs approval and a rollback in prod: denied, it awaits nothing
    const denied = ok(w.propose([restartStep()])).steps[0];
    ok(w.approve(denied?.request ?? '', 'lena', 'approver-console', { decision: 'deny' }));
    expect(w.state.index.rollbackSteps.has(denied?.step ?? '')).toBe(true);
    // one proposal: step 0 awaits its rollback (found through that index), step 1 approval (found first, through the open requests)
    const [waiting, pending] = ok(w.propose([restartStep({ environment: 'dev' }), restartStep({ target: 'ledger-worker' })])).steps;
    expect(waiting?.grant).toBeNull();
    expect(pending?.request).not.toBeNull();

    const activation = w.activate(compileBundle({ ...w.policy.bundle, description: 'next' }));
    ok(activation);
    const redecided = activation.entries.filter((e) => e.type === 'step.decided').map((e) => e.payload['step']);
    expect(redecided).toEqual([waiting?.step, pending?.step]);
  });

  it('keeps a step in the index of those awaiting a rollback until it runs', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep({ environment: 'dev' })])).steps[0];
    const step = s?.step ?? '';
    expect(w.state.index.rollbackSteps.has(step)).toBe(true);
    const grant = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step, action: 'workers.rollback_pool', target: 'payments-worker' })).grant;
    // granted, it no longer awaits its rollback, but it may still need one if a bundle change revokes the grant
    expect(w.state.index.rollbackSteps.has(step)).toBe(true);
    ok(w.run({ kind: 'consume', caller: COPILOT, grant: grant?.jti ?? '' }));
    expect(w.state.index.rollbackSteps.has(step)).toBe(false);
    // a step whose decision needs no rollback is never in it; steps of one digest are all listed
    const [first, second] = [ok(w.propose([snapshotStep()])).steps[0], ok(w.propose([snapshotStep()])).steps[0]];
    expect(w.state.index.rollbackSteps.has(first?.step ?? '')).toBe(false);
    expect(first?.digest).toBe(second?.digest);
    expect(w.state.index.stepsByDigest.get(first?.digest ?? '')).toEqual([first?.step, second?.step]);
  });

  it('does not decide again a granted step awaiting nothing: a rollback registered for it now is refused, as its decision is under the old bundle', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep({ environment: 'dev' })])).steps[0];
    expect(ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: s?.step ?? '', action: 'workers.rollback_pool', target: 'payments-worker' })).grant).not.toBeNull();
    ok(w.activate(compileBundle({ ...w.policy.bundle, description: 'next' })));
    expect(w.machine.entries.filter((e) => e.type === 'step.decided' && e.payload['step'] === s?.step)).toHaveLength(1);
    expect(w.state.steps.get(s?.step ?? '')?.grants.filter((jti) => w.state.grants.get(jti)?.status === 'issued')).toEqual([]);
    expect(w.state.index.rollbackSteps.has(s?.step ?? '')).toBe(false);
    const again = w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: s?.step ?? '', action: 'workers.rollback_pool', target: 'payments-worker' });
    expect(refused(again).code).toBe('STEP_UNKNOWN');
  });

  it('decides again a step whose rollback was registered under the old bundle while it waited for approval: its artifact must be registered again', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: s?.step ?? '', action: 'workers.rollback_pool', target: 'payments-worker' }));
    ok(w.activate(compileBundle({ ...w.policy.bundle, description: 'next' })));
    const again = w.machine.entries.filter((e) => e.type === 'step.decided' && e.payload['step'] === s?.step).at(-1);
    expect(again?.payload).toMatchObject({ effect: 'require_approval', redecided: 'bundle_change' });
    expect(w.state.steps.get(s?.step ?? '')?.artifact).toBeNull();
  });
});
