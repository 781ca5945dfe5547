import { afterAll, describe, expect, it } from 'vitest';
import {
  caller,
  clearStep,
  compileBundle,
  COPILOT,
  EVIDENCE,
  EVIDENCE_2,
  examplePolicy,
  inspectStep,
  MINUTE,
  ok,
  restartOverride,
  restartStep,
  SAMPLE_PASSKEY,
  snapshotStep,
  World,
  type OverrideDraft,
} from '../../../../test/scenario/world.js';
import type { MachineStep } from './machine.js';
import { COMMAND_CODES, type CommandCode } from './codes.js';
import { REJECTION_TYPES, type EntryType } from './entries.js';
import type { Refusal } from './command.js';
import { requestExpired, type ExpireResult } from './commands.js';
import type { ExecutionResult } from './execute.js';
import type { HoldResult } from './hold.js';
import type { RegisterRollbackResult, RunRollbackResult } from './rollback.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import type { HaltResult } from './halt.js';
import type { ActivateBundleResult } from './bundle.js';
import type { ProposeReleaseResult } from './release.js';
import type { RegisterPasskeyCommand } from './passkey.js';

const provoked = new Set<string>();

/** The call was refused with `code`, and the refusal is the last entry it wrote (denials are recorded). */
function expectRefused<R>(step: MachineStep<R>, code: CommandCode, type?: EntryType): Refusal {
  const result = step.result as Refusal | { ok: true };
  expect(result.ok, `expected ${code}`).toBe(false);
  const refusal = result as Refusal;
  expect(refusal.codes).toContain(code);
  const last = step.entries.at(-1);
  expect(last, 'a refusal is always recorded').toBeDefined();
  expect(REJECTION_TYPES.has(last?.type as EntryType)).toBe(true);
  if (type) expect(last?.type).toBe(type);
  const payload = last?.payload as { code?: string; codes?: string[] };
  expect(payload.code === code || (payload.codes ?? []).includes(code)).toBe(true);
  expect(typeof (last?.payload as { credential?: unknown }).credential).toBe('string');
  provoked.add(code);
  return refusal;
}

const OLIVIA_CONSOLE = caller('olivia', 'approver-console');
const LENA = caller('lena', 'approver-console');
const LENA_CLI = caller('lena', 'signed-cli');
const PRIYA = caller('priya', 'approver-console');
const EXECUTOR = COPILOT;

/** The restart proposed, approved by lena from another surface, its rollback registered: a live grant. */
function grantedRestart(w: World): { grant: string; step: string; request: string; artifact: string } {
  const proposed = ok(w.propose([restartStep()]));
  const s = proposed.steps[0];
  if (!s?.request) throw new Error('restart should need approval');
  const approved = ok(w.approve(s.request, 'lena', 'approver-console'));
  expect(approved.awaiting_rollback).toBe(true);
  const reg = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA_CONSOLE, step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' }));
  if (!reg.grant) throw new Error('registering the rollback should issue the grant');
  return { grant: reg.grant.jti, step: s.step, request: s.request, artifact: reg.artifact };
}

/** A K1 hold on prod, the restart proposed during it (held), and its rollback registered. */
function heldRestart(w: World): { hold: string; step: string; digest: string; artifact: string } {
  const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE })).hold;
  const proposed = ok(w.propose([restartStep()]));
  const s = proposed.steps[0];
  if (!s?.digest) throw new Error('restart should have a digest');
  expect(s.effect).toBe('held');
  const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA_CONSOLE, step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
  return { hold, step: s.step, digest: s.digest, artifact };
}

function requestOverride(w: World, draft: OverrideDraft, who = OLIVIA_CONSOLE): MachineStep<RequestOverrideResult> {
  return w.run<RequestOverrideResult>({ kind: 'override_request', caller: who, ...draft });
}

/** Request and submit an override signed by lena (A) and fatima (B) through the signed CLI. */
function governedOverride(w: World, draft: OverrideDraft, signers: { a?: string; b?: string; surface?: string; extra?: string } = {}): MachineStep<SubmitOverrideResult> {
  const requested = ok(requestOverride(w, draft));
  const surface = signers.surface ?? 'signed-cli';
  const signatures = [w.sign(requested.body, 'a', signers.a ?? 'lena', surface), w.sign(requested.body, 'b', signers.b ?? 'fatima', surface)];
  if (signers.extra) signatures.push(w.sign(requested.body, 'extra', signers.extra, surface));
  return w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: LENA_CLI, override: requested.override, signatures });
}

/** A governed release of `next` (World.activate), returning what the activation did. */
function activate(w: World, next: ReturnType<typeof compileBundle>): ActivateBundleResult {
  const signed = ok(w.activate(next));
  if (signed.activated === null) throw new Error('the release should have activated');
  return signed.activated;
}

function consume(w: World, grant: string, extra: Partial<{ step: ReturnType<typeof restartStep> }> = {}): MachineStep<ExecutionResult> {
  return w.run<ExecutionResult>({ kind: 'consume', caller: EXECUTOR, grant, ...extra });
}

describe('proposals', () => {
  it('decides each step on its own: a grant for allow, a request for require_approval, deny recorded with codes', () => {
    const w = new World(examplePolicy());
    const r = ok(w.propose([inspectStep(), restartStep(), clearStep(), restartStep({ environment: 'Prod' })]));
    expect(r.steps.map((s) => s.effect)).toEqual(['allow', 'require_approval', 'deny', 'deny']);
    expect(r.steps[0]?.grant?.request).toBeNull();
    expect(r.steps[1]?.request).toBe('request-1');
    expect(r.steps[2]?.reasons).toContain('PREREQUISITE_MISSING');
    expect(r.steps[3]?.reasons).toContain('UNKNOWN_ENVIRONMENT');
    const decided = w.machine.entries.filter((e) => e.type === 'step.decided');
    expect(decided).toHaveLength(4);
    for (const e of decided) {
      expect(e.bundle_id).toBe(w.policy.bundleId);
      expect(e.actor).toBe('payments-copilot');
      expect(e.surface).toBe('copilot-console');
      expect(e.payload['credential']).toBe(COPILOT.credential);
      expect((e.payload['rule_ids'] as string[]).length).toBeGreaterThan(0);
    }
  });

  it('refuses a proposal naming another agent or surface: PROPOSER_MISMATCH', () => {
    const w = new World(examplePolicy());
    const step = w.run({ kind: 'propose', caller: caller('olivia', 'copilot-console'), proposal: { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [inspectStep()] } });
    expectRefused(step, 'PROPOSER_MISMATCH', 'authority.rejected');
    expect(w.state.proposals.size).toBe(0);
  });

  it('withholds the grant of an allowed step until its rollback artifact is registered', () => {
    const w = new World(examplePolicy());
    const r = ok(w.propose([restartStep({ environment: 'dev' })]));
    expect(r.steps[0]?.effect).toBe('allow');
    expect(r.steps[0]?.awaiting_rollback).toBe(true);
    expect(w.state.grants.size).toBe(0);
    const reg = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA_CONSOLE, step: 'proposal-1.0', action: 'workers.rollback_pool', target: 'payments-worker' }));
    expect(reg.grant?.step).toBe('proposal-1.0');
    expect(w.state.steps.get('proposal-1.0')?.grants).toEqual([reg.grant?.jti]);
  });
});

describe('approvals', () => {
  function opened(w: World, steps = [restartStep()], on_behalf_of = 'olivia'): string {
    const r = ok(w.propose(steps, { on_behalf_of }));
    const request = r.steps.find((s) => s.request)?.request;
    if (!request) throw new Error('no request');
    return request;
  }

  it('meets quorum with one independent lead from another surface, then grants once the rollback is ready', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    expect(w.state.grants.get(grant)?.request).toBe('request-1');
    expect(w.types()).toContain('request.approved');
    const accepted = w.machine.entries.find((e) => e.type === 'approval.accepted');
    expect(accepted?.payload).toMatchObject({ approver: 'lena', surface: 'approver-console', attestation: 'key', signature_verified: true, credential: 'cred-lena-approver-console' });
  });

  it('refuses an agent before anything else: AGENT_CANNOT_APPROVE', () => {
    const w = new World(examplePolicy());
    const request = opened(w);
    expectRefused(w.approve(request, 'payments-copilot', 'approver-console'), 'AGENT_CANNOT_APPROVE', 'approval.rejected');
    // even naming a request that does not exist
    expectRefused(w.approve('request-404', 'payments-copilot', 'approver-console'), 'AGENT_CANNOT_APPROVE', 'approval.rejected');
  });

  it('refuses an unknown request: REQUEST_UNKNOWN', () => {
    const w = new World(examplePolicy());
    expectRefused(w.approve('request-404', 'lena', 'approver-console'), 'REQUEST_UNKNOWN', 'approval.rejected');
  });

  it('refuses the requester and the principal the agent acts for: SELF_APPROVAL', () => {
    const w = new World(examplePolicy());
    const request = opened(w, [restartStep()], 'lena');
    expectRefused(w.approve(request, 'lena', 'approver-console'), 'SELF_APPROVAL');
  });

  it('refuses someone who reports to the requester: REPORTS_TO_REQUESTER', () => {
    const w = new World(examplePolicy());
    const request = opened(w, [restartStep()], 'lena');
    expectRefused(w.approve(request, 'olivia', 'approver-console'), 'REPORTS_TO_REQUESTER');
  });

  it('refuses the request surface and surfaces outside the class: SURFACE_NOT_ALLOWED', () => {
    const w = new World(examplePolicy());
    const request = opened(w);
    expectRefused(w.approve(request, 'lena', 'copilot-console'), 'SURFACE_NOT_ALLOWED');
    expectRefused(w.approve(request, 'lena', 'webhook'), 'SURFACE_NOT_ALLOWED');
  });

  it('refuses a credential that took part in the request: CREDENTIAL_REUSED', () => {
    const w = new World(examplePolicy());
    const request = opened(w);
    expectRefused(w.approve(request, 'lena', 'approver-console', { credential: COPILOT.credential }), 'CREDENTIAL_REUSED');
  });

  it('refuses an approver whose roles fill no seat: ROLE_NOT_ELIGIBLE', () => {
    const w = new World(examplePolicy());
    const request = opened(w);
    expectRefused(w.approve(request, 'fatima', 'approver-console'), 'ROLE_NOT_ELIGIBLE');
  });

  it('refuses the same approver twice: DUPLICATE_APPROVER', () => {
    const w = new World(examplePolicy());
    ok(w.propose([snapshotStep()]));
    // the snapshot must have run before the clear can even be decided
    ok(consume(w, 'grant-1'));
    ok(w.run({ kind: 'outcome', caller: EXECUTOR, execution: 'execution-1', outcome: 'succeeded' }));
    const request = opened(w, [clearStep()]);
    ok(w.approve(request, 'lena', 'signed-cli'));
    expectRefused(w.approve(request, 'lena', 'approver-console'), 'DUPLICATE_APPROVER');
  });

  it('refuses a gateway attestation where the class wants a key: ATTESTATION_REQUIRED', () => {
    const w = new World(examplePolicy());
    ok(w.propose([snapshotStep()]));
    ok(consume(w, 'grant-1'));
    ok(w.run({ kind: 'outcome', caller: EXECUTOR, execution: 'execution-1', outcome: 'succeeded' }));
    const request = opened(w, [clearStep()]);
    const record = w.state.requests.get(request);
    const step = w.run({
      kind: 'approval',
      caller: LENA,
      statement: { request, step_digest: record?.digest ?? '', bundle_id: w.policy.bundleId, decision: 'approve', approver: 'lena', surface: 'approver-console', reason: 'ok', signed_at: new Date(w.now).toISOString() },
      attestation: { kind: 'gateway', credential_id: LENA.credential, signature: 'A'.repeat(86) },
      signature_verified: true,
    });
    expectRefused(step, 'ATTESTATION_REQUIRED');
  });

  it('refuses a signature that did not verify: BAD_SIGNATURE', () => {
    const w = new World(examplePolicy());
    expectRefused(w.approve(opened(w), 'lena', 'approver-console', { verified: false }), 'BAD_SIGNATURE');
  });

  it('refuses a statement that names someone else or another surface: STATEMENT_MISMATCH', () => {
    const w = new World(examplePolicy());
    expectRefused(w.approve(opened(w), 'lena', 'approver-console', { asCaller: caller('leo', 'approver-console') }), 'STATEMENT_MISMATCH');
  });

  it('refuses a statement for another bundle: BUNDLE_CHANGED', () => {
    const w = new World(examplePolicy());
    expectRefused(w.approve(opened(w), 'lena', 'approver-console', { statement: { bundle_id: 'sha256:other' } }), 'BUNDLE_CHANGED');
  });

  it('refuses a statement over another digest: DIGEST_MISMATCH', () => {
    const w = new World(examplePolicy());
    expectRefused(w.approve(opened(w), 'lena', 'approver-console', { statement: { step_digest: `sha256:${'1'.repeat(64)}` } }), 'DIGEST_MISMATCH');
  });

  it('refuses someone outside the roster: UNKNOWN_APPROVER', () => {
    const w = new World(examplePolicy());
    expectRefused(w.approve(opened(w), 'mallory', 'approver-console'), 'UNKNOWN_APPROVER');
  });

  it('closes the request on one eligible denial, then refuses: REQUEST_CLOSED', () => {
    const w = new World(examplePolicy());
    const request = opened(w);
    const denied = ok(w.approve(request, 'leo', 'approver-console', { decision: 'deny' }));
    expect(denied.status).toBe('denied');
    expect(w.state.requests.get(request)?.status).toBe('denied');
    expectRefused(w.approve(request, 'lena', 'approver-console'), 'REQUEST_CLOSED');
    expect(w.state.grants.size).toBe(0);
  });

  it('refuses after the approval window and records the expiry: REQUEST_EXPIRED', () => {
    const w = new World(examplePolicy());
    const request = opened(w);
    w.advance(16 * MINUTE);
    const step = w.approve(request, 'lena', 'approver-console');
    expect(step.entries.map((e) => e.type)).toEqual(['approval.rejected', 'request.expired']);
    expect((step.result as Refusal).code).toBe('REQUEST_EXPIRED');
    provoked.add('REQUEST_EXPIRED');
    expect(w.state.requests.get(request)?.status).toBe('expired');
  });

  it('expires open requests from the timer command', () => {
    const w = new World(examplePolicy());
    const request = opened(w);
    expect(ok(w.run<ExpireResult>({ kind: 'expire' })).expired_requests).toEqual([]);
    w.advance(15 * MINUTE);
    expect(ok(w.run<ExpireResult>({ kind: 'expire' })).expired_requests).toEqual([request]);
  });

  it('counts a request expired from the instant its window ends, and when its expiry cannot be read (fail closed)', () => {
    const w = new World(examplePolicy());
    const record = w.state.requests.get(opened(w));
    if (!record) throw new Error('no request opened');
    const end = Date.parse(record.expires_at);
    expect([requestExpired(record, end - 1), requestExpired(record, end), requestExpired(record, end + 1)]).toEqual([false, true, true]);
    expect(requestExpired({ ...record, expires_at: 'not a time' }, end - 1)).toBe(true);
  });
});

describe('execution', () => {
  it('consumes a grant once; a second use is GRANT_USED and an unknown one GRANT_UNKNOWN', () => {
    const w = new World(examplePolicy());
    const { grant, step } = grantedRestart(w);
    const first = ok(consume(w, grant, { step: restartStep() }));
    expect(w.state.grants.get(grant)?.status).toBe('consumed');
    expect(w.state.executions.get(first.execution)?.step).toBe(step);
    expectRefused(consume(w, grant), 'GRANT_USED', 'grant.rejected');
    expectRefused(consume(w, 'grant-404'), 'GRANT_UNKNOWN', 'grant.rejected');
    expect(w.machine.entries.filter((e) => e.type === 'grant.consumed')).toHaveLength(1);
  });

  it('refuses a step that is not the one granted: DIGEST_MISMATCH', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    expectRefused(consume(w, grant, { step: restartStep({ params: { strategy: 'immediate' } }) }), 'DIGEST_MISMATCH', 'grant.rejected');
    expect(w.state.grants.get(grant)?.status).toBe('issued');
  });

  it('refuses a token whose claims disagree with the ledger', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    const g = w.state.grants.get(grant);
    if (!g) throw new Error('grant');
    const claims = { jti: g.jti, iat: 0, exp: Math.floor(Date.parse(g.expires_at) / 1000), step_digest: g.digest, environment: g.environment, target: 'other-worker', bundle_id: g.bundle_id, request_id: g.request };
    expectRefused(w.run({ kind: 'consume', caller: EXECUTOR, grant, claims }), 'DIGEST_MISMATCH');
    ok(w.run({ kind: 'consume', caller: EXECUTOR, grant, claims: { ...claims, target: g.target } }));
  });

  it('refuses an expired grant and marks it expired: GRANT_EXPIRED', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    w.advance(10 * MINUTE);
    expectRefused(consume(w, grant), 'GRANT_EXPIRED');
    expect(w.state.grants.get(grant)?.status).toBe('expired');
    expectRefused(consume(w, grant), 'GRANT_EXPIRED');
  });

  it('suspends a grant while a hold covers it, and lets diagnostics run: HOLD_ACTIVE', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    const inspect = ok(w.propose([inspectStep()])).steps[0]?.grant?.jti ?? '';
    const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE })).hold;
    expectRefused(consume(w, grant), 'HOLD_ACTIVE');
    ok(consume(w, inspect));
    ok(w.run({ kind: 'hold_lift', caller: PRIYA, hold }));
    ok(consume(w, grant));
  });

  it('revokes grants in scope on halt, and refuses grants issued during it: GRANT_REVOKED, HALT_ACTIVE', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    const halted = ok(w.run<HaltResult>({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'environment', environment: 'prod' }, reason: 'stop everything' }));
    expect(halted.revoked_grants).toEqual([grant]);
    expectRefused(consume(w, grant), 'GRANT_REVOKED');
    const snap = ok(w.propose([snapshotStep()])).steps[0]?.grant?.jti ?? '';
    expectRefused(consume(w, snap), 'HALT_ACTIVE');
    ok(w.run({ kind: 'halt_lift', caller: caller('sam', 'signed-cli'), halt: halted.halt }));
    ok(consume(w, snap));
  });

  it('refuses a grant issued under a bundle that is no longer active: BUNDLE_CHANGED', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    const next = compileBundle({ ...w.policy.bundle, description: 'next version' });
    const activated = activate(w, next);
    expect(activated.revoked_grants).toEqual([grant]);
    expectRefused(consume(w, grant), 'BUNDLE_CHANGED');
  });

  it('accepts one outcome from the executor: EXECUTION_UNKNOWN, NOT_EXECUTOR, OUTCOME_ALREADY_REPORTED', () => {
    const w = new World(examplePolicy());
    const { grant } = grantedRestart(w);
    const { execution } = ok(consume(w, grant));
    expectRefused(w.run({ kind: 'outcome', caller: EXECUTOR, execution: 'execution-404', outcome: 'succeeded' }), 'EXECUTION_UNKNOWN', 'authority.rejected');
    expectRefused(w.run({ kind: 'outcome', caller: LENA, execution, outcome: 'succeeded' }), 'NOT_EXECUTOR');
    ok(w.run({ kind: 'outcome', caller: EXECUTOR, execution, outcome: 'ambiguous', detail: 'pool restarted, backlog unchanged' }));
    expect(w.state.executions.get(execution)).toMatchObject({ outcome: 'ambiguous', detail: 'pool restarted, backlog unchanged' });
    expectRefused(w.run({ kind: 'outcome', caller: EXECUTOR, execution, outcome: 'succeeded' }), 'OUTCOME_ALREADY_REPORTED');
  });
});

describe('holds', () => {
  it('only roles the policy names open and lift holds; agents never', () => {
    const w = new World(examplePolicy());
    const open = { kind: 'hold_open' as const, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE };
    expectRefused(w.run({ ...open, caller: COPILOT }), 'AGENT_CANNOT_HOLD', 'hold.rejected');
    expectRefused(w.run({ ...open, caller: caller('mallory', 'signed-cli') }), 'UNKNOWN_PRINCIPAL', 'hold.rejected');
    expectRefused(w.run({ ...open, caller: caller('fatima', 'signed-cli') }), 'ROLE_NOT_ELIGIBLE', 'hold.rejected');
    expectRefused(w.run({ ...open, caller: LENA, trip_gate: 'K9' }), 'UNKNOWN_TRIP_GATE');
    expectRefused(w.run({ ...open, caller: LENA, scope: { environments: ['Prod'] } }), 'HOLD_SCOPE_INVALID');
    expectRefused(w.run({ ...open, caller: LENA, evidence_hash: 'sha256:short' }), 'EVIDENCE_INVALID');
    const hold = ok(w.run<HoldResult>({ ...open, caller: caller('olivia', 'copilot-console') })).hold;
    expect(w.state.holds.get(hold)?.status).toBe('open');
    expectRefused(w.run({ kind: 'hold_evidence', caller: LENA, hold: 'hold-404', evidence_hash: EVIDENCE_2 }), 'HOLD_UNKNOWN');
    expectRefused(w.run({ kind: 'hold_lift', caller: COPILOT, hold }), 'AGENT_CANNOT_HOLD');
    // opening is for those closest to the problem; lifting needs someone accountable
    expectRefused(w.run({ kind: 'hold_lift', caller: caller('olivia', 'signed-cli'), hold }), 'ROLE_NOT_ELIGIBLE');
    ok(w.run({ kind: 'hold_lift', caller: PRIYA, hold }));
    expectRefused(w.run({ kind: 'hold_lift', caller: PRIYA, hold }), 'HOLD_NOT_OPEN');
    expectRefused(w.run({ kind: 'hold_evidence', caller: LENA, hold, evidence_hash: EVIDENCE_2 }), 'HOLD_NOT_OPEN');
  });

  it('holds mutations at decision time and keeps read-only diagnosis open', () => {
    const w = new World(examplePolicy());
    ok(w.run({ kind: 'hold_open', caller: LENA, trip_gate: 'K2', scope: { environments: ['prod'], classes: ['write', 'destructive'] }, evidence_hash: EVIDENCE }));
    const r = ok(w.propose([restartStep(), inspectStep(), snapshotStep()]));
    expect(r.steps.map((s) => s.effect)).toEqual(['held', 'allow', 'held']);
    expect(r.steps[0]?.reasons).toEqual(['HOLD_ACTIVE']);
  });
});

describe('overrides', () => {
  it('grants a lease to two independent signers on another surface; the lease runs its step once, inside the window', () => {
    const w = new World(examplePolicy());
    const held = heldRestart(w);
    const granted = ok(governedOverride(w, restartOverride(w, held.hold, held.digest, held.artifact)));
    expect(w.state.leases.get(granted.lease)?.status).toBe('live');
    expect(w.state.holds.get(held.hold)?.status).toBe('open');
    // the hold still holds everything else
    expect(ok(w.propose([restartStep({ target: 'ledger-worker' })])).steps[0]?.effect).toBe('held');
    w.advance(MINUTE);
    const used = ok(w.run<ExecutionResult>({ kind: 'use_lease', caller: EXECUTOR, lease: granted.lease, step: held.step, presented: restartStep() }));
    expect(w.state.executions.get(used.execution)).toMatchObject({ via: 'lease', lease: granted.lease });
    expectRefused(w.run({ kind: 'use_lease', caller: EXECUTOR, lease: granted.lease, step: held.step }), 'STEP_ALREADY_EXECUTED', 'lease.rejected');
    // the same action proposed again is another step with the same digest: the lease unlocks each digest once
    const again = ok(w.propose([restartStep()])).steps[0];
    expect(again?.digest).toBe(held.digest);
    expectRefused(w.run({ kind: 'use_lease', caller: EXECUTOR, lease: granted.lease, step: again?.step ?? '' }), 'LEASE_STEP_USED', 'lease.rejected');
  });

  it('refuses every listed gate and records them all', () => {
    const w = new World(examplePolicy());
    const held = heldRestart(w);
    const base = restartOverride(w, held.hold, held.digest, held.artifact);
    // O1: the requester signs their own override, from their own console
    const requested = ok(requestOverride(w, base, caller('olivia', 'copilot-console')));
    const collision = w.run({
      kind: 'override_submit',
      caller: caller('olivia', 'copilot-console'),
      override: requested.override,
      signatures: [w.sign(requested.body, 'a', 'olivia', 'copilot-console'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')],
    });
    const refusal = expectRefused(collision, 'O1_IDENTITY_COLLISION', 'override.denied');
    expect(refusal.code).toBe('O1_IDENTITY_COLLISION');
    expect(refusal.codes).toContain('O5_NOT_ELIGIBLE');
    // O2 needs no signature to decide: refused when requested, before anyone signs
    expectRefused(requestOverride(w, { ...base, scope: { ...base.scope, targets: ['other-worker'] } }), 'O2_SCOPE_CREEP', 'authority.rejected');
    expectRefused(requestOverride(w, { ...base, scope: { ...base.scope, targets: ['*'] } }), 'O2_SCOPE_CREEP', 'authority.rejected');
    expectRefused(governedOverride(w, { ...base, valid_from: new Date(w.now - 120 * MINUTE).toISOString(), valid_to: new Date(w.now - 60 * MINUTE).toISOString() }), 'O3_CLOCK_BREACH');
    expectRefused(governedOverride(w, { ...base, rollback_artifact: 'artifact-404' }), 'O4_MISSING_ROLLBACK');
    // a reason code the policy does not list can never be granted either: refused when requested
    expectRefused(requestOverride(w, { ...base, reason_code: 'BECAUSE_I_SAID_SO' }), 'O5_NOT_ELIGIBLE', 'authority.rejected');
    expectRefused(governedOverride(w, { ...base, trip_gate_ack: 'K2' }), 'O6_GATE_ACK_MISMATCH');
    expectRefused(governedOverride(w, { ...base, valid_to: new Date(w.now + 5 * 60 * MINUTE).toISOString() }), 'O7_DURATION_EXCEEDED');
    const forged = ok(requestOverride(w, base));
    const sigA = w.sign(forged.body, 'a', 'lena', 'signed-cli');
    const sigB = { ...w.sign(forged.body, 'b', 'fatima', 'signed-cli'), signature: sigA.signature };
    expectRefused(w.run({ kind: 'override_submit', caller: LENA_CLI, override: forged.override, signatures: [sigA, sigB] }), 'BAD_SIGNATURE');
    expectRefused(w.run({ kind: 'override_submit', caller: LENA_CLI, override: forged.override, signatures: [sigA, sigB] }), 'OVERRIDE_CLOSED', 'authority.rejected');
    expectRefused(w.run({ kind: 'override_submit', caller: LENA_CLI, override: 'override-404', signatures: [] }), 'OVERRIDE_UNKNOWN');
    expectRefused(requestOverride(w, { ...base, valid_from: 'yesterday' }), 'OVERRIDE_INVALID');
    expectRefused(requestOverride(w, base, COPILOT), 'AGENT_CANNOT_OVERRIDE');
    expectRefused(w.run({ kind: 'override_submit', caller: COPILOT, override: forged.override, signatures: [] }), 'AGENT_CANNOT_OVERRIDE');
    expect(w.state.leases.size).toBe(0);
    const denied = w.machine.entries.filter((e) => e.type === 'override.denied');
    expect(denied).toHaveLength(6);
  });

  it('demands an extra signer once the budget is spent: O8_BUDGET_EXHAUSTED', () => {
    const w = new World(examplePolicy());
    const held = heldRestart(w);
    const draft = (): OverrideDraft => restartOverride(w, held.hold, held.digest, held.artifact);
    ok(governedOverride(w, draft()));
    ok(governedOverride(w, draft()));
    expectRefused(governedOverride(w, draft()), 'O8_BUDGET_EXHAUSTED');
    ok(governedOverride(w, draft(), { extra: 'priya' }));
    expect(w.state.budgets.get('prod')?.granted_at).toHaveLength(3);
  });

  it('refuses use outside the window and flags it for incident review: O3_CLOCK_BREACH', () => {
    const w = new World(examplePolicy());
    const held = heldRestart(w);
    const granted = ok(governedOverride(w, restartOverride(w, held.hold, held.digest, held.artifact)));
    w.advance(61 * MINUTE);
    const breach = w.run({ kind: 'use_lease', caller: EXECUTOR, lease: granted.lease, step: held.step });
    expectRefused(breach, 'O3_CLOCK_BREACH', 'lease.clock_breach');
    expect(breach.entries.at(-1)?.payload['incident_flag']).toBe(true);
    expect(w.state.leases.get(granted.lease)?.clock_breaches).toHaveLength(1);
  });

  it('refuses steps the lease does not list and unknown leases: O2_SCOPE_CREEP, LEASE_UNKNOWN', () => {
    const w = new World(examplePolicy());
    const held = heldRestart(w);
    const granted = ok(governedOverride(w, restartOverride(w, held.hold, held.digest, held.artifact)));
    const other = ok(w.propose([restartStep({ params: { strategy: 'immediate' } })])).steps[0]?.step ?? '';
    expectRefused(w.run({ kind: 'use_lease', caller: EXECUTOR, lease: granted.lease, step: other }), 'O2_SCOPE_CREEP', 'lease.rejected');
    expectRefused(w.run({ kind: 'use_lease', caller: EXECUTOR, lease: granted.lease, step: held.step, presented: restartStep({ target: 'ledger-worker' }) }), 'O2_SCOPE_CREEP');
    expectRefused(w.run({ kind: 'use_lease', caller: EXECUTOR, lease: 'lease-404', step: held.step }), 'LEASE_UNKNOWN');
  });

  it('is revoked at once by new hold evidence, a rollback, a halt and a bundle change: LEASE_REVOKED', () => {
    const w = new World(examplePolicy());
    const held = heldRestart(w);
    const lease1 = ok(governedOverride(w, restartOverride(w, held.hold, held.digest, held.artifact))).lease;
    const evidence = ok(w.run<HoldResult>({ kind: 'hold_evidence', caller: LENA, hold: held.hold, evidence_hash: EVIDENCE_2 }));
    expect(evidence.revoked_leases).toEqual([lease1]);
    expectRefused(w.run({ kind: 'use_lease', caller: EXECUTOR, lease: lease1, step: held.step }), 'LEASE_REVOKED');

    const lease2 = ok(governedOverride(w, restartOverride(w, held.hold, held.digest, held.artifact))).lease;
    const rolled = ok(w.run<RunRollbackResult>({ kind: 'rollback_run', caller: OLIVIA_CONSOLE, artifact: held.artifact }));
    expect(rolled.revoked_leases).toEqual([lease2]);
    expect(w.state.leases.get(lease2)?.revoked_reason).toBe('rollback');

    const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA_CONSOLE, step: held.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
    const lease3 = ok(governedOverride(w, restartOverride(w, held.hold, held.digest, artifact), { extra: 'priya' })).lease;
    const halted = ok(w.run<HaltResult>({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'all' } }));
    expect(halted.revoked_leases).toEqual([lease3]);
    ok(w.run({ kind: 'halt_lift', caller: caller('sam', 'signed-cli'), halt: halted.halt }));

    const lease4 = ok(governedOverride(w, restartOverride(w, held.hold, held.digest, artifact), { extra: 'priya' })).lease;
    const next = compileBundle({ ...w.policy.bundle, description: 'tightened' });
    const activated = activate(w, next);
    expect(activated.revoked_leases).toEqual([lease4]);
    expectRefused(w.run({ kind: 'use_lease', caller: EXECUTOR, lease: lease4, step: held.step }), 'BUNDLE_CHANGED');
  });

  it('re-checks prerequisites when a lease is used: PREREQUISITE_MISSING', () => {
    // A variant where clearing may be overridden, so the lease outlives the snapshot's 30 minutes.
    const example = examplePolicy().bundle;
    const policy = compileBundle({
      ...example,
      actions: example.actions.map((a) => (a.id === 'queue.clear_shard' ? { ...a, override: { eligible: true } } : a)),
    });
    const w = new World(policy);
    ok(w.propose([snapshotStep()]));
    ok(consume(w, 'grant-1'));
    ok(w.run({ kind: 'outcome', caller: EXECUTOR, execution: 'execution-1', outcome: 'succeeded' }));
    const clear = ok(w.propose([clearStep()])).steps[0];
    if (!clear?.digest) throw new Error('clear');
    const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA_CONSOLE, step: clear.step, action: 'queue.snapshot_shard', target: 'payments-queue/shard-7' })).artifact;
    const lease = ok(
      governedOverride(w, {
        ...restartOverride(w, null, clear.digest, artifact),
        scope: { environments: ['prod'], actions: ['queue.clear_shard'], targets: ['payments-queue/shard-7'] },
      }),
    ).lease;
    w.advance(31 * MINUTE);
    expectRefused(w.run({ kind: 'use_lease', caller: EXECUTOR, lease, step: clear.step }), 'PREREQUISITE_MISSING');
  });
});

describe('rollback and halt', () => {
  it('rollback authority runs a registered rollback without a new quorum, once', () => {
    const w = new World(examplePolicy());
    const { grant, artifact, step } = grantedRestart(w);
    const executed = ok(consume(w, grant)).execution;
    expectRefused(w.run({ kind: 'rollback_run', caller: COPILOT, artifact }), 'AGENT_CANNOT_ROLLBACK');
    expectRefused(w.run({ kind: 'rollback_run', caller: caller('fatima', 'signed-cli'), artifact }), 'ROLE_NOT_ELIGIBLE');
    expectRefused(w.run({ kind: 'rollback_run', caller: OLIVIA_CONSOLE, artifact: 'artifact-404' }), 'ARTIFACT_UNKNOWN');
    const run = ok(w.run<RunRollbackResult>({ kind: 'rollback_run', caller: OLIVIA_CONSOLE, artifact }));
    const entry = w.machine.entries.find((e) => e.type === 'rollback.executed');
    expect(entry?.payload).toMatchObject({ reverses_step: step, reverses_execution: executed, execution: run.execution });
    expectRefused(w.run({ kind: 'rollback_run', caller: OLIVIA_CONSOLE, artifact }), 'ROLLBACK_NOT_READY');
    ok(w.run({ kind: 'outcome', caller: OLIVIA_CONSOLE, execution: run.execution, outcome: 'succeeded' }));
  });

  it('refuses registrations that cannot be a rollback', () => {
    const w = new World(examplePolicy());
    ok(w.propose([restartStep({ environment: 'dev' })]));
    const register = { kind: 'rollback_register' as const, step: 'proposal-1.0', action: 'workers.rollback_pool', target: 'payments-worker' };
    expectRefused(w.run({ ...register, caller: COPILOT }), 'AGENT_CANNOT_ROLLBACK');
    expectRefused(w.run({ ...register, caller: caller('mallory', 'signed-cli') }), 'UNKNOWN_PRINCIPAL');
    expectRefused(w.run({ ...register, caller: OLIVIA_CONSOLE, step: 'proposal-9.0' }), 'STEP_UNKNOWN');
    expectRefused(w.run({ ...register, caller: OLIVIA_CONSOLE, action: 'workers.make_it_so' }), 'ROLLBACK_INVALID');
    const { artifact } = ok(w.run<RegisterRollbackResult>({ ...register, caller: OLIVIA_CONSOLE }));
    // dev is outside the policy's rollback authority
    expectRefused(w.run({ kind: 'rollback_run', caller: OLIVIA_CONSOLE, artifact }), 'ENVIRONMENT_NOT_ALLOWED');
  });

  it('halt needs halt authority; lifting needs an active halt', () => {
    const w = new World(examplePolicy());
    expectRefused(w.run({ kind: 'halt', caller: COPILOT, scope: { kind: 'all' } }), 'AGENT_CANNOT_HALT');
    expectRefused(w.run({ kind: 'halt', caller: caller('fatima', 'signed-cli'), scope: { kind: 'all' } }), 'ROLE_NOT_ELIGIBLE');
    const h = ok(w.run<HaltResult>({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'incident', incident: 'inc-1' } })).halt;
    expectRefused(w.run({ kind: 'halt_lift', caller: COPILOT, halt: h }), 'AGENT_CANNOT_HALT');
    expectRefused(w.run({ kind: 'halt_lift', caller: caller('sam', 'signed-cli'), halt: 'halt-404' }), 'HALT_UNKNOWN');
    ok(w.run({ kind: 'halt_lift', caller: caller('sam', 'signed-cli'), halt: h }));
    expectRefused(w.run({ kind: 'halt_lift', caller: caller('sam', 'signed-cli'), halt: h }), 'HALT_NOT_ACTIVE');
  });

  it('an incident halt suspends only that incident', () => {
    const w = new World(examplePolicy());
    const a = ok(w.propose([snapshotStep()], { incident: 'inc-1' })).steps[0]?.grant?.jti ?? '';
    const b = ok(w.propose([inspectStep()], { incident: 'inc-2' })).steps[0]?.grant?.jti ?? '';
    const halted = ok(w.run<HaltResult>({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'incident', incident: 'inc-1' } }));
    expect(halted.revoked_grants).toEqual([a]);
    ok(consume(w, b));
  });
});

describe('bundle activation', () => {
  it('voids pending requests and decides their steps again under the new bundle', () => {
    const w = new World(examplePolicy());
    const r = ok(w.propose([restartStep()]));
    const old = r.steps[0]?.request ?? '';
    const example = w.policy.bundle;
    // the new bundle makes restarts in prod medium risk
    const next = compileBundle({ ...example, actions: example.actions.map((a) => (a.id === 'workers.restart_pool' ? { ...a, risk: { ...a.risk, prod: 'medium' } } : a)) });
    const activated = activate(w, next);
    expect(activated.voided_requests).toEqual([old]);
    expect(w.state.requests.get(old)?.status).toBe('voided');
    const again = activated.redecided[0];
    expect(again?.request).not.toBe(old);
    const fresh = w.state.requests.get(again?.request ?? '');
    expect(fresh?.bundle_id).toBe(next.bundleId);
    expect(fresh?.risk).toBe('medium');
    expect(w.state.steps.get(r.steps[0]?.step ?? '')?.digest).not.toBe(r.steps[0]?.digest);
    expectRefused(w.approve(old, 'lena', 'approver-console'), 'REQUEST_CLOSED');
  });

  it('refuses agents, re-activation and any lone activation: AGENT_CANNOT_ACTIVATE, BUNDLE_ALREADY_ACTIVE, RELEASE_REQUIRED', () => {
    const w = new World(examplePolicy());
    const next = compileBundle({ ...w.policy.bundle, description: 'x' });
    expectRefused(w.run({ kind: 'bundle_activate', caller: COPILOT, policy: next }), 'AGENT_CANNOT_ACTIVATE');
    expectRefused(w.run({ kind: 'bundle_activate', caller: PRIYA, policy: w.policy }), 'BUNDLE_ALREADY_ACTIVE');
    // the payments owner and the on-call operator alike: nobody changes the rules alone
    expectRefused(w.run({ kind: 'bundle_activate', caller: PRIYA, policy: next }), 'RELEASE_REQUIRED', 'authority.rejected');
    expectRefused(w.run({ kind: 'bundle_activate', caller: caller('olivia', 'copilot-console'), policy: next }), 'RELEASE_REQUIRED');
    expect(w.state.bundle.previous).toEqual([]);
    expect(w.state.bundle.bundle_id).not.toBe(next.bundleId);
  });
});

describe('governed release (issue 13)', () => {
  const NO_DIFF = { replayed: 0, changed: 0, static_changes: 0, digest: `sha256:${'d'.repeat(64)}` };
  const propose = (w: World, candidate: ReturnType<typeof compileBundle>, golden: { cases: number; failed: number; coverage_percent: number } | null = { cases: 12, failed: 0, coverage_percent: 100 }, who = PRIYA) =>
    w.run<ProposeReleaseResult>({
      kind: 'release_propose',
      caller: who,
      candidate,
      golden: golden === null ? null : { ...golden, failures: golden.failed > 0 ? ['restart needs two approvers'] : [], digest: `sha256:${'9'.repeat(64)}` },
      diff: NO_DIFF,
    });

  it('activates on two independent key signatures, with the text in the ledger, and voids a half-approved request', () => {
    // high risk needs an incident lead AND an owner or finance delegate here: one approval is half the quorum
    const base = examplePolicy().bundle;
    const twoKeys = compileBundle({
      ...base,
      risk_classes: base.risk_classes.map((r) =>
        r.id === 'high' && r.approval ? { ...r, approval: { ...r.approval, quorum: [{ roles: ['incident-lead'], count: 1 }, { roles: ['payments-owner', 'finance-delegate'], count: 1 }] } } : r,
      ),
    });
    const w = new World(twoKeys);
    const example = w.policy.bundle;
    const next = compileBundle({ ...example, description: 'release 2' });
    const proposed = ok(propose(w, next));
    expect(w.state.releases.get(proposed.release)).toMatchObject({ status: 'open', candidate: next.bundleId, previous_bundle_id: twoKeys.bundleId });
    const half = ok(w.propose([restartStep()])).steps[0]?.request ?? '';
    const lena = ok(w.approve(half, 'lena', 'approver-console'));
    expect([lena.status, lena.quorum_met]).toEqual(['open', false]);
    expect(w.state.requests.get(half)?.approvals).toHaveLength(1);
    const first = ok(w.signRelease(proposed.release, 'fatima', 'signed-cli'));
    expect([first.quorum_met, first.activated]).toEqual([false, null]);
    expect(w.state.bundle.bundle_id).not.toBe(next.bundleId);
    const second = ok(w.signRelease(proposed.release, 'sam', 'signed-cli'));
    expect(second.quorum_met).toBe(true);
    expect(second.activated?.voided_requests).toEqual([half]);
    expect(w.state.bundle.bundle_id).toBe(next.bundleId);
    expect(w.policy.bundleId).toBe(next.bundleId);
    expect(w.state.releases.get(proposed.release)?.status).toBe('activated');
    // the rules in force can be rebuilt from the ledger alone
    const activated = w.machine.entries.filter((e) => e.type === 'bundle.activated').at(-1);
    expect(activated?.payload).toMatchObject({ bundle_id: next.bundleId, release: proposed.release });
    expect(w.machine.entries.find((e) => e.type === 'release.proposed')?.payload['bundle']).toBeDefined();
  });

  it('judges signers as approvers, under the bundle in force: REPORTS_TO_REQUESTER, SELF_APPROVAL, ATTESTATION_REQUIRED, RELEASE_UNKNOWN', () => {
    const w = new World(examplePolicy());
    const next = compileBundle({ ...w.policy.bundle, description: 'release 3' });
    const proposed = ok(propose(w, next));
    // lena reports to priya, the proposer
    expectRefused(w.signRelease(proposed.release, 'lena', 'signed-cli'), 'REPORTS_TO_REQUESTER', 'release.rejected');
    expectRefused(w.signRelease(proposed.release, 'priya', 'signed-cli'), 'SELF_APPROVAL', 'release.rejected');
    expectRefused(w.signRelease('release-404', 'fatima', 'signed-cli'), 'RELEASE_UNKNOWN', 'release.rejected');
    const gatewayAttested = w.run({
      kind: 'release_approve',
      caller: caller('sam', 'approver-console'),
      statement: { request: proposed.release, step_digest: proposed.release_digest, bundle_id: w.policy.bundleId, decision: 'approve', approver: 'sam', surface: 'approver-console', reason: 'click', signed_at: new Date(w.now).toISOString() },
      attestation: { kind: 'gateway', credential_id: 'cred-sam-approver-console', signature: 'A'.repeat(86) },
      signature_verified: true,
    });
    expectRefused(gatewayAttested, 'ATTESTATION_REQUIRED', 'release.rejected');
    expect(w.state.bundle.bundle_id).not.toBe(next.bundleId);
    expect(w.state.releases.get(proposed.release)?.signatures).toEqual([]);
  });

  it('refuses a candidate that fails its golden sets or lacks them where required, and proposals by agents', () => {
    const w = new World(examplePolicy());
    const next = compileBundle({ ...w.policy.bundle, description: 'release 4' });
    expectRefused(propose(w, next, { cases: 12, failed: 1, coverage_percent: 80 }), 'RELEASE_GOLDEN_FAILED', 'authority.rejected');
    expectRefused(propose(w, next, null, COPILOT), 'AGENT_CANNOT_ACTIVATE');
    // absent a release section, golden cases are required too
    expectRefused(propose(w, next, null), 'RELEASE_GOLDEN_MISSING');
    expectRefused(propose(w, w.policy), 'BUNDLE_ALREADY_ACTIVE');
    expect(w.state.releases.size).toBe(0);
    // a bundle whose release rules require golden cases and 50 % coverage
    const strict = compileBundle({ ...w.policy.bundle, description: 'strict', release: { approval: { quorum: [{ roles: ['finance-delegate', 'sre'], count: 2 }], surfaces: ['signed-cli'], attestation: 'key' }, golden: { required: true, min_coverage_percent: 50 } } });
    ok(w.activate(strict));
    const after = compileBundle({ ...strict.bundle, description: 'after strict' });
    expectRefused(propose(w, after, null), 'RELEASE_GOLDEN_MISSING');
    expectRefused(propose(w, after, { cases: 3, failed: 0, coverage_percent: 40 }), 'RELEASE_GOLDEN_FAILED');
    ok(propose(w, after, { cases: 3, failed: 0, coverage_percent: 60 }));
  });
});

describe('passkeys (issue 14)', () => {
  const PASSKEY: RegisterPasskeyCommand['passkey'] = SAMPLE_PASSKEY;
  const register = (w: World, who: ReturnType<typeof caller>, passkey = PASSKEY) =>
    w.run({ kind: 'passkey_register', caller: who, passkey, identity: { issuer: 'https://idp.example', subject: 'lena-1' } });

  it('registers a passkey to the signed-in human, once: PASSKEY_EXISTS, AGENT_CANNOT_REGISTER, UNKNOWN_PRINCIPAL', () => {
    const w = new World(examplePolicy());
    const registered = ok(register(w, LENA));
    expect(registered).toMatchObject({ credential_id: 'cred-lena-phone', principal: 'lena' });
    expect(w.state.passkeys.get('cred-lena-phone')).toMatchObject({ principal: 'lena', identity: { issuer: 'https://idp.example', subject: 'lena-1' }, revoked_at: null });
    // the same credential id never moves to another person, even once revoked
    expectRefused(register(w, PRIYA), 'PASSKEY_EXISTS', 'authority.rejected');
    expectRefused(register(w, COPILOT, { ...PASSKEY, credential_id: 'cred-bot' }), 'AGENT_CANNOT_REGISTER', 'authority.rejected');
    expectRefused(register(w, caller('mallory', 'approver-console'), { ...PASSKEY, credential_id: 'cred-m' }), 'UNKNOWN_PRINCIPAL', 'authority.rejected');
    expect(w.state.passkeys.size).toBe(1);
  });

  it('is revoked by its own principal or a token administrator, by no one else: PASSKEY_NOT_YOURS, PASSKEY_UNKNOWN', () => {
    const example = examplePolicy().bundle;
    const w = new World(compileBundle({ ...example, credentials: { admin_roles: ['payments-owner'] } }));
    ok(register(w, LENA));
    ok(register(w, caller('sam', 'approver-console'), { ...PASSKEY, credential_id: 'cred-sam' }));
    expectRefused(w.run({ kind: 'passkey_revoke', caller: caller('sam', 'approver-console'), credential_id: 'cred-lena-phone' }), 'PASSKEY_NOT_YOURS', 'authority.rejected');
    expect(ok(w.run({ kind: 'passkey_revoke', caller: LENA, credential_id: 'cred-lena-phone' }))).toMatchObject({ revoked: true, principal: 'lena' });
    expect(w.state.passkeys.get('cred-lena-phone')).toMatchObject({ revoked_by: 'lena' });
    expectRefused(w.run({ kind: 'passkey_revoke', caller: LENA, credential_id: 'cred-lena-phone' }), 'PASSKEY_UNKNOWN', 'authority.rejected');
    // priya holds the administration role
    expect(ok(w.run({ kind: 'passkey_revoke', caller: PRIYA, credential_id: 'cred-sam' }))).toMatchObject({ revoked: true, principal: 'sam' });
    expect(w.state.passkeys.get('cred-sam')?.revoked_by).toBe('priya');
  });

  it('counts a verified passkey signature as the approver’s own key where the class demands one, and records its WebAuthn data', () => {
    const w = new World(examplePolicy());
    ok(w.propose([snapshotStep()]));
    ok(consume(w, 'grant-1'));
    ok(w.run({ kind: 'outcome', caller: EXECUTOR, execution: 'execution-1', outcome: 'succeeded' }));
    const request = ok(w.propose([clearStep()])).steps[0]?.request ?? '';
    const record = w.state.requests.get(request);
    const evidence = { credential_id: 'cred-lena-phone', authenticator_data: 'YXV0aA', client_data_json: 'Y2xpZW50' };
    // not (yet) registered: however the bytes verified, it is not lena's key
    expectRefused(w.approve(request, 'lena', 'approver-console', { passkey: 'cred-lena-phone' }), 'BAD_SIGNATURE', 'approval.rejected');
    ok(register(w, LENA));
    const step = w.run({
      kind: 'approval',
      caller: LENA,
      statement: { request, step_digest: record?.digest ?? '', bundle_id: w.policy.bundleId, decision: 'approve', approver: 'lena', surface: 'approver-console', reason: 'ok', signed_at: new Date(w.now).toISOString() },
      attestation: { kind: 'passkey', ...evidence, signature: 'c2ln' },
      signature_verified: true,
    });
    ok(step);
    const accepted = step.entries.find((e) => e.type === 'approval.accepted');
    expect(accepted?.payload).toMatchObject({ attestation: 'passkey', signature: 'c2ln', passkey: evidence, key_id: null });
    expect(w.state.requests.get(request)?.approvals.at(-1)).toMatchObject({ approver: 'lena', attestation: 'passkey' });
  });

  it('refuses a signature by a revoked passkey, or by one registered to someone else, in ledger order: BAD_SIGNATURE', () => {
    const w = new World(examplePolicy());
    ok(register(w, LENA));
    const first = ok(w.propose([restartStep()])).steps[0]?.request ?? '';
    // sam presents lena's passkey
    expectRefused(w.approve(first, 'sam', 'approver-console', { passkey: SAMPLE_PASSKEY.credential_id }), 'BAD_SIGNATURE', 'approval.rejected');
    ok(w.run({ kind: 'passkey_revoke', caller: LENA, credential_id: SAMPLE_PASSKEY.credential_id }));
    const refused = w.approve(first, 'lena', 'approver-console', { passkey: SAMPLE_PASSKEY.credential_id });
    expectRefused(refused, 'BAD_SIGNATURE', 'approval.rejected');
    expect(refused.entries.at(-1)?.payload).toMatchObject({ attestation: 'passkey', signature_verified: false });
  });
});

describe('agents hold no authority (DESIGN invariant 1)', () => {
  it('an agent credential is refused everything but propose, execute and outcome, and every refusal is recorded', () => {
    const w = new World(examplePolicy());
    const before = w.machine.entries.length;
    const attempts = [
      w.approve('request-1', 'payments-copilot', 'copilot-console', { asCaller: COPILOT }),
      w.run({ kind: 'hold_open', caller: COPILOT, trip_gate: 'K1', scope: {}, evidence_hash: EVIDENCE }),
      w.run({ kind: 'halt', caller: COPILOT, scope: { kind: 'all' } }),
      w.run({ kind: 'rollback_run', caller: COPILOT, artifact: 'artifact-1' }),
      w.run({ kind: 'bundle_activate', caller: COPILOT, policy: w.policy }),
    ];
    expect(attempts.map((a) => (a.result as Refusal).code)).toEqual(['AGENT_CANNOT_APPROVE', 'AGENT_CANNOT_HOLD', 'AGENT_CANNOT_HALT', 'AGENT_CANNOT_ROLLBACK', 'AGENT_CANNOT_ACTIVATE']);
    expect(w.machine.entries.length - before).toBe(attempts.length);
  });
});

afterAll(() => {
  // every refusal code has a test above that provoked it through the commands
  expect(COMMAND_CODES.filter((c) => !provoked.has(c))).toEqual([]);
});
