import type { ApprovalRejectionCode } from '../authority/codes.js';
import { parseUtc } from '../authority/nfc.js';
import type { Roster } from '../policy/roster.js';
import { assignQuorum, type QuorumFactorSpec, type QuorumSeat, type QuorumShortfall, type QuorumState } from './quorum.js';
import { isOwnKey, type ApprovalAttestation, type ApprovalStatement } from './statement.js';

/** What the compiled policy demands of approvals for one step (a subset of the schema's ApprovalRequirement). */
export interface ApprovalRequirementSpec {
  readonly quorum: readonly QuorumFactorSpec[];
  /** Surfaces approvals may arrive through. Empty allows none: fail closed. */
  readonly surfaces: readonly string[];
  readonly attestation: 'key' | 'any';
}

/** The approval request as the gateway holds it. */
export interface ApprovalRequestState {
  readonly id: string;
  readonly step_digest: string;
  readonly bundle_id: string;
  readonly status: 'open' | 'closed';
  /** RFC 3339 UTC; an unreadable value counts as expired. */
  readonly expires_at: string;
  /** The agent that proposed the step. */
  readonly agent: string;
  /** The principal the agent acts for: the requester. */
  readonly on_behalf_of: string;
  /** Surface the proposal came through. */
  readonly surface: string;
  /** Credentials that took part in the request: the proposer's, and every accepted approver's. */
  readonly credential_ids: readonly string[];
}

/** An approval already counted for this request. */
export interface AcceptedApproval {
  readonly approver: string;
  readonly surface: string;
  readonly credential_id: string;
}

/** The authenticated call that delivered the statement. */
export interface DeliveringCredential {
  readonly id: string;
  readonly principal: string;
  readonly surface: string;
}

export interface IncomingApproval {
  readonly statement: ApprovalStatement;
  readonly attestation: ApprovalAttestation['kind'];
  /** Outcome of `verifyApprovalAttestation`; the caller verifies, this rule only refuses. */
  readonly signature_verified: boolean;
  readonly credential: DeliveringCredential;
}

export interface ApprovalContext {
  readonly requirement: ApprovalRequirementSpec;
  readonly request: ApprovalRequestState;
  readonly roster: Roster;
  readonly accepted: readonly AcceptedApproval[];
  readonly active_bundle_id: string;
  /** Milliseconds since the epoch, from the injected clock. */
  readonly now: number;
  readonly incoming: IncomingApproval;
}

export type ApprovalEvaluation =
  | {
      readonly ok: true;
      readonly decision: 'approve' | 'deny';
      /** Factor indexes the incoming approver fills (one at most: one approver, one factor). */
      readonly counted_for: readonly number[];
      readonly quorum_met: boolean;
      /** The request closes: quorum met, or an eligible approver denied. */
      readonly closes: boolean;
      readonly seats: readonly QuorumSeat[];
      readonly remaining: readonly QuorumShortfall[];
    }
  | { readonly ok: false; readonly code: ApprovalRejectionCode };

const refuse = (code: ApprovalRejectionCode): ApprovalEvaluation => ({ ok: false, code });

/** Everything the rules read except a statement: the request, the policy's demands, who already approved, and when. */
export type ApprovalSubject = Omit<ApprovalContext, 'incoming'>;

/** Whether a principal, calling through one credential, may approve (or deny) a request now, and every rule that says no. */
export interface ApprovalEligibility {
  readonly eligible: boolean;
  /** Every failing check, in APPROVAL_CHECK_ORDER; empty exactly when `eligible`. */
  readonly reasons: readonly ApprovalRejectionCode[];
}

/** Check 1: the request can still take a decision. */
function liveness(request: ApprovalRequestState, now: number): ApprovalRejectionCode | null {
  if (request.status !== 'open') return 'REQUEST_CLOSED';
  const expiresAt = parseUtc(request.expires_at);
  if (!(now < expiresAt)) return 'REQUEST_EXPIRED';
  return null;
}

/** The request was opened under the bundle in force: approvals under any other are void. */
function bundleInForce(subject: ApprovalSubject): boolean {
  return subject.request.bundle_id === subject.active_bundle_id;
}

interface Standing {
  /** Every failing check of 3 to 5, in order. */
  readonly reasons: ApprovalRejectionCode[];
  readonly before: QuorumState;
  /** The quorum with this approver counted; null for a denial or when they are not a known human. */
  readonly after: QuorumState | null;
}

/**
 * Checks 3 to 5 (identity, channel, role) for the principal behind
 * `credential`: every one that fails, in order, so that the first is the code
 * `evaluateApproval` returns and the rest are what an inbox shows. A principal
 * who is unknown or not human has no further checks: nothing else applies.
 */
function standing(subject: ApprovalSubject, credential: DeliveringCredential, decision: 'approve' | 'deny'): Standing {
  const { requirement, request, roster, accepted } = subject;
  const reasons: ApprovalRejectionCode[] = [];
  const hasRole = (principal: string, role: string): boolean => roster.hasRole(principal, role);
  const before = assignQuorum(requirement.quorum, accepted.map((a) => a.approver), hasRole);

  const approver = roster.get(credential.principal);
  if (!approver) return { reasons: ['UNKNOWN_APPROVER'], before, after: null };
  // INVARIANT 1: proposal is not authority. Services are automation, not
  // people, so they cannot be one of "two different people" either.
  if (approver.kind !== 'human') return { reasons: ['AGENT_CANNOT_APPROVE'], before, after: null };
  if (approver.id === request.agent || approver.id === request.on_behalf_of) reasons.push('SELF_APPROVAL');
  if (accepted.some((a) => a.approver === approver.id)) reasons.push('DUPLICATE_APPROVER');
  // A requester missing from the roster has reporting lines nobody can check: fail closed.
  if (
    !roster.get(request.on_behalf_of) ||
    roster.reportsTo(approver.id, request.on_behalf_of) ||
    roster.reportsTo(approver.id, request.agent)
  ) {
    reasons.push('REPORTS_TO_REQUESTER');
  }

  if (!requirement.surfaces.includes(credential.surface) || credential.surface === request.surface) reasons.push('SURFACE_NOT_ALLOWED');
  if (request.credential_ids.includes(credential.id) || accepted.some((a) => a.credential_id === credential.id)) {
    reasons.push('CREDENTIAL_REUSED');
  }

  if (decision === 'deny') {
    const qualified = requirement.quorum.some((f) => f.roles.some((role) => hasRole(approver.id, role)));
    if (!qualified) reasons.push('ROLE_NOT_ELIGIBLE');
    return { reasons, before, after: null };
  }
  if (requirement.quorum.length === 0) return { reasons: [...reasons, 'ROLE_NOT_ELIGIBLE'], before, after: null };
  // Counted against the others only: an approver already counted (refused
  // above as a duplicate) is judged on their role as if arriving now.
  const others = accepted.filter((a) => a.approver !== approver.id).map((a) => a.approver);
  const without = assignQuorum(requirement.quorum, others, hasRole);
  const after = assignQuorum(requirement.quorum, [...others, approver.id], hasRole);
  // Eligible means: counting this approver fills a seat no assignment of the
  // others could fill. Holding a role of a factor that is already full, when
  // nobody can be moved to make room, does not count.
  if (after.seats.length <= without.seats.length) reasons.push('ROLE_NOT_ELIGIBLE');
  return { reasons, before, after };
}

/**
 * May the principal behind `credential` decide this request now, and if not,
 * why: the checks of `evaluateApproval` that do not read a statement (1, the
 * request's own bundle from 2, then 3 to 5), all of them, for an inbox or a
 * pre-check. The attestation and the signature belong to a statement and are
 * judged when one arrives; a statement signed for this request, by this
 * principal, through this credential's surface passes the rest of check 2.
 */
export function approvalEligibility(subject: ApprovalSubject, credential: DeliveringCredential, decision: 'approve' | 'deny'): ApprovalEligibility {
  const reasons: ApprovalRejectionCode[] = [];
  const live = liveness(subject.request, subject.now);
  if (live !== null) reasons.push(live);
  if (!bundleInForce(subject)) reasons.push('BUNDLE_CHANGED');
  reasons.push(...standing(subject, credential, decision).reasons);
  return { eligible: reasons.length === 0, reasons };
}

/**
 * Decide whether one approval or denial statement counts toward a request,
 * DESIGN.md invariant 4 ("two keys are two independent authorities"). Returns
 * data, never throws to refuse. Checks run in a fixed order and the first
 * failure names the code (APPROVAL_CHECK_ORDER in authority/codes.ts):
 *
 * 1. state: the request is still open and not expired;
 * 2. binding: attestation strong enough, signature verified, statement names
 *    this request and the caller's own principal and surface, same bundle
 *    (statement, request and active), same step digest;
 * 3. identity: a known human, not the agent or its principal, not already
 *    counted, not reporting (transitively) to the requester or the agent;
 * 4. channel: an allowed surface other than the request's, a credential that
 *    played no part in the request;
 * 5. role: for an approval, it must enlarge the best assignment of approvers
 *    to factors; for a denial, it must hold a role of some factor.
 *
 * Checks 1 and 3 to 5 are the ones `approvalEligibility` reports in full.
 */
export function evaluateApproval(ctx: ApprovalContext): ApprovalEvaluation {
  const { request, incoming } = ctx;
  const stmt = incoming.statement;

  const live = liveness(request, ctx.now);
  if (live !== null) return refuse(live);

  // a roster key and a registered passkey are both the approver's own key
  if (ctx.requirement.attestation === 'key' && !isOwnKey(incoming.attestation)) return refuse('ATTESTATION_REQUIRED');
  if (!incoming.signature_verified) return refuse('BAD_SIGNATURE');
  if (
    stmt.request !== request.id ||
    stmt.approver !== incoming.credential.principal ||
    stmt.surface !== incoming.credential.surface
  ) {
    return refuse('STATEMENT_MISMATCH');
  }
  if (!bundleInForce(ctx) || stmt.bundle_id !== request.bundle_id) return refuse('BUNDLE_CHANGED');
  if (stmt.step_digest !== request.step_digest) return refuse('DIGEST_MISMATCH');

  // the statement names the credential's own principal and surface (checked above)
  const judged = standing(ctx, incoming.credential, stmt.decision);
  const first = judged.reasons[0];
  if (first !== undefined) return refuse(first);

  if (stmt.decision === 'deny') {
    return { ok: true, decision: 'deny', counted_for: [], quorum_met: false, closes: true, seats: judged.before.seats, remaining: judged.before.remaining };
  }
  const after = judged.after;
  // unreachable: an approval that passed every check was counted; fail closed all the same
  if (after === null) return refuse('ROLE_NOT_ELIGIBLE');
  const seat = after.seats.find((s) => s.approver === stmt.approver);
  return {
    ok: true,
    decision: 'approve',
    counted_for: seat ? [seat.factor] : [],
    quorum_met: after.met,
    closes: after.met,
    seats: after.seats,
    remaining: after.remaining,
  };
}
