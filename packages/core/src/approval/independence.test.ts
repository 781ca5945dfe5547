import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { APPROVAL_CHECK_ORDER, type ApprovalRejectionCode } from '../authority/codes.js';
import { buildRoster } from '../policy/roster.js';
import type { Principal } from '../policy/schema.js';
import {
  evaluateApproval,
  type AcceptedApproval,
  type ApprovalContext,
  type ApprovalRequirementSpec,
  type ApprovalRequestState,
  type IncomingApproval,
} from './independence.js';
import type { ApprovalStatement } from './statement.js';

// The payments roster of examples/payments/policy.yaml, reporting lines included:
// olivia -> lena -> priya, omar -> leo -> priya; fatima and sam outside.
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

const DIGEST = `sha256:${'d'.repeat(64)}`;
const BUNDLE = 'sha256:bundle1';
const NOW = Date.parse('2025-06-01T10:05:00.000Z');

// critical: an incident lead AND a payments owner or finance delegate, both with a key
const critical: ApprovalRequirementSpec = {
  quorum: [{ roles: ['incident-lead'], count: 1 }, { roles: ['payments-owner', 'finance-delegate'], count: 1 }],
  surfaces: ['signed-cli', 'approver-console'],
  attestation: 'key',
};

const request: ApprovalRequestState = {
  id: 'req_1',
  step_digest: DIGEST,
  bundle_id: BUNDLE,
  status: 'open',
  expires_at: '2025-06-01T10:15:00.000Z',
  agent: 'payments-copilot',
  on_behalf_of: 'omar',
  surface: 'copilot-console',
  credential_ids: ['cred-copilot'],
};

function incoming(approver: string, over: Partial<ApprovalStatement> = {}, extra: Partial<IncomingApproval> = {}): IncomingApproval {
  const statement: ApprovalStatement = {
    request: 'req_1',
    step_digest: DIGEST,
    bundle_id: BUNDLE,
    decision: 'approve',
    approver,
    surface: 'signed-cli',
    reason: 'ok',
    signed_at: '2025-06-01T10:04:00.000Z',
    ...over,
  };
  return {
    statement,
    attestation: 'key',
    signature_verified: true,
    credential: { id: `cred-${approver}`, principal: approver, surface: statement.surface },
    ...extra,
  };
}

function ctx(inc: IncomingApproval, over: Partial<ApprovalContext> = {}): ApprovalContext {
  return { requirement: critical, request, roster, accepted: [], active_bundle_id: BUNDLE, now: NOW, incoming: inc, ...over };
}

const codeOf = (c: ApprovalContext): string => {
  const r = evaluateApproval(c);
  return r.ok ? 'ok' : r.code;
};

describe('evaluateApproval', () => {
  it('counts an independent lead, then meets quorum with an independent finance delegate', () => {
    // leo reports to priya, not to omar: leo is independent of omar even though omar reports to leo
    const first = evaluateApproval(ctx(incoming('lena')));
    expect(first).toMatchObject({ ok: true, decision: 'approve', counted_for: [0], quorum_met: false, closes: false });
    const accepted: AcceptedApproval[] = [{ approver: 'lena', surface: 'signed-cli', credential_id: 'cred-lena' }];
    const second = evaluateApproval(ctx(incoming('fatima', { surface: 'approver-console' }), { accepted }));
    expect(second).toMatchObject({ ok: true, counted_for: [1], quorum_met: true, closes: true, remaining: [] });
  });

  const cases: [ApprovalRejectionCode, ApprovalContext][] = [
    ['REQUEST_CLOSED', ctx(incoming('lena'), { request: { ...request, status: 'closed' } })],
    ['REQUEST_EXPIRED', ctx(incoming('lena'), { now: Date.parse(request.expires_at) })],
    ['REQUEST_EXPIRED', ctx(incoming('lena'), { request: { ...request, expires_at: 'soon' } })],
    ['ATTESTATION_REQUIRED', ctx(incoming('lena', {}, { attestation: 'gateway' }))],
    ['BAD_SIGNATURE', ctx(incoming('lena', {}, { signature_verified: false }))],
    ['BAD_SIGNATURE', ctx(incoming('lena', {}, { attestation: 'gateway', signature_verified: false }), { requirement: { ...critical, attestation: 'any' } })],
    ['STATEMENT_MISMATCH', ctx(incoming('lena', { request: 'req_2' }))],
    ['STATEMENT_MISMATCH', ctx(incoming('lena', {}, { credential: { id: 'cred-sam', principal: 'sam', surface: 'signed-cli' } }))],
    ['STATEMENT_MISMATCH', ctx(incoming('lena', {}, { credential: { id: 'cred-lena', principal: 'lena', surface: 'approver-console' } }))],
    ['BUNDLE_CHANGED', ctx(incoming('lena', { bundle_id: 'sha256:bundle2' }))],
    ['BUNDLE_CHANGED', ctx(incoming('lena'), { active_bundle_id: 'sha256:bundle2' })],
    ['DIGEST_MISMATCH', ctx(incoming('lena', { step_digest: `sha256:${'e'.repeat(64)}` }))],
    ['UNKNOWN_APPROVER', ctx(incoming('mallory'))],
    ['AGENT_CANNOT_APPROVE', ctx(incoming('payments-copilot'), { request: { ...request, agent: 'other-bot' } })],
    ['AGENT_CANNOT_APPROVE', ctx(incoming('alerting'))],
    ['SELF_APPROVAL', ctx(incoming('omar'), { requirement: { ...critical, quorum: [{ roles: ['oncall-operator'], count: 1 }] } })],
    ['SELF_APPROVAL', ctx(incoming('lena'), { request: { ...request, on_behalf_of: 'lena' } })],
    ['DUPLICATE_APPROVER', ctx(incoming('lena', {}, { credential: { id: 'cred-lena-2', principal: 'lena', surface: 'signed-cli' } }), { accepted: [{ approver: 'lena', surface: 'signed-cli', credential_id: 'cred-lena' }] })],
    ['REPORTS_TO_REQUESTER', ctx(incoming('lena'), { request: { ...request, on_behalf_of: 'priya' } })],
    // olivia -> lena -> priya: transitive
    ['REPORTS_TO_REQUESTER', ctx(incoming('olivia'), { request: { ...request, on_behalf_of: 'priya' }, requirement: { ...critical, quorum: [{ roles: ['oncall-operator'], count: 1 }] } })],
    ['REPORTS_TO_REQUESTER', ctx(incoming('lena'), { request: { ...request, on_behalf_of: 'someone-unknown' } })],
    ['SURFACE_NOT_ALLOWED', ctx(incoming('lena', { surface: 'webhook' }))],
    ['SURFACE_NOT_ALLOWED', ctx(incoming('lena', { surface: 'approver-console' }), { request: { ...request, surface: 'approver-console' } })],
    ['SURFACE_NOT_ALLOWED', ctx(incoming('lena'), { requirement: { ...critical, surfaces: [] } })],
    ['CREDENTIAL_REUSED', ctx(incoming('lena', {}, { credential: { id: 'cred-copilot', principal: 'lena', surface: 'signed-cli' } }))],
    ['CREDENTIAL_REUSED', ctx(incoming('fatima', {}, { credential: { id: 'cred-lena', principal: 'fatima', surface: 'signed-cli' } }), { accepted: [{ approver: 'lena', surface: 'signed-cli', credential_id: 'cred-lena' }] })],
    ['ROLE_NOT_ELIGIBLE', ctx(incoming('sam'))],
    // the lead factor is full and the first lead cannot move: a second lead fills nothing
    ['ROLE_NOT_ELIGIBLE', ctx(incoming('leo'), { accepted: [{ approver: 'lena', surface: 'signed-cli', credential_id: 'cred-lena' }] })],
    ['ROLE_NOT_ELIGIBLE', ctx(incoming('sam', { decision: 'deny' }))],
  ];
  it.each(cases)('refuses with %s', (code, c) => {
    expect(codeOf(c)).toBe(code);
  });

  it('provokes every approval code', () => {
    expect(new Set(cases.map(([code]) => code))).toEqual(new Set(APPROVAL_CHECK_ORDER));
  });

  it('checks in the documented order: state before binding before identity before channel before role', () => {
    const everything = incoming('payments-copilot', { step_digest: `sha256:${'e'.repeat(64)}`, surface: 'copilot-console' }, { signature_verified: false });
    expect(codeOf(ctx(everything, { request: { ...request, status: 'closed' } }))).toBe('REQUEST_CLOSED');
    expect(codeOf(ctx(everything))).toBe('BAD_SIGNATURE');
    expect(codeOf(ctx({ ...everything, signature_verified: true }))).toBe('DIGEST_MISMATCH');
    expect(codeOf(ctx(incoming('payments-copilot', { surface: 'copilot-console' })))).toBe('AGENT_CANNOT_APPROVE');
    expect(codeOf(ctx(incoming('sam', { surface: 'copilot-console' })))).toBe('SURFACE_NOT_ALLOWED');
  });

  it('lets a dual-role approver be moved to the other factor so a second lead still counts', () => {
    const dual = buildRoster({ principals: [p('bot', ['agent'], undefined, 'agent'), p('req', []), p('x', ['incident-lead', 'payments-owner']), p('y', ['incident-lead'])] });
    const r = { ...request, agent: 'bot', on_behalf_of: 'req' };
    const accepted: AcceptedApproval[] = [{ approver: 'x', surface: 'signed-cli', credential_id: 'cred-x' }];
    const res = evaluateApproval(ctx(incoming('y'), { roster: dual, request: r, accepted }));
    expect(res).toMatchObject({ ok: true, counted_for: [0], quorum_met: true });
    if (res.ok) expect(res.seats).toEqual([{ approver: 'x', factor: 1 }, { approver: 'y', factor: 0 }]);
  });

  it('closes the request on a denial by an eligible approver, even of a factor already filled', () => {
    const accepted: AcceptedApproval[] = [{ approver: 'lena', surface: 'signed-cli', credential_id: 'cred-lena' }];
    const res = evaluateApproval(ctx(incoming('leo', { decision: 'deny' }), { accepted }));
    expect(res).toMatchObject({ ok: true, decision: 'deny', closes: true, quorum_met: false, counted_for: [] });
    // the quorum as the denial leaves it: lena seated, the second factor still short
    expect(res).toMatchObject({ seats: [{ approver: 'lena', factor: 0 }], remaining: [{ factor: 1, needed: 1 }] });
  });

  it('refuses an approval for a step whose quorum has no factor: nobody can fill it', () => {
    expect(codeOf(ctx(incoming('lena'), { requirement: { ...critical, quorum: [] } }))).toBe('ROLE_NOT_ELIGIBLE');
  });

  it('accepts gateway attestation when the class allows any', () => {
    const res = evaluateApproval(ctx(incoming('lena', {}, { attestation: 'gateway' }), { requirement: { ...critical, attestation: 'any' } }));
    expect(res.ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// Property: no approval set that breaks an independence rule ever reaches quorum.

const ROLES = ['r0', 'r1', 'r2', 'r3'];
const SURFACES = ['s0', 's1', 's2', 's3'];
const CREDS = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7'];

const principalArb = fc.record({
  kind: fc.constantFrom<Principal['kind']>('human', 'human', 'human', 'agent', 'service'),
  roles: fc.subarray(ROLES),
  parent: fc.option(fc.nat(), { nil: undefined, freq: 2 }),
});

const scenarioArb = fc
  .record({
    people: fc.array(principalArb, { minLength: 3, maxLength: 8 }),
    factors: fc.array(fc.record({ roles: fc.subarray(ROLES, { minLength: 1 }), count: fc.integer({ min: 1, max: 3 }).map((c) => (c === 3 ? 2 : 1)) }), { minLength: 1, maxLength: 3 }),
    allowed: fc.subarray(SURFACES, { minLength: 1 }),
    attestation: fc.constantFrom<'key' | 'any'>('key', 'any'),
    agent: fc.nat(),
    onBehalfOf: fc.nat(),
    requestSurface: fc.constantFrom(...SURFACES),
    proposerCreds: fc.subarray(CREDS, { maxLength: 2 }),
    steps: fc.array(
      fc.record({
        approver: fc.nat(),
        // usually the approver's own credential; sometimes someone else's
        claimedAs: fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat() }),
        surface: fc.constantFrom(...SURFACES),
        // mostly a fresh credential, sometimes one already seen (the proposer's or an approver's)
        credential: fc.option(fc.constantFrom(...CREDS), { nil: undefined, freq: 2 }),
        attestation: fc.constantFrom<'key' | 'gateway'>('key', 'key', 'gateway'),
        verified: fc.boolean(),
        deny: fc.boolean(),
        wrongDigest: fc.boolean(),
        wrongBundle: fc.boolean(),
      }),
      { minLength: 4, maxLength: 24 },
    ),
  })
  .map((s) => ({ ...s, steps: s.steps.map((st) => ({ ...st, verified: st.verified || st.approver % 3 !== 0, deny: st.deny && st.approver % 7 === 0, wrongDigest: st.wrongDigest && st.approver % 4 === 0, wrongBundle: st.wrongBundle && st.approver % 4 === 1 })) }));

describe('independence property', () => {
  it('no set of approvals that breaks an independence rule reaches quorum, and every valid set that can does', () => {
    let quorums = 0;
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const n = s.people.length;
        const id = (i: number): string => `u${i % n}`;
        const parent = s.people.map((x, i) => (x.parent === undefined || i === 0 ? undefined : x.parent % i));
        const principals = s.people.map((x, i) => p(`u${i}`, x.roles, parent[i] === undefined ? undefined : `u${parent[i]}`, x.kind));
        const r = buildRoster({ principals });
        // independent oracle: walk the declared parents
        const reports = (a: number, b: number): boolean => {
          for (let cur = parent[a]; cur !== undefined; cur = parent[cur]) if (cur === b) return true;
          return false;
        };
        const req: ApprovalRequestState = {
          ...request,
          agent: id(s.agent),
          on_behalf_of: id(s.onBehalfOf),
          surface: s.requestSurface,
          credential_ids: s.proposerCreds,
        };
        const requirement: ApprovalRequirementSpec = { quorum: s.factors, surfaces: s.allowed, attestation: s.attestation };
        let status: 'open' | 'closed' = 'open';
        const accepted: (AcceptedApproval & { index: number; attestation: 'key' | 'gateway' })[] = [];

        for (const [k, st] of s.steps.entries()) {
          const credential = st.credential ?? `fresh-${k}`;
          const approverIdx = st.approver % n;
          const statement: ApprovalStatement = {
            request: req.id,
            step_digest: st.wrongDigest ? `sha256:${'0'.repeat(64)}` : DIGEST,
            bundle_id: st.wrongBundle ? 'sha256:other' : BUNDLE,
            decision: st.deny ? 'deny' : 'approve',
            approver: id(approverIdx),
            surface: st.surface,
            reason: '',
            signed_at: '2025-06-01T10:00:00Z',
          };
          const res = evaluateApproval({
            requirement,
            request: { ...req, status, credential_ids: [...req.credential_ids, ...accepted.map((a) => a.credential_id)] },
            roster: r,
            accepted,
            active_bundle_id: BUNDLE,
            now: NOW,
            incoming: {
              statement,
              attestation: st.attestation,
              signature_verified: st.verified,
              credential: { id: credential, principal: st.claimedAs === undefined ? id(approverIdx) : id(st.claimedAs), surface: st.surface },
            },
          });
          if (!res.ok) continue;
          expect(status).toBe('open');
          if (res.decision === 'deny') {
            expect(res.closes).toBe(true);
            status = 'closed';
            continue;
          }
          accepted.push({ approver: statement.approver, surface: st.surface, credential_id: credential, index: approverIdx, attestation: st.attestation });

          // soundness: every accepted approval is independent
          const people = accepted.map((a) => a.index);
          expect(new Set(people).size).toBe(people.length);
          expect(new Set(accepted.map((a) => a.credential_id)).size).toBe(accepted.length);
          for (const a of accepted) {
            expect(s.people[a.index]!.kind).toBe('human');
            expect(a.approver).not.toBe(req.agent);
            expect(a.approver).not.toBe(req.on_behalf_of);
            expect(reports(a.index, s.onBehalfOf % n)).toBe(false);
            expect(reports(a.index, s.agent % n)).toBe(false);
            expect(s.allowed).toContain(a.surface);
            expect(a.surface).not.toBe(req.surface);
            expect(req.credential_ids).not.toContain(a.credential_id);
            if (s.attestation === 'key') expect(a.attestation).toBe('key');
          }
          // one person, one factor: the seats are a valid assignment
          expect(new Set(res.seats.map((x) => x.approver)).size).toBe(res.seats.length);
          for (const seat of res.seats) {
            const roles = s.people[Number(seat.approver.slice(1))]!.roles;
            expect(s.factors[seat.factor]!.roles.some((role) => roles.includes(role))).toBe(true);
          }
          s.factors.forEach((f, k) => expect(res.seats.filter((x) => x.factor === k).length).toBeLessThanOrEqual(f.count));
          // quorum_met agrees with an exhaustive search over assignments
          expect(res.quorum_met).toBe(canFill(s.factors, people.map((i) => s.people[i]!.roles)));
          if (res.quorum_met) {
            quorums += 1;
            s.factors.forEach((f, k) => expect(res.seats.filter((x) => x.factor === k).length).toBe(f.count));
            status = 'closed';
          }
        }
      }),
      { numRuns: 3_000 },
    );
    // the property is not vacuous: quorum was reached in many generated scenarios
    expect(quorums).toBeGreaterThan(100);
  });
});

function canFill(factors: readonly { roles: readonly string[]; count: number }[], people: readonly (readonly string[])[]): boolean {
  const slots = factors.flatMap((f) => Array.from({ length: f.count }, () => f.roles));
  const used = new Set<number>();
  const fill = (k: number): boolean => {
    if (k === slots.length) return true;
    for (let i = 0; i < people.length; i += 1) {
      if (used.has(i) || !slots[k]!.some((role) => people[i]!.includes(role))) continue;
      used.add(i);
      if (fill(k + 1)) return true;
      used.delete(i);
    }
    return false;
  };
  return fill(0);
}
