import type { KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OVERRIDE_CODE_ORDER, type OverrideRejectionCode } from '../authority/codes.js';
import { canonicalDigest } from '../digest.js';
import { buildRoster, formatPublicKey } from '../policy/roster.js';
import { ActionContract, OverrideRules, type PolicyBundle, type Principal } from '../policy/schema.js';
import type { OverrideBody } from './body.js';
import { signOverride, type OverrideSignature, type OverrideSignerClaim } from './evidence.js';
import { checkLeaseUse, checkOverrideScope, evaluateOverride, maxDurationMs, SIGNING_SKEW_MS, type OverrideContext, type OverrideFinding, type OverrideLease, type OverrideStep } from './gates.js';
import { newEd25519KeyPair } from '../ledger/key.js';

// The payments roster: olivia -> lena -> priya, omar -> leo -> priya; fatima, sam outside.
const privateKeys = new Map<string, KeyObject>();
const person = (id: string, roles: string[], reports_to?: string, kind: Principal['kind'] = 'human'): Principal => {
  const { publicKey, privateKey } = newEd25519KeyPair();
  privateKeys.set(id, privateKey);
  return { id, kind, roles, keys: [{ id: `${id}-2025`, public_key: formatPublicKey(publicKey) }], ...(reports_to ? { reports_to } : {}) };
};
const roster = buildRoster({
  principals: [
    person('payments-copilot', ['incident-lead'], undefined, 'agent'),
    person('olivia', ['oncall-operator'], 'lena'),
    person('omar', ['oncall-operator', 'incident-lead'], 'leo'),
    person('lena', ['incident-lead'], 'priya'),
    person('leo', ['incident-lead'], 'priya'),
    person('priya', ['payments-owner']),
    person('fatima', ['finance-delegate']),
    person('sam', ['sre', 'incident-lead']),
  ],
});

const bundle: Pick<PolicyBundle, 'actions' | 'overrides'> = {
  actions: [
    ActionContract.parse({ id: 'workers.restart_pool', class: 'write', risk: { prod: 'high' }, rollback_required: true }),
    ActionContract.parse({ id: 'queue.clear_shard', class: 'destructive', risk: { prod: 'critical' }, override: { eligible: false } }),
    ActionContract.parse({ id: 'queue.requeue', class: 'destructive', risk: { prod: 'high' } }),
    ActionContract.parse({ id: 'cache.flush', class: 'write', risk: { prod: 'high' }, override: { max_duration: '30m' } }),
  ],
  overrides: OverrideRules.parse({
    signer_a_roles: ['incident-lead'],
    signer_b_roles: ['finance-delegate', 'payments-owner'],
    surfaces: ['signed-cli', 'approver-console'],
    reason_codes: ['CUSTOMER_IMPACT', 'APPROVER_UNAVAILABLE'],
    max_duration: { default: '4h', destructive: '1h' },
    budgets: [{ environment: 'prod', max: 2, window: '7d', extra_signer_roles: ['payments-owner'] }],
  }),
};

const restart: OverrideStep = {
  digest: canonicalDigest({ action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker' }),
  action: 'workers.restart_pool',
  environment: 'prod',
  target: 'payments-worker',
  agent: 'payments-copilot',
  on_behalf_of: 'olivia',
};
const clear: OverrideStep = { ...restart, digest: canonicalDigest({ action: 'queue.clear_shard' }), action: 'queue.clear_shard', target: 'payments/shard-7' };
const requeue: OverrideStep = { ...restart, digest: canonicalDigest({ action: 'queue.requeue' }), action: 'queue.requeue' };
const flush: OverrideStep = { ...restart, digest: canonicalDigest({ action: 'cache.flush' }), action: 'cache.flush' };
const restartDev: OverrideStep = { ...restart, digest: canonicalDigest({ action: 'workers.restart_pool', environment: 'dev' }), environment: 'dev' };
const unknownAction: OverrideStep = { ...restart, digest: canonicalDigest({ action: 'workers.make_it_so' }), action: 'workers.make_it_so' };

const NOW = Date.parse('2025-06-01T10:00:00.000Z');
const body: OverrideBody = {
  id: 'ovr_1',
  hold_ref: 'hold_1',
  step_digests: [restart.digest],
  trip_gate_ack: 'K4',
  valid_from: '2025-06-01T10:00:00.000Z',
  valid_to: '2025-06-01T12:00:00.000Z',
  scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['payments-worker'] },
  reason_code: 'CUSTOMER_IMPACT',
  reason_text: 'settlement backlog growing; restart is the runbook step',
  rollback_ref: 'rb_1',
  requester: 'olivia',
  request_surface: 'copilot-console',
};

function signed(b: OverrideBody, signer: string, role: OverrideSignerClaim['role'], over: Partial<OverrideSignerClaim> = {}): OverrideSignature {
  const claim: OverrideSignerClaim = { role, signer, key_id: `${signer}-2025`, surface: 'signed-cli', signed_at: '2025-06-01T09:58:00.000Z', ...over };
  return signOverride(b, claim, privateKeys.get(signer)!);
}

function ctx(over: Partial<OverrideContext> = {}, b: OverrideBody = over.body ?? body): OverrideContext {
  return {
    body: b,
    signatures: [signed(b, 'lena', 'a'), signed(b, 'fatima', 'b', { surface: 'approver-console' })],
    bundle,
    bundle_id: 'sha256:bundle1',
    roster,
    steps: [restart, clear, requeue, flush],
    holds: [{ id: 'hold_1', trip_gate: 'K4' }],
    rollback: { id: 'rb_1', status: 'ready' },
    past_overrides: [],
    now: NOW,
    lease_id: 'lease_1',
    ...over,
  };
}

const codes = (c: OverrideContext): readonly string[] => {
  const r = evaluateOverride(c);
  return r.ok ? [] : r.codes;
};

describe('evaluateOverride', () => {
  it('grants a lease for exactly the listed steps that never lifts the hold', () => {
    const r = evaluateOverride(ctx());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.lease).toMatchObject({
      id: 'lease_1',
      override: 'ovr_1',
      hold_ref: 'hold_1',
      bundle_id: 'sha256:bundle1',
      step_digests: [restart.digest],
      environments: ['prod'],
      valid_from_ms: NOW,
      valid_to_ms: NOW + 2 * 3_600_000,
      lifts_hold: false,
    });
    expect(r.lease.signers.map((s) => [s.role, s.signer])).toEqual([['a', 'lena'], ['b', 'fatima']]);
    expect(r.lease.body_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('records the environments a lease covers once each, sorted, whatever the order of its steps', () => {
    const b: OverrideBody = {
      ...body,
      step_digests: [restart.digest, restartDev.digest, flush.digest],
      scope: { environments: ['prod', 'dev'], actions: ['workers.restart_pool', 'cache.flush'], targets: ['payments-worker'] },
      valid_to: '2025-06-01T10:30:00.000Z',
    };
    const r = evaluateOverride(ctx({ steps: [restart, restartDev, flush] }, b));
    expect(r.ok ? r.lease.environments : r.codes).toEqual(['dev', 'prod']);
  });

  describe('O1_IDENTITY_COLLISION', () => {
    it('refuses the requester as a signer (the incident: override from the requester’s own seat)', () => {
      const b = { ...body, requester: 'lena' };
      expect(codes(ctx({}, b))).toContain('O1_IDENTITY_COLLISION');
    });
    it('refuses the same person as both signers', () => {
      expect(codes(ctx({ signatures: [signed(body, 'lena', 'a'), signed(body, 'lena', 'b')] }))).toContain('O1_IDENTITY_COLLISION');
    });
    it('refuses a signer who reports to the requester, transitively', () => {
      const b = { ...body, requester: 'priya' };
      expect(codes(ctx({}, b))).toEqual(['O1_IDENTITY_COLLISION']);
    });
    it('refuses a signer who is the on-behalf-of principal of an unlocked step', () => {
      expect(codes(ctx({ steps: [{ ...restart, on_behalf_of: 'fatima' }] }))).toEqual(['O1_IDENTITY_COLLISION']);
    });
    it('refuses a signer who reports to the on-behalf-of principal of an unlocked step, who is not the requester', () => {
      // olivia requests; the step is done for priya, and lena (signer a) reports to priya
      const r = evaluateOverride(ctx({ steps: [{ ...restart, on_behalf_of: 'priya' }] }));
      expect(r.ok ? [] : r.codes).toEqual(['O1_IDENTITY_COLLISION']);
      expect(r.ok ? [] : r.findings).toEqual([{ code: 'O1_IDENTITY_COLLISION', detail: expect.stringContaining('`lena`') }]);
      // the same step done for someone lena does not report to passes
      expect(evaluateOverride(ctx({ steps: [{ ...restart, on_behalf_of: 'omar' }] })).ok).toBe(true);
    });
  });

  describe('O2_SCOPE_CREEP', () => {
    // Each list keeps its exact value, so every step stays inside the allowlist:
    // the wildcard alone is what must be refused.
    it.each([
      ['environments', { ...body.scope, environments: ['prod', '*'] }],
      ['actions', { ...body.scope, actions: ['workers.restart_pool', '*'] }],
      ['targets', { ...body.scope, targets: ['payments-worker', 'payments-*'] }],
      ['targets, `?`', { ...body.scope, targets: ['payments-worker', 'payments-worke?'] }],
    ])('refuses a wildcard beside the exact values in %s', (_label, scope) => {
      const r = evaluateOverride(ctx({}, { ...body, scope }));
      expect(r.ok ? [] : r.findings).toEqual([{ code: 'O2_SCOPE_CREEP', detail: 'scope holds a wildcard' }]);
    });
    it.each([
      ['a `*` in targets', { ...body.scope, targets: ['payments-*'] }],
      ['a `?` in environments', { ...body.scope, environments: ['prod', 'pro?'] }],
      ['a target outside the allowlist', { ...body.scope, targets: ['ledger-worker'] }],
      ['an action outside the allowlist', { ...body.scope, actions: ['workers.rollback_pool'] }],
      ['an environment outside the allowlist', { ...body.scope, environments: ['staging'] }],
    ])('refuses %s', (_label, scope) => {
      expect(codes(ctx({}, { ...body, scope }))).toContain('O2_SCOPE_CREEP');
    });
    it('refuses a body that differs from the one signed', () => {
      const sigs = [signed(body, 'lena', 'a'), signed(body, 'fatima', 'b', { surface: 'approver-console' })];
      const widened = { ...body, step_digests: [restart.digest, requeue.digest], scope: { ...body.scope, actions: ['workers.restart_pool', 'queue.requeue'] } };
      expect(codes(ctx({ signatures: sigs }, widened))).toContain('O2_SCOPE_CREEP');
      expect(codes(ctx({ signatures: sigs }, { ...body, reason_text: `${body.reason_text}, and the queue too` }))).toEqual(['O2_SCOPE_CREEP']);
    });
    it('refuses a digest of no recorded step, or a digest listed twice', () => {
      expect(codes(ctx({}, { ...body, step_digests: [`sha256:${'f'.repeat(64)}`] }))).toContain('O2_SCOPE_CREEP');
      expect(codes(ctx({}, { ...body, step_digests: [restart.digest, restart.digest] }))).toContain('O2_SCOPE_CREEP');
    });
    // checkOverrideScope is what the gateway runs at request time: it must say
    // exactly what the gate would say about the body, no more and no less
    it.each([
      ['a clean body', body],
      ['a wildcard', { ...body, scope: { ...body.scope, targets: ['payments-*'] } }],
      ['a step outside the allowlist', { ...body, scope: { ...body.scope, environments: ['staging'] } }],
      ['an unknown digest', { ...body, step_digests: [`sha256:${'f'.repeat(64)}`] }],
      ['a digest listed twice', { ...body, step_digests: [restart.digest, restart.digest] }],
    ])('checkOverrideScope finds what the gate finds as O2 for %s', (_label, b) => {
      const r = evaluateOverride(ctx({}, b));
      const gate = r.ok ? [] : r.findings.filter((f) => f.code === 'O2_SCOPE_CREEP');
      expect(checkOverrideScope(b, [restart, clear, requeue, flush]).findings).toEqual(gate);
    });
  });

  it('O3_CLOCK_BREACH: refuses a window that already ended and a signature from the future', () => {
    expect(codes(ctx({ now: Date.parse(body.valid_to) }))).toContain('O3_CLOCK_BREACH');
    const sigs = [signed(body, 'lena', 'a', { signed_at: '2025-06-01T10:30:00.000Z' }), signed(body, 'fatima', 'b', { surface: 'approver-console' })];
    expect(codes(ctx({ signatures: sigs }))).toEqual(['O3_CLOCK_BREACH']);
  });

  it('O3_CLOCK_BREACH: tolerates a signing clock up to five minutes ahead, not a millisecond more', () => {
    expect(SIGNING_SKEW_MS).toBe(5 * 60_000);
    const at = (ms: number): OverrideSignature[] => [
      signed(body, 'lena', 'a', { signed_at: new Date(ms).toISOString() }),
      signed(body, 'fatima', 'b', { surface: 'approver-console' }),
    ];
    expect(codes(ctx({ signatures: at(NOW + 5 * 60_000) }))).toEqual([]);
    expect(codes(ctx({ signatures: at(NOW + 5 * 60_000 + 1) }))).toEqual(['O3_CLOCK_BREACH']);
  });

  it('O3_CLOCK_BREACH: refuses a signature dated at the end of the window, even within the skew', () => {
    const end = Date.parse(body.valid_to);
    const sigs = [signed(body, 'lena', 'a', { signed_at: body.valid_to }), signed(body, 'fatima', 'b', { surface: 'approver-console' })];
    expect(codes(ctx({ signatures: sigs, now: end - 60_000 }))).toEqual(['O3_CLOCK_BREACH']);
    const before = [signed(body, 'lena', 'a', { signed_at: new Date(end - 1).toISOString() }), sigs[1]!];
    expect(codes(ctx({ signatures: before, now: end - 60_000 }))).toEqual([]);
  });

  it.each([
    ['absent', null],
    ['not ready', { id: 'rb_1', status: 'draft' }],
    ['another artifact', { id: 'rb_2', status: 'ready' }],
  ])('O4_MISSING_ROLLBACK: refuses a rollback artifact that is %s', (_label, rollback) => {
    expect(codes(ctx({ rollback }))).toEqual(['O4_MISSING_ROLLBACK']);
  });

  describe('O5_NOT_ELIGIBLE', () => {
    it('refuses a signer without the signer role', () => {
      expect(codes(ctx({ signatures: [signed(body, 'lena', 'a'), signed(body, 'sam', 'b')] }))).toEqual(['O5_NOT_ELIGIBLE']);
    });
    it('refuses an agent signer', () => {
      expect(codes(ctx({ signatures: [signed(body, 'payments-copilot', 'a'), signed(body, 'fatima', 'b')], steps: [{ ...restart, agent: 'other-bot' }] }))).toEqual(['O5_NOT_ELIGIBLE']);
    });
    it('refuses a signature through the request’s own surface or one not allowed', () => {
      const own = [signed(body, 'lena', 'a', { surface: 'copilot-console' }), signed(body, 'fatima', 'b')];
      expect(codes(ctx({ signatures: own }))).toEqual(['O5_NOT_ELIGIBLE']);
      const b = { ...body, request_surface: 'signed-cli' };
      expect(codes(ctx({ signatures: [signed(b, 'lena', 'a'), signed(b, 'fatima', 'b', { surface: 'approver-console' })] }, b))).toEqual(['O5_NOT_ELIGIBLE']);
    });
    it('refuses an action whose contract is never overridable (the queue clear)', () => {
      const b = { ...body, step_digests: [clear.digest], scope: { environments: ['prod'], actions: ['queue.clear_shard'], targets: ['payments/shard-7'] }, valid_to: '2025-06-01T10:30:00.000Z' };
      expect(codes(ctx({}, b))).toEqual(['O5_NOT_ELIGIBLE']);
    });
    it('refuses an incident class outside the policy list, and a reason code outside its list', () => {
      const strict = { ...bundle, overrides: { ...bundle.overrides!, incident_classes: ['sev1'] } };
      expect(codes(ctx({ bundle: strict }))).toEqual(['O5_NOT_ELIGIBLE']);
      expect(codes(ctx({ bundle: strict }, { ...body, incident_class: 'sev1' }))).toEqual([]);
      expect(codes(ctx({}, { ...body, reason_code: 'CEO_SAID_SO' }))).toEqual(['O5_NOT_ELIGIBLE']);
    });
    it('refuses everything when the policy has no override rules, or a signer is missing', () => {
      expect(codes(ctx({ bundle: { actions: bundle.actions } }))).toContain('O5_NOT_ELIGIBLE');
      expect(codes(ctx({ signatures: [signed(body, 'lena', 'a')] }))).toEqual(['O5_NOT_ELIGIBLE']);
    });
    it('refuses two signers in seat a, even beside a valid signer b', () => {
      const sigs = [signed(body, 'lena', 'a'), signed(body, 'sam', 'a'), signed(body, 'fatima', 'b', { surface: 'approver-console' })];
      expect(codes(ctx({ signatures: sigs }))).toEqual(['O5_NOT_ELIGIBLE']);
    });
    it('refuses an incident class the policy does not list', () => {
      const strict = { ...bundle, overrides: { ...bundle.overrides!, incident_classes: ['sev1'] } };
      expect(codes(ctx({ bundle: strict }, { ...body, incident_class: 'sev2' }))).toEqual(['O5_NOT_ELIGIBLE']);
    });
    it('refuses a signer outside the roster, whose signature cannot verify either', () => {
      const ghost = newEd25519KeyPair();
      const sig = signOverride(body, { role: 'b', signer: 'ghost', key_id: 'ghost-2025', surface: 'approver-console', signed_at: '2025-06-01T09:58:00.000Z' }, ghost.privateKey);
      const r = evaluateOverride(ctx({ signatures: [signed(body, 'lena', 'a'), sig] }));
      expect(r.ok ? [] : r.codes).toEqual(['O5_NOT_ELIGIBLE', 'BAD_SIGNATURE']);
    });
    it('refuses a step whose action has no contract in the bundle', () => {
      const b = { ...body, step_digests: [unknownAction.digest], scope: { ...body.scope, actions: [unknownAction.action] } };
      expect(codes(ctx({ steps: [unknownAction] }, b))).toEqual(['O5_NOT_ELIGIBLE']);
    });
  });

  describe('O6_GATE_ACK_MISMATCH', () => {
    it('refuses an acknowledgement that does not echo the active gate', () => {
      expect(codes(ctx({}, { ...body, trip_gate_ack: 'K1' }))).toEqual(['O6_GATE_ACK_MISMATCH']);
    });
    it('refuses a body that ignores an active hold, or acknowledges a hold that is not there', () => {
      expect(codes(ctx({}, { ...body, hold_ref: null, trip_gate_ack: null }))).toEqual(['O6_GATE_ACK_MISMATCH']);
      expect(codes(ctx({ holds: [] }))).toEqual(['O6_GATE_ACK_MISMATCH']);
      expect(codes(ctx({ holds: [{ id: 'hold_1', trip_gate: 'K4' }, { id: 'hold_2', trip_gate: 'K1' }] }))).toEqual(['O6_GATE_ACK_MISMATCH']);
    });
    it('refuses two holds over the steps whatever the body acknowledges', () => {
      const two = [{ id: 'hold_1', trip_gate: 'K4' }, { id: 'hold_2', trip_gate: 'K1' }];
      expect(codes(ctx({ holds: two }, { ...body, hold_ref: null, trip_gate_ack: null }))).toEqual(['O6_GATE_ACK_MISMATCH']);
    });
    it('refuses an acknowledgement that names another hold, even with the right gate', () => {
      expect(codes(ctx({}, { ...body, hold_ref: 'hold_2' }))).toEqual(['O6_GATE_ACK_MISMATCH']);
    });
    it('refuses half an acknowledgement when no hold is active', () => {
      expect(codes(ctx({ holds: [] }, { ...body, trip_gate_ack: null }))).toEqual(['O6_GATE_ACK_MISMATCH']);
      expect(codes(ctx({ holds: [] }, { ...body, hold_ref: null }))).toEqual(['O6_GATE_ACK_MISMATCH']);
    });
    it('accepts no hold and no acknowledgement when approvers are unavailable', () => {
      expect(codes(ctx({ holds: [] }, { ...body, hold_ref: null, trip_gate_ack: null }))).toEqual([]);
    });
  });

  describe('O7_DURATION_EXCEEDED', () => {
    it('refuses a window over the 4h default, or an empty one', () => {
      expect(codes(ctx({}, { ...body, valid_to: '2025-06-01T14:00:00.001Z' }))).toEqual(['O7_DURATION_EXCEEDED']);
      expect(codes(ctx({}, { ...body, valid_to: '2025-06-01T14:00:00.000Z' }))).toEqual([]);
      expect(codes(ctx({}, { ...body, valid_from: '2025-06-01T12:00:00.000Z' }))).toContain('O7_DURATION_EXCEEDED');
    });
    it('applies the most restrictive class and per-action maximum', () => {
      expect(maxDurationMs(bundle, [restart])).toBe(4 * 3_600_000);
      expect(maxDurationMs(bundle, [restart, requeue])).toBe(3_600_000);
      expect(maxDurationMs(bundle, [flush, requeue])).toBe(30 * 60_000);
      expect(maxDurationMs({ actions: [] }, [])).toBe(4 * 3_600_000);
      // an action without a contract adds no limit of its own (O5 refuses it)
      expect(maxDurationMs(bundle, [unknownAction])).toBe(4 * 3_600_000);
    });
    it('takes the policy’s own default over the built-in four hours', () => {
      const tight = { ...bundle, overrides: { ...bundle.overrides!, max_duration: { default: '2h', destructive: '1h' } } };
      expect(maxDurationMs(tight, [restart])).toBe(2 * 3_600_000);
      expect(maxDurationMs(tight, [restart, requeue])).toBe(3_600_000);
      expect(codes(ctx({ bundle: tight }, { ...body, valid_to: '2025-06-01T12:00:00.001Z' }))).toEqual(['O7_DURATION_EXCEEDED']);
      const b = { ...body, step_digests: [requeue.digest], scope: { ...body.scope, actions: ['queue.requeue'] } };
      expect(codes(ctx({}, b))).toEqual(['O7_DURATION_EXCEEDED']);
    });
  });

  describe('O8_BUDGET_EXHAUSTED', () => {
    const spent = [
      { environments: ['prod'], granted_at: '2025-05-30T10:00:00.000Z' },
      { environments: ['prod', 'staging'], granted_at: '2025-05-31T10:00:00.000Z' },
    ];
    it('refuses once the environment’s budget is spent and no extra signer signed', () => {
      expect(codes(ctx({ past_overrides: spent }))).toEqual(['O8_BUDGET_EXHAUSTED']);
    });
    it('does not count overrides outside the window or in other environments', () => {
      const old = [{ ...spent[0]!, granted_at: '2025-05-20T10:00:00.000Z' }, { environments: ['staging'], granted_at: '2025-05-31T10:00:00.000Z' }, spent[1]!];
      expect(codes(ctx({ past_overrides: old }))).toEqual([]);
    });
    it('counts grants inside the window only: exactly seven days ago and later than now are outside', () => {
      const edges = [
        { environments: ['prod'], granted_at: new Date(NOW - 7 * 24 * 3_600_000).toISOString() },
        { environments: ['prod'], granted_at: new Date(NOW + 60_000).toISOString() },
        spent[1]!,
      ];
      expect(codes(ctx({ past_overrides: edges }))).toEqual([]);
      const inside = [{ environments: ['prod'], granted_at: new Date(NOW - 7 * 24 * 3_600_000 + 1).toISOString() }, spent[1]!];
      expect(codes(ctx({ past_overrides: inside }))).toEqual(['O8_BUDGET_EXHAUSTED']);
    });
    it('counts an unreadable grant time against the budget: fail closed', () => {
      expect(codes(ctx({ past_overrides: [{ environments: ['prod'], granted_at: 'last tuesday' }, spent[1]!] }))).toEqual(['O8_BUDGET_EXHAUSTED']);
    });
    it('spends a budget only for steps in its environment', () => {
      const b = { ...body, step_digests: [restartDev.digest], scope: { ...body.scope, environments: ['dev'] } };
      expect(codes(ctx({ past_overrides: spent, steps: [restartDev] }, b))).toEqual([]);
    });
    it('does not take a core signer signing again as the extra signer', () => {
      const sigs = [signed(body, 'lena', 'a'), signed(body, 'priya', 'b', { surface: 'approver-console' }), signed(body, 'priya', 'extra')];
      expect(codes(ctx({ past_overrides: spent, signatures: sigs }))).toEqual(['O1_IDENTITY_COLLISION', 'O8_BUDGET_EXHAUSTED']);
    });
    it('does not take an extra signature that did not verify', () => {
      const forged = { ...signed(body, 'priya', 'extra'), signed_at: '2025-06-01T09:59:00.000Z' };
      const sigs = [signed(body, 'lena', 'a'), signed(body, 'fatima', 'b', { surface: 'approver-console' }), forged];
      expect(codes(ctx({ past_overrides: spent, signatures: sigs }))).toEqual(['O8_BUDGET_EXHAUSTED', 'BAD_SIGNATURE']);
    });
    it('takes an extra signer holding any one of the extra roles', () => {
      const either = { ...bundle, overrides: { ...bundle.overrides!, budgets: [{ ...bundle.overrides!.budgets[0]!, extra_signer_roles: ['payments-owner', 'finance-delegate'] }] } };
      const sigs = [signed(body, 'lena', 'a'), signed(body, 'fatima', 'b', { surface: 'approver-console' }), signed(body, 'priya', 'extra')];
      expect(codes(ctx({ bundle: either, past_overrides: spent, signatures: sigs }))).toEqual([]);
    });
    it('judges the extra signer by the extra roles of the steps’ environments, not by the roles of signer b', () => {
      // fatima holds a signer-b role, not the extra role of prod
      const sigs = [signed(body, 'lena', 'a'), signed(body, 'priya', 'b', { surface: 'approver-console' }), signed(body, 'fatima', 'extra')];
      expect(codes(ctx({ past_overrides: spent, signatures: sigs }))).toEqual(['O5_NOT_ELIGIBLE', 'O8_BUDGET_EXHAUSTED']);
      // sre is the extra role of staging only: it does not qualify sam for a prod step
      const staging = { ...bundle, overrides: { ...bundle.overrides!, budgets: [...bundle.overrides!.budgets, { environment: 'staging', max: 1, window: '7d', extra_signer_roles: ['sre'] }] } };
      const withSam = [signed(body, 'lena', 'a'), signed(body, 'fatima', 'b', { surface: 'approver-console' }), signed(body, 'sam', 'extra')];
      expect(codes(ctx({ bundle: staging, signatures: withSam }))).toEqual(['O5_NOT_ELIGIBLE']);
    });
    it('grants with an extra signer holding the extra role', () => {
      const sigs = [signed(body, 'lena', 'a'), signed(body, 'fatima', 'b', { surface: 'approver-console' }), signed(body, 'priya', 'extra')];
      // priya is olivia's manager's manager, not her report: independent
      expect(codes(ctx({ past_overrides: spent, signatures: sigs }))).toEqual([]);
      const wrong = [...sigs.slice(0, 2), signed(body, 'sam', 'extra')];
      expect(codes(ctx({ past_overrides: spent, signatures: wrong }))).toEqual(['O5_NOT_ELIGIBLE', 'O8_BUDGET_EXHAUSTED']);
    });
  });

  describe('BAD_SIGNATURE', () => {
    it('refuses a signature that does not verify or uses someone else’s key', () => {
      const good = signed(body, 'fatima', 'b', { surface: 'approver-console' });
      const tampered = { ...good, signed_at: '2025-06-01T09:59:00.000Z' };
      expect(codes(ctx({ signatures: [signed(body, 'lena', 'a'), tampered] }))).toEqual(['BAD_SIGNATURE']);
      const borrowed = { ...signed(body, 'lena', 'b', { surface: 'approver-console' }), signer: 'fatima' };
      expect(codes(ctx({ signatures: [signed(body, 'lena', 'a'), borrowed] }))).toContain('BAD_SIGNATURE');
    });
  });

  it('records every failing gate at once, in a fixed order', () => {
    const b: OverrideBody = {
      ...body,
      requester: 'lena',
      scope: { environments: ['*'], actions: ['workers.restart_pool'], targets: ['payments-worker'] },
      trip_gate_ack: 'K2',
      valid_to: '2025-06-01T18:00:00.000Z',
      reason_code: 'NOPE',
    };
    const r = evaluateOverride(ctx({ rollback: null, now: NOW }, b));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.codes).toEqual(['O1_IDENTITY_COLLISION', 'O2_SCOPE_CREEP', 'O4_MISSING_ROLLBACK', 'O5_NOT_ELIGIBLE', 'O6_GATE_ACK_MISMATCH', 'O7_DURATION_EXCEEDED']);
    expect(r.findings.length).toBeGreaterThanOrEqual(r.codes.length);
    expect(r.evidence_hash).toMatch(/^sha256:/);
  });
});

describe('every failing gate is reported', () => {
  // Each fault, alone, trips exactly one code (see the unit tests above); any
  // combination must report exactly the union, so no reason is ever lost.
  const FAULTS: readonly OverrideRejectionCode[] = OVERRIDE_CODE_ORDER;
  it('reports exactly the codes of the faults injected, for any combination', () => {
    fc.assert(
      fc.property(fc.subarray([...FAULTS]), (faults) => {
        const has = (c: OverrideRejectionCode): boolean => faults.includes(c);
        const b: OverrideBody = {
          ...body,
          ...(has('O1_IDENTITY_COLLISION') ? { requester: 'priya' } : {}),
          ...(has('O5_NOT_ELIGIBLE') ? { reason_code: 'CEO_SAID_SO' } : {}),
          ...(has('O6_GATE_ACK_MISMATCH') ? { trip_gate_ack: 'K1' } : {}),
          ...(has('O7_DURATION_EXCEEDED') ? { valid_to: '2025-06-01T14:00:00.001Z' } : {}),
        };
        const a = signed(b, 'lena', 'a', has('O3_CLOCK_BREACH') ? { signed_at: '2025-06-01T10:30:00.000Z' } : {});
        let sigB = signed(b, 'fatima', 'b', { surface: 'approver-console' });
        if (has('BAD_SIGNATURE')) sigB = { ...sigB, signature: a.signature };
        const final = has('O2_SCOPE_CREEP') ? { ...b, reason_text: `${b.reason_text}!` } : b;
        const c = ctx(
          {
            signatures: [a, sigB],
            rollback: has('O4_MISSING_ROLLBACK') ? null : { id: 'rb_1', status: 'ready' },
            past_overrides: has('O8_BUDGET_EXHAUSTED')
              ? [{ environments: ['prod'], granted_at: '2025-05-31T10:00:00.000Z' }, { environments: ['prod'], granted_at: '2025-05-31T11:00:00.000Z' }]
              : [],
          },
          final,
        );
        expect(codes(c)).toEqual(OVERRIDE_CODE_ORDER.filter((code) => has(code)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('what a denied attempt records', () => {
  // A finding's wording is not API, but which signer, step, artifact or hold it
  // is about is the record: a reviewer reads it to tell who or what failed.
  const findings = (c: OverrideContext): readonly OverrideFinding[] => {
    const r = evaluateOverride(c);
    return r.ok ? [] : r.findings;
  };
  const ghost = (): OverrideSignature =>
    signOverride(body, { role: 'b', signer: 'ghost', key_id: 'ghost-2025', surface: 'approver-console', signed_at: '2025-06-01T09:58:00.000Z' }, newEd25519KeyPair().privateKey);
  const neverOverridable = { ...body, step_digests: [clear.digest], scope: { environments: ['prod'], actions: ['queue.clear_shard'], targets: ['payments/shard-7'] }, valid_to: '2025-06-01T10:30:00.000Z' };
  const unlisted = { ...body, step_digests: [unknownAction.digest], scope: { ...body.scope, actions: [unknownAction.action] } };
  const spent = [
    { environments: ['prod'], granted_at: '2025-05-30T10:00:00.000Z' },
    { environments: ['prod'], granted_at: '2025-05-31T10:00:00.000Z' },
  ];
  const cases: [string, OverrideRejectionCode, string, () => OverrideContext][] = [
    ['an environment outside the scope', 'O2_SCOPE_CREEP', '`prod`', () => ctx({}, { ...body, scope: { ...body.scope, environments: ['staging'] } })],
    ['an action outside the scope', 'O2_SCOPE_CREEP', '`workers.restart_pool`', () => ctx({}, { ...body, scope: { ...body.scope, actions: ['workers.rollback_pool'] } })],
    ['a signature over another body', 'O2_SCOPE_CREEP', '`fatima`', () => ctx({ signatures: [signed(body, 'lena', 'a'), signed(body, 'fatima', 'b', { surface: 'approver-console' })] }, { ...body, reason_text: 'widened after signing' })],
    ['a signature that does not verify', 'BAD_SIGNATURE', '`fatima`', () => ctx({ signatures: [signed(body, 'lena', 'a'), { ...signed(body, 'fatima', 'b', { surface: 'approver-console' }), signed_at: '2025-06-01T09:59:00.000Z' }] })],
    ['the requester signing', 'O1_IDENTITY_COLLISION', '`lena`', () => ctx({}, { ...body, requester: 'lena' })],
    ['a signature from the future', 'O3_CLOCK_BREACH', '`lena`', () => ctx({ signatures: [signed(body, 'lena', 'a', { signed_at: '2025-06-01T10:30:00.000Z' }), signed(body, 'fatima', 'b', { surface: 'approver-console' })] })],
    ['a missing rollback artifact', 'O4_MISSING_ROLLBACK', '`rb_1`', () => ctx({ rollback: null })],
    ['a reason code outside the policy', 'O5_NOT_ELIGIBLE', '`CEO_SAID_SO`', () => ctx({}, { ...body, reason_code: 'CEO_SAID_SO' })],
    ['a signer outside the roster', 'O5_NOT_ELIGIBLE', '`ghost`', () => ctx({ signatures: [signed(body, 'lena', 'a'), ghost()] })],
    ['an agent signing', 'O5_NOT_ELIGIBLE', '`payments-copilot`', () => ctx({ signatures: [signed(body, 'payments-copilot', 'a'), signed(body, 'fatima', 'b', { surface: 'approver-console' })], steps: [{ ...restart, agent: 'other-bot' }] })],
    ['a signer without the seat’s role', 'O5_NOT_ELIGIBLE', '`sam`', () => ctx({ signatures: [signed(body, 'lena', 'a'), signed(body, 'sam', 'b', { surface: 'approver-console' })] })],
    ['a signature through the request’s own surface', 'O5_NOT_ELIGIBLE', '`copilot-console`', () => ctx({ signatures: [signed(body, 'lena', 'a', { surface: 'copilot-console' }), signed(body, 'fatima', 'b', { surface: 'approver-console' })] })],
    ['an action without a contract', 'O5_NOT_ELIGIBLE', '`workers.make_it_so`', () => ctx({ steps: [unknownAction] }, unlisted)],
    ['an action never overridable', 'O5_NOT_ELIGIBLE', '`queue.clear_shard`', () => ctx({}, neverOverridable)],
    ['an acknowledgement of the wrong gate', 'O6_GATE_ACK_MISMATCH', '`hold_1`', () => ctx({}, { ...body, trip_gate_ack: 'K1' })],
    ['a spent budget', 'O8_BUDGET_EXHAUSTED', '`prod`', () => ctx({ past_overrides: spent })],
  ];
  it.each(cases)('%s: %s names %s', (_label, code, subject, make) => {
    expect(findings(make())).toContainEqual({ code, detail: expect.stringContaining(subject) });
  });
});

describe('checkLeaseUse', () => {
  // Granted inside each test, not at collection: a gate that breaks must fail a test, not the file.
  const granted = (): OverrideLease => {
    const r = evaluateOverride(ctx());
    if (!r.ok) throw new Error(`fixture lease must be granted, got ${r.codes.join(', ')}`);
    return r.lease;
  };

  it('lets a listed step run once inside the window, from its first millisecond', () => {
    const lease = granted();
    expect(checkLeaseUse(lease, lease.valid_from_ms, restart.digest)).toEqual({ ok: true });
    expect(checkLeaseUse(lease, NOW + 60_000, restart.digest)).toEqual({ ok: true });
    expect(checkLeaseUse(lease, NOW + 60_000, restart.digest, { used: [restart.digest], revoked: false })).toEqual({ ok: false, code: 'LEASE_STEP_USED', incident_flag: false });
  });

  it('treats use outside the window as a clock breach flagged for incident review', () => {
    const lease = granted();
    expect(checkLeaseUse(lease, lease.valid_to_ms - 1, restart.digest)).toEqual({ ok: true });
    expect(checkLeaseUse(lease, lease.valid_to_ms, restart.digest)).toEqual({ ok: false, code: 'O3_CLOCK_BREACH', incident_flag: true });
    expect(checkLeaseUse(lease, NOW - 1, restart.digest)).toEqual({ ok: false, code: 'O3_CLOCK_BREACH', incident_flag: true });
  });

  it('refuses a step the lease does not list, and any step once revoked, without an incident flag', () => {
    const lease = granted();
    expect(checkLeaseUse(lease, NOW + 1, clear.digest)).toEqual({ ok: false, code: 'O2_SCOPE_CREEP', incident_flag: false });
    expect(checkLeaseUse(lease, NOW + 1, restart.digest, { used: [], revoked: true })).toEqual({ ok: false, code: 'LEASE_REVOKED', incident_flag: false });
  });
});
