import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { APPROVAL_CHECK_ORDER } from '../authority/codes.js';
import { buildRoster } from '../policy/roster.js';
import type { Principal } from '../policy/schema.js';
import { approvalEligibility, evaluateApproval, type AcceptedApproval, type ApprovalRequirementSpec, type ApprovalSubject, type DeliveringCredential } from './independence.js';

/**
 * `approvalEligibility` is what an inbox shows: may this principal, through
 * this credential, decide the request now, and every reason why not. It must
 * say exactly what `evaluateApproval` would answer to a well-formed statement
 * from the same credential, and list the reasons in check order.
 */

// The payments roster of examples/payments/policy.yaml: olivia -> lena -> priya, omar -> leo -> priya.
const p = (id: string, roles: string[], reports_to?: string, kind: Principal['kind'] = 'human'): Principal => ({
  id,
  kind,
  roles,
  keys: [],
  ...(reports_to ? { reports_to } : {}),
});
const roster = buildRoster({
  principals: [
    p('payments-copilot', ['agent'], undefined, 'agent'),
    p('alerting', ['incident-lead'], undefined, 'service'),
    p('olivia', ['oncall-operator'], 'lena'),
    p('omar', ['oncall-operator'], 'leo'),
    p('lena', ['incident-lead'], 'priya'),
    p('leo', ['incident-lead'], 'priya'),
    p('priya', ['payments-owner']),
    p('fatima', ['finance-delegate']),
    p('sam', ['sre']),
  ],
});
const PEOPLE = ['payments-copilot', 'alerting', 'olivia', 'omar', 'lena', 'leo', 'priya', 'fatima', 'sam', 'mallory'];
const SURFACES = ['copilot-console', 'approver-console', 'signed-cli', 'webhook'];
const DIGEST = `sha256:${'d'.repeat(64)}`;
const BUNDLE = 'sha256:bundle1';
const NOW = Date.parse('2025-06-01T10:05:00.000Z');

const critical: ApprovalRequirementSpec = {
  quorum: [{ roles: ['incident-lead'], count: 1 }, { roles: ['payments-owner', 'finance-delegate'], count: 1 }],
  surfaces: ['signed-cli', 'approver-console'],
  attestation: 'key',
};

function subject(over: Partial<ApprovalSubject> = {}): ApprovalSubject {
  return {
    requirement: critical,
    request: {
      id: 'req_1',
      step_digest: DIGEST,
      bundle_id: BUNDLE,
      status: 'open',
      expires_at: '2025-06-01T10:15:00.000Z',
      agent: 'payments-copilot',
      on_behalf_of: 'omar',
      surface: 'copilot-console',
      credential_ids: ['cred-copilot'],
    },
    roster,
    accepted: [],
    active_bundle_id: BUNDLE,
    now: NOW,
    ...over,
  };
}

const cred = (principal: string, surface = 'signed-cli', id = `cred-${principal}`): DeliveringCredential => ({ id, principal, surface });

/** What `evaluateApproval` says of a statement that is well formed, signed and bound to the request. */
function evaluated(s: ApprovalSubject, credential: DeliveringCredential, decision: 'approve' | 'deny') {
  return evaluateApproval({
    ...s,
    incoming: {
      statement: { request: s.request.id, step_digest: s.request.step_digest, bundle_id: s.request.bundle_id, decision, approver: credential.principal, surface: credential.surface, reason: 'ok', signed_at: '2025-06-01T10:04:00.000Z' },
      attestation: 'key',
      signature_verified: true,
      credential,
    },
  });
}

describe('approvalEligibility', () => {
  it('lets an independent lead approve through an allowed surface', () => {
    expect(approvalEligibility(subject(), cred('lena'), 'approve')).toEqual({ eligible: true, reasons: [] });
  });

  it('lists every reason, in check order, not only the first', () => {
    // the requester, through the request's own surface, with a credential of the request, after the window
    const s = subject({ now: Date.parse('2025-06-01T11:00:00.000Z'), requirement: { ...critical, quorum: [{ roles: ['oncall-operator'], count: 1 }] } });
    expect(approvalEligibility(s, cred('omar', 'copilot-console', 'cred-copilot'), 'approve').reasons).toEqual([
      'REQUEST_EXPIRED',
      'SELF_APPROVAL',
      'SURFACE_NOT_ALLOWED',
      'CREDENTIAL_REUSED',
    ]);
    expect(approvalEligibility(subject({ active_bundle_id: 'sha256:bundle2' }), cred('sam'), 'approve').reasons).toEqual(['BUNDLE_CHANGED', 'ROLE_NOT_ELIGIBLE']);
  });

  it('says an approver already counted has signed, not that their role no longer fits', () => {
    const accepted: AcceptedApproval[] = [{ approver: 'lena', surface: 'signed-cli', credential_id: 'cred-lena' }];
    expect(approvalEligibility(subject({ accepted }), cred('lena', 'approver-console', 'cred-lena-2'), 'approve').reasons).toEqual(['DUPLICATE_APPROVER']);
  });

  it('says nobody may approve a step whose quorum has no factor, with every other reason', () => {
    const none = { ...critical, quorum: [] };
    expect(approvalEligibility(subject({ requirement: none }), cred('lena'), 'approve').reasons).toEqual(['ROLE_NOT_ELIGIBLE']);
    expect(approvalEligibility(subject({ requirement: none }), cred('lena', 'webhook'), 'approve').reasons).toEqual(['SURFACE_NOT_ALLOWED', 'ROLE_NOT_ELIGIBLE']);
  });

  it('stops at an unknown or non-human principal: nothing else applies to them', () => {
    expect(approvalEligibility(subject(), cred('mallory', 'webhook'), 'approve').reasons).toEqual(['UNKNOWN_APPROVER']);
    expect(approvalEligibility(subject(), cred('alerting', 'webhook'), 'approve').reasons).toEqual(['AGENT_CANNOT_APPROVE']);
  });

  it('agrees with evaluateApproval on every well-formed statement: eligible exactly when accepted, first reason = its code', () => {
    const approval = fc.record({ approver: fc.constantFrom('lena', 'leo', 'priya', 'fatima', 'sam', 'olivia'), surface: fc.constantFrom(...SURFACES), credential: fc.constantFrom('a', 'b', 'c') });
    fc.assert(
      fc.property(
        fc.constantFrom(...PEOPLE),
        fc.constantFrom(...SURFACES),
        fc.constantFrom('cred-x', 'cred-copilot', 'a', 'b'),
        fc.constantFrom('olivia', 'omar', 'lena', 'priya', 'nobody'),
        fc.constantFrom(...SURFACES),
        fc.array(approval, { maxLength: 3 }),
        fc.constantFrom<'open' | 'closed'>('open', 'closed'),
        fc.boolean(),
        fc.boolean(),
        fc.constantFrom<'approve' | 'deny'>('approve', 'deny'),
        (principal, surface, credentialId, onBehalfOf, requestSurface, approvals, status, expired, bundleMoved, decision) => {
          const accepted = approvals.filter((a, i) => approvals.findIndex((b) => b.approver === a.approver) === i).map((a) => ({ approver: a.approver, surface: a.surface, credential_id: a.credential }));
          const base = subject();
          const s = subject({
            request: { ...base.request, on_behalf_of: onBehalfOf, surface: requestSurface, status },
            accepted,
            ...(expired ? { now: Date.parse('2025-06-01T10:15:00.000Z') } : {}),
            ...(bundleMoved ? { active_bundle_id: 'sha256:bundle2' } : {}),
          });
          const credential = cred(principal, surface, credentialId);
          const eligibility = approvalEligibility(s, credential, decision);
          const result = evaluated(s, credential, decision);
          expect(eligibility.eligible).toBe(result.ok);
          expect(eligibility.reasons.length === 0).toBe(eligibility.eligible);
          if (!result.ok) expect(eligibility.reasons[0]).toBe(result.code);
          const order = eligibility.reasons.map((r) => APPROVAL_CHECK_ORDER.indexOf(r));
          expect(order).toEqual([...order].sort((a, b) => a - b));
        },
      ),
      { numRuns: 500 },
    );
  });
});
