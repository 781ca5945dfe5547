import { describe, expect, it } from 'vitest';
import { caller, clearStep, compileBundle, COPILOT, examplePolicy, MINUTE, ok, refused, restartStep, snapshotStep, World } from '../../../../test/scenario/world.js';
import type { LedgerEntry } from '../ledger/entry.js';
import type { ApprovalResult } from './approve.js';
import type { ExecutionResult } from './execute.js';
import type { MachineStep } from './machine.js';
import type { RegisterRollbackResult } from './rollback.js';

/**
 * The approval command records what the independence rules said: every
 * refusal as `approval.rejected`, an accepted statement as
 * `approval.accepted`, then `request.approved` and the grant, or
 * `request.denied`. Each entry is filed under the request, its step and its
 * proposal, and the result tells the caller where the request stands.
 */

const OLIVIA = caller('olivia', 'approver-console');

/** The clear of shard 7 in prod (critical: a lead and an owner or finance delegate, by key), after its snapshot. */
function openClear(w: World): { request: string; step: string; proposal: string } {
  const snap = ok(w.propose([snapshotStep()])).steps[0]?.grant?.jti ?? '';
  const done = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant: snap }));
  ok(w.run({ kind: 'outcome', caller: COPILOT, execution: done.execution, outcome: 'succeeded' }));
  const s = ok(w.propose([clearStep()])).steps[0];
  if (!s?.request) throw new Error('the clear in prod needs approval');
  return { request: s.request, step: s.step, proposal: w.state.steps.get(s.step)?.proposal ?? '' };
}

function openRestart(w: World): { request: string; step: string; proposal: string } {
  const s = ok(w.propose([restartStep()])).steps[0];
  if (!s?.request) throw new Error('the restart in prod needs approval');
  return { request: s.request, step: s.step, proposal: w.state.steps.get(s.step)?.proposal ?? '' };
}

const last = <R>(step: MachineStep<R>): LedgerEntry => step.entries.at(-1) as LedgerEntry;

describe('a refused approval is recorded where a trace finds it', () => {
  it('files a statement for an unknown request under that request alone, citing no rule', () => {
    const w = new World(examplePolicy());
    const attempt = w.approve('request-404', 'lena', 'approver-console');
    expect(refused(attempt).code).toBe('REQUEST_UNKNOWN');
    expect(last(attempt)).toMatchObject({ type: 'approval.rejected', subjects: { request: 'request-404' }, payload: { rule_ids: [] } });
    expect(last(attempt).subjects).toEqual({ request: 'request-404' });
  });

  it('files a refusal of a known request under its step and proposal, citing the request’s rules', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const attempt = w.approve(r.request, 'olivia', 'approver-console');
    expect(refused(attempt).code).toBe('SELF_APPROVAL');
    expect(last(attempt).subjects).toEqual({ request: r.request, step: r.step, proposal: r.proposal });
    expect(last(attempt).payload['rule_ids']).toEqual(w.state.requests.get(r.request)?.rule_ids);
    expect(last(attempt).payload['rule_ids']).not.toEqual([]);
  });

  it('records a statement that has no canonical form without a digest of it', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    // an unpaired surrogate: nothing can be signed over it, so its signature does not verify either
    const attempt = w.approve(r.request, 'lena', 'approver-console', { statement: { reason: 'ok \ud800' }, verified: false });
    expect(refused(attempt).code).toBe('BAD_SIGNATURE');
    expect(last(attempt).payload['statement_digest']).toBeNull();
    const plain = w.approve(r.request, 'lena', 'approver-console', { verified: false });
    expect(last(plain).payload['statement_digest']).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('files the expiry it records under the request, its step and its proposal', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    w.advance(16 * MINUTE);
    const expired = w.approve(r.request, 'lena', 'approver-console').entries.find((e) => e.type === 'request.expired');
    expect(expired?.subjects).toEqual({ request: r.request, step: r.step, proposal: r.proposal });
  });
});

describe('an accepted approval', () => {
  it('records the approver’s roles, sorted, and the key that signed', () => {
    const example = examplePolicy().bundle;
    // priya also leads incidents, her roles listed out of order
    const w = new World(compileBundle({ ...example, principals: example.principals.map((p) => (p.id === 'priya' ? { ...p, roles: ['payments-owner', 'incident-lead'] } : p)) }));
    const r = openRestart(w);
    const accepted = ok(w.approve(r.request, 'priya', 'approver-console'));
    expect(accepted.quorum_met).toBe(true);
    const entry = w.machine.entries.find((e) => e.type === 'approval.accepted');
    expect(entry?.payload).toMatchObject({ approver: 'priya', roles: ['incident-lead', 'payments-owner'], attestation: 'key', key_id: 'priya-2025' });
  });

  it('records no key id for a console approval attested by the gateway', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const record = w.state.requests.get(r.request);
    const step = w.run<ApprovalResult>({
      kind: 'approval',
      caller: caller('lena', 'approver-console'),
      statement: { request: r.request, step_digest: record?.digest ?? '', bundle_id: w.policy.bundleId, decision: 'approve', approver: 'lena', surface: 'approver-console', reason: 'ok', signed_at: new Date(w.now).toISOString() },
      attestation: { kind: 'gateway', credential_id: 'cred-lena-approver-console', signature: 'A'.repeat(86) },
      signature_verified: true,
    });
    ok(step);
    expect(step.entries.find((e) => e.type === 'approval.accepted')?.payload).toMatchObject({ approver: 'lena', roles: ['incident-lead'], attestation: 'gateway', key_id: null });
  });

  it('leaves the request open and says which factor still needs whom, until the quorum is met', () => {
    const w = new World(examplePolicy());
    const r = openClear(w);
    const lena = w.approve(r.request, 'lena', 'signed-cli');
    // the factor lena's approval counts for is recorded with it
    expect(lena.entries.find((e) => e.type === 'approval.accepted')?.payload['counted_for']).toEqual([0]);
    const first = ok(lena);
    expect(first).toEqual({
      ok: true,
      request: r.request,
      decision: 'approve',
      status: 'open',
      quorum_met: false,
      remaining: [{ factor: 1, roles: ['payments-owner', 'finance-delegate'], needed: 1 }],
      grant: null,
      awaiting_rollback: false,
    });
    const second = w.approve(r.request, 'fatima', 'approver-console');
    const met = ok(second);
    expect(met).toMatchObject({ ok: true, request: r.request, decision: 'approve', status: 'approved', quorum_met: true, remaining: [], awaiting_rollback: false });
    // the clear needs no rollback: the grant is issued in the same commit
    expect(met.grant?.step).toBe(r.step);
    const approved = second.entries.find((e) => e.type === 'request.approved');
    expect(approved?.payload['approvers']).toEqual(['lena', 'fatima']);
  });

  it('waits for the rollback artifact before granting a step whose contract demands one', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    expect(ok(w.approve(r.request, 'lena', 'approver-console'))).toMatchObject({ status: 'approved', quorum_met: true, grant: null, awaiting_rollback: true });
    const reg = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: r.step, action: 'workers.rollback_pool', target: 'payments-worker' }));
    expect(reg.grant?.request).toBe(r.request);
  });
});

describe('a denial by an eligible approver', () => {
  it('closes the request, grants nothing, and is recorded under the request’s rules', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    const step = w.approve(r.request, 'leo', 'approver-console', { decision: 'deny' });
    expect(ok(step)).toEqual({
      ok: true,
      request: r.request,
      decision: 'deny',
      status: 'denied',
      quorum_met: false,
      remaining: [{ factor: 0, roles: ['incident-lead', 'payments-owner'], needed: 1 }],
      grant: null,
      awaiting_rollback: false,
    });
    const denied = step.entries.find((e) => e.type === 'request.denied');
    expect(denied?.subjects).toEqual({ request: r.request, step: r.step, proposal: r.proposal });
    expect(denied?.payload['rule_ids']).toEqual(w.state.requests.get(r.request)?.rule_ids);
  });
});

describe('the timer’s expiry', () => {
  it('files each request it expires under the request, its step and its proposal', () => {
    const w = new World(examplePolicy());
    const r = openRestart(w);
    w.advance(15 * MINUTE);
    const expired = w.run({ kind: 'expire' });
    expect(expired.entries.map((e) => e.type)).toEqual(['request.expired']);
    expect(expired.entries[0]?.subjects).toEqual({ request: r.request, step: r.step, proposal: r.proposal });
  });
});
