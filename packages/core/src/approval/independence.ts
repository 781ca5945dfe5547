import type { ApprovalRejectionCode } from '../authority/codes.js';
import { parseUtc } from '../authority/nfc.js';
import type { Roster } from '../policy/roster.js';
import { assignQuorum, type QuorumFactorSpec, type QuorumSeat, type QuorumShortfall } from './quorum.js';
import type { ApprovalAttestation, ApprovalStatement } from './statement.js';

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
 */
export function evaluateApproval(ctx: ApprovalContext): ApprovalEvaluation {
  const { requirement, request, roster, accepted, incoming } = ctx;
  const stmt = incoming.statement;

  if (request.status !== 'open') return refuse('REQUEST_CLOSED');
  const expiresAt = parseUtc(request.expires_at);
  if (!(ctx.now < expiresAt)) return refuse('REQUEST_EXPIRED');

  if (requirement.attestation === 'key' && incoming.attestation !== 'key') return refuse('ATTESTATION_REQUIRED');
  if (!incoming.signature_verified) return refuse('BAD_SIGNATURE');
  if (
    stmt.request !== request.id ||
    stmt.approver !== incoming.credential.principal ||
    stmt.surface !== incoming.credential.surface
  ) {
    return refuse('STATEMENT_MISMATCH');
  }
  if (request.bundle_id !== ctx.active_bundle_id || stmt.bundle_id !== request.bundle_id) return refuse('BUNDLE_CHANGED');
  if (stmt.step_digest !== request.step_digest) return refuse('DIGEST_MISMATCH');

  const approver = roster.get(stmt.approver);
  if (!approver) return refuse('UNKNOWN_APPROVER');
  // INVARIANT 1: proposal is not authority. Services are automation, not
  // people, so they cannot be one of "two different people" either.
  if (approver.kind !== 'human') return refuse('AGENT_CANNOT_APPROVE');
  if (approver.id === request.agent || approver.id === request.on_behalf_of) return refuse('SELF_APPROVAL');
  if (accepted.some((a) => a.approver === approver.id)) return refuse('DUPLICATE_APPROVER');
  // A requester missing from the roster has reporting lines nobody can check: fail closed.
  if (
    !roster.get(request.on_behalf_of) ||
    roster.reportsTo(approver.id, request.on_behalf_of) ||
    roster.reportsTo(approver.id, request.agent)
  ) {
    return refuse('REPORTS_TO_REQUESTER');
  }

  if (!requirement.surfaces.includes(stmt.surface) || stmt.surface === request.surface) return refuse('SURFACE_NOT_ALLOWED');
  if (
    request.credential_ids.includes(incoming.credential.id) ||
    accepted.some((a) => a.credential_id === incoming.credential.id)
  ) {
    return refuse('CREDENTIAL_REUSED');
  }

  const hasRole = (principal: string, role: string): boolean => roster.hasRole(principal, role);
  const before = assignQuorum(requirement.quorum, accepted.map((a) => a.approver), hasRole);

  if (stmt.decision === 'deny') {
    const qualified = requirement.quorum.some((f) => f.roles.some((role) => hasRole(approver.id, role)));
    if (!qualified) return refuse('ROLE_NOT_ELIGIBLE');
    return { ok: true, decision: 'deny', counted_for: [], quorum_met: false, closes: true, seats: before.seats, remaining: before.remaining };
  }

  if (requirement.quorum.length === 0) return refuse('ROLE_NOT_ELIGIBLE');
  const after = assignQuorum(requirement.quorum, [...accepted.map((a) => a.approver), approver.id], hasRole);
  // Eligible means: counting this approver fills a seat no assignment of the
  // others could fill. Holding a role of a factor that is already full, when
  // nobody can be moved to make room, does not count.
  if (after.seats.length <= before.seats.length) return refuse('ROLE_NOT_ELIGIBLE');
  const seat = after.seats.find((s) => s.approver === approver.id);
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
