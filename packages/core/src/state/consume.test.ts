import { describe, expect, it } from 'vitest';
import { caller, clearStep, compileBundle, COPILOT, EVIDENCE, examplePolicy, MINUTE, ok, refused, restartOverride, restartStep, snapshotStep, World, type OverrideDraft } from '../../../../test/scenario/world.js';
import type { LedgerEntry } from '../ledger/entry.js';
import type { ExecutionResult } from './execute.js';
import type { HaltResult } from './halt.js';
import type { MachineStep } from './machine.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import type { RegisterRollbackResult } from './rollback.js';

/**
 * Consuming a grant repeats the decision's checks at the moment of execution
 * (issue 4 §3) and records every refusal as `grant.rejected`, filed under the
 * grant, its step and its proposal so that `countersign trace` finds it, and
 * citing the rules that refused.
 */

const OLIVIA = caller('olivia', 'approver-console');
const SAM = caller('sam', 'signed-cli');

/** The one entry a command wrote. */
function only<R>(step: MachineStep<R>): LedgerEntry {
  expect(step.entries).toHaveLength(1);
  return step.entries[0] as LedgerEntry;
}

/** The restart proposed, approved by lena from another surface, its rollback registered: a live grant. */
function grantedRestart(w: World): { grant: string; step: string; proposal: string } {
  const s = ok(w.propose([restartStep()])).steps[0];
  if (!s?.request) throw new Error('the restart needs approval');
  ok(w.approve(s.request, 'lena', 'approver-console'));
  const reg = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' }));
  if (!reg.grant) throw new Error('registering the rollback should issue the grant');
  return { grant: reg.grant.jti, step: s.step, proposal: reg.grant.proposal };
}

/** In dev the snapshot and the clear are both low risk: a snapshot that succeeded now, then the clear's grant. */
function clearAfterSnapshot(w: World): string {
  const snap = ok(w.propose([snapshotStep({ environment: 'dev' })])).steps[0]?.grant?.jti ?? '';
  const done = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant: snap }));
  ok(w.run({ kind: 'outcome', caller: COPILOT, execution: done.execution, outcome: 'succeeded' }));
  const clear = ok(w.propose([clearStep({ environment: 'dev' })])).steps[0];
  if (!clear?.grant) throw new Error('the clear should be allowed in dev after the snapshot');
  return clear.grant.jti;
}

const consume = (w: World, grant: string, who = COPILOT): MachineStep<ExecutionResult> => w.run<ExecutionResult>({ kind: 'consume', caller: who, grant });

/** The restart proposed (its request open) and its rollback registered: what an override needs. */
function openRestart(w: World): { step: string; proposal: string; request: string; digest: string; artifact: string } {
  const s = ok(w.propose([restartStep()])).steps[0];
  if (!s?.request || !s.digest) throw new Error('the restart in prod needs approval');
  const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
  return { step: s.step, proposal: w.state.steps.get(s.step)?.proposal ?? '', request: s.request, digest: s.digest, artifact };
}

/** Requested by olivia, signed by lena (A) and fatima (B) through the signed CLI, with priya as the budget's extra signer. */
function lease(w: World, draft: OverrideDraft): MachineStep<SubmitOverrideResult> {
  const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...draft }));
  const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli'), w.sign(requested.body, 'extra', 'priya', 'signed-cli')];
  return w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures });
}

const useLease = (w: World, leaseId: string, step: string): MachineStep<ExecutionResult> => w.run<ExecutionResult>({ kind: 'use_lease', caller: COPILOT, lease: leaseId, step });

describe('a refused consumption is recorded where a trace finds it', () => {
  it('files an unknown grant under its id alone, citing no rule', () => {
    const w = new World(examplePolicy());
    const attempt = consume(w, 'grant-404');
    expect(refused(attempt).code).toBe('GRANT_UNKNOWN');
    const entry = only(attempt);
    expect(entry.subjects).toEqual({ grant: 'grant-404' });
    expect(entry.payload).toMatchObject({ jti: 'grant-404', code: 'GRANT_UNKNOWN', credential: COPILOT.credential, rule_ids: [] });
  });

  it('files a known grant under its step and proposal too, citing the rules that granted it', () => {
    const w = new World(examplePolicy());
    const { grant, step, proposal } = grantedRestart(w);
    ok(consume(w, grant));
    const again = only(consume(w, grant));
    expect(again.subjects).toEqual({ grant, step, proposal });
    expect(again.payload['rule_ids']).toEqual(w.state.grants.get(grant)?.rule_ids);
    expect(again.payload['rule_ids']).not.toEqual([]);
  });

  it('refuses a caller outside the roster, citing the roster rule', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    const attempt = consume(w, grant, caller('mallory', 'webhook'));
    expect(refused(attempt).code).toBe('UNKNOWN_PRINCIPAL');
    expect(only(attempt).payload['rule_ids']).toEqual([...(w.state.grants.get(grant)?.rule_ids ?? []), 'principal:roster']);
    expect(w.state.grants.get(grant)?.status).toBe('issued');
  });

  it('names the hold that suspends a grant', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    const hold = ok(w.run({ kind: 'hold_open', caller: caller('lena', 'approver-console'), trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE })) as { hold: string };
    const held = consume(w, grant);
    expect(refused(held).code).toBe('HOLD_ACTIVE');
    expect(only(held).payload['rule_ids']).toContain(`hold:${hold.hold}`);

  });

  it('names the halt that stops a grant issued while it is active', () => {
    const w = new World(examplePolicy());
    const halted = ok(w.run<HaltResult>({ kind: 'halt', caller: SAM, scope: { kind: 'environment', environment: 'prod' } }));
    const snap = ok(w.propose([snapshotStep()])).steps[0]?.grant?.jti ?? '';
    const stopped = consume(w, snap);
    expect(refused(stopped).code).toBe('HALT_ACTIVE');
    expect(only(stopped).payload['rule_ids']).toContain(`halt:${halted.halt}`);
  });
});

describe('consumption re-checks what the grant stood on', () => {
  it('refuses a token for another grant, however well it matches the step', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    const g = w.state.grants.get(grant);
    if (!g) throw new Error('grant');
    const claims = { jti: `${g.jti}-other`, iat: 0, exp: Math.floor(Date.parse(g.expires_at) / 1000), step_digest: g.digest, environment: g.environment, target: g.target, bundle_id: g.bundle_id, request_id: g.request };
    expect(refused(w.run({ kind: 'consume', caller: COPILOT, grant, claims })).code).toBe('DIGEST_MISMATCH');
    ok(w.run({ kind: 'consume', caller: COPILOT, grant, claims: { ...claims, jti: g.jti } }));
  });

  it('refuses a presented step that has no canonical form as not the step granted', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    const unhashable = restartStep({ params: { strategy: 'rolling\ud800' } });
    expect(refused(w.run({ kind: 'consume', caller: COPILOT, grant, step: unhashable })).code).toBe('DIGEST_MISMATCH');
    expect(w.state.grants.get(grant)?.status).toBe('issued');
  });

  it('keeps an expired grant expired when a clock behind it presents it again', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    w.advance(10 * MINUTE);
    expect(refused(consume(w, grant)).code).toBe('GRANT_EXPIRED');
    // another replica whose clock is five minutes behind: still inside the grant's window by its own reckoning
    w.now -= 5 * MINUTE;
    expect(refused(consume(w, grant)).code).toBe('GRANT_EXPIRED');
  });

  it('does not count a prerequisite that succeeded after now: clocks that disagree fail closed', () => {
    const w = new World(examplePolicy());
    const clear = clearAfterSnapshot(w);
    w.now -= 1;
    const attempt = consume(w, clear);
    expect(refused(attempt).code).toBe('PREREQUISITE_MISSING');
    const prior = w.policy.actions.get('queue.clear_shard')?.prior[0]?.ruleId;
    expect(prior).toBeDefined();
    expect(only(attempt).payload['rule_ids']).toContain(prior);
    w.now += 1;
    ok(consume(w, clear));
  });

  it('records the incident of the grant it consumes', () => {
    const w = new World(examplePolicy());
    const jti = ok(w.propose([snapshotStep()], { incident: 'inc-7' })).steps[0]?.grant?.jti ?? '';
    const entry = only(consume(w, jti));
    expect(entry.type).toBe('grant.consumed');
    expect(entry.subjects).toMatchObject({ grant: jti, incident: 'inc-7', execution: 'execution-1' });
  });
});

describe('the first execution retires every other authority over the step, in the same commit', () => {
  it('revokes only live grants: a grant a halt revoked is not revoked again when a lease runs the step', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const grant = ok(w.approve(r.request, 'lena', 'approver-console')).grant?.jti ?? '';
    const halt = ok(w.run<HaltResult>({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'environment', environment: 'prod' } })).halt;
    expect(w.state.grants.get(grant)?.status).toBe('revoked');
    ok(w.run({ kind: 'halt_lift', caller: caller('sam', 'signed-cli'), halt }));
    const used = useLease(w, ok(lease(w, restartOverride(w, null, r.digest, r.artifact))).lease, r.step);
    ok(used);
    expect(used.entries.filter((e) => e.type === 'grant.revoked')).toEqual([]);
    expect(w.state.grants.get(grant)?.revoked_reason).toBe('halt');
  });

  it('a grant a bundle change revoked is refused BUNDLE_CHANGED, its step not decided again: the agent proposes again', () => {
    const w = new World(examplePolicy());
    const { grant, step } = grantedRestart(w);
    ok(w.activate(compileBundle({ ...w.policy.bundle, description: 'next' })));
    expect(w.state.grants.get(grant)).toMatchObject({ status: 'revoked', revoked_reason: 'bundle_change' });
    expect(w.state.steps.get(step)?.grants).toEqual([grant]);
    expect(refused(consume(w, grant))).toMatchObject({ code: 'BUNDLE_CHANGED', message: expect.stringContaining('propose the step again') });
    expect(w.state.steps.get(step)?.executions).toEqual([]);
    // proposed again, the step is decided under the bundle in force
    const again = ok(w.propose([restartStep()])).steps[0];
    expect(again?.request).not.toBeNull();
    expect(w.state.steps.get(again?.step ?? '')?.bundle_id).toBe(w.state.bundle.bundle_id);
  });

  // Each retirement is filed under the step, its proposal and the execution that
  // ran, plus the authority it ends, so the trace of any of them shows why a
  // later attempt is refused; each cites the at-most-once rule.
  it('files a voided request under the request, the step and the execution that ran', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const used = useLease(w, ok(lease(w, restartOverride(w, null, r.digest, r.artifact))).lease, r.step);
    const execution = ok(used).execution;
    const voided = used.entries.find((e) => e.type === 'request.voided');
    expect(voided?.subjects).toEqual({ request: r.request, step: r.step, proposal: r.proposal, execution });
  });

  it('files a revoked grant under the grant, the step and the execution, citing the rule', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const grant = ok(w.approve(r.request, 'lena', 'approver-console')).grant?.jti ?? '';
    const used = useLease(w, ok(lease(w, restartOverride(w, null, r.digest, r.artifact))).lease, r.step);
    const execution = ok(used).execution;
    const revoked = used.entries.find((e) => e.type === 'grant.revoked');
    expect(revoked?.subjects).toEqual({ grant, step: r.step, proposal: r.proposal, execution });
    expect(revoked?.payload['rule_ids']).toEqual(['step:at-most-once']);
  });

  it('files a retired lease entry under the lease, its override, the step and the execution, citing the rule', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const grant = ok(w.approve(r.request, 'lena', 'approver-console')).grant?.jti ?? '';
    const granted = ok(lease(w, restartOverride(w, null, r.digest, r.artifact)));
    const ran = consume(w, grant);
    const execution = ok(ran).execution;
    const retired = ran.entries.find((e) => e.type === 'lease.step_retired');
    const override = w.state.leases.get(granted.lease)?.override ?? '';
    expect(retired?.subjects).toEqual({ lease: granted.lease, override, step: r.step, proposal: r.proposal, execution });
    expect(retired?.payload['rule_ids']).toEqual(['step:at-most-once']);
  });
});
