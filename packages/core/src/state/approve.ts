import { canonicalDigest } from '../digest.js';
import { approvalEligibility, evaluateApproval, type ApprovalEligibility, type ApprovalSubject, type DeliveringCredential } from '../approval/independence.js';
import type { ApprovalAttestation, ApprovalStatement } from '../approval/statement.js';
import type { CompiledPolicy } from '../policy/compile.js';
import {
  assertActive,
  draftsFor,
  issueGrant,
  refusal,
  rosterOf,
  standingOf,
  type Caller,
  type CommandContext,
  type CommandOutput,
  type Drafts,
  type IssuedGrant,
} from './command.js';
import type { CommandCode } from './codes.js';
import type { AuthorityState, RequestRecord } from './state.js';

/**
 * An approval or a denial of one request (issue 4 §2). The independence rules
 * live in approval/independence.ts; this command records what they said:
 * every refusal as `approval.rejected` with its code, an accepted statement
 * as `approval.accepted`, then `request.approved` and the grant when the
 * quorum is met, or `request.denied` when an eligible approver said no.
 */
export interface ApprovalCommand {
  readonly kind: 'approval';
  readonly caller: Caller;
  /** Validated with `parseStatement`; `decision` says approve or deny. */
  readonly statement: ApprovalStatement;
  readonly attestation: ApprovalAttestation;
  /** Outcome of `verifyApprovalAttestation`, done by the gateway, which holds its own public key. */
  readonly signature_verified: boolean;
}

export interface ApprovalResult {
  readonly ok: true;
  readonly request: string;
  readonly decision: 'approve' | 'deny';
  readonly status: RequestRecord['status'];
  readonly quorum_met: boolean;
  readonly remaining: readonly { readonly factor: number; readonly roles: readonly string[]; readonly needed: number }[];
  readonly grant: IssuedGrant | null;
  readonly awaiting_rollback: boolean;
}

function rejectApproval(d: Drafts, command: ApprovalCommand, request: RequestRecord | undefined, code: CommandCode, message: string): CommandOutput<ApprovalResult> {
  const stmt = command.statement;
  const subjects: Record<string, string> = { request: stmt.request };
  if (request) {
    subjects['step'] = request.step;
    subjects['proposal'] = request.proposal;
  }
  let statementDigest: string | null;
  try {
    statementDigest = canonicalDigest(stmt);
  } catch {
    statementDigest = null;
  }
  d.push('approval.rejected', subjects, {
    request: stmt.request,
    code,
    decision: stmt.decision,
    approver: command.caller.principal,
    surface: command.caller.surface,
    credential: command.caller.credential,
    attestation: command.attestation.kind,
    signature_verified: command.signature_verified,
    statement_digest: statementDigest,
    rule_ids: request ? [...request.rule_ids] : [],
  });
  return { entries: d.list, result: refusal(code, message) };
}

/** DESIGN invariant 1: an agent's credential never approves or denies, whatever it names. */
function isAgent(policy: CompiledPolicy, caller: Caller): boolean {
  return standingOf(policy, caller.principal).kind === 'agent';
}

function credentialOf(caller: Caller): DeliveringCredential {
  return { id: caller.credential, principal: caller.principal, surface: caller.surface };
}

/** What the independence rules read of a request under the bundle in force: everything but a statement. */
function approvalSubject(request: RequestRecord, policy: CompiledPolicy, now: number): ApprovalSubject {
  return {
    requirement: request.requirements,
    request: {
      id: request.id,
      step_digest: request.digest,
      bundle_id: request.bundle_id ?? '',
      status: request.status === 'open' ? 'open' : 'closed',
      expires_at: request.expires_at,
      agent: request.agent,
      on_behalf_of: request.on_behalf_of,
      surface: request.surface,
      credential_ids: request.credentials,
    },
    roster: rosterOf(policy),
    accepted: request.approvals.filter((a) => a.decision === 'approve').map((a) => ({ approver: a.approver, surface: a.surface, credential_id: a.credential })),
    active_bundle_id: policy.bundleId,
    now,
  };
}

/**
 * May `caller` approve `request` now, and if not, every reason why: the rules
 * `approve` enforces (the agent check, then `approvalEligibility`), for an
 * inbox or a pre-check; nothing is recorded. `now` is epoch milliseconds from
 * the caller's clock. Without the bundle in force nothing can be approved:
 * fail closed with BUNDLE_CHANGED.
 */
export function mayApprove(state: AuthorityState, policy: CompiledPolicy | null, caller: Caller, request: RequestRecord, now: number): ApprovalEligibility {
  if (policy === null || state.bundle.bundle_id === null || policy.bundleId !== state.bundle.bundle_id) return { eligible: false, reasons: ['BUNDLE_CHANGED'] };
  if (isAgent(policy, caller)) return { eligible: false, reasons: ['AGENT_CANNOT_APPROVE'] };
  return approvalEligibility(approvalSubject(request, policy, now), credentialOf(caller), 'approve');
}

export function approve(state: AuthorityState, policy: CompiledPolicy | null, given: ApprovalCommand, ctx: CommandContext): CommandOutput<ApprovalResult> {
  const compiled = assertActive(state, policy);
  // a passkey signature counts only while its passkey is registered to the approver, judged here, in ledger order:
  // the gateway verified the bytes against the registry as it read it, and a revocation may have committed since
  const passkey = given.attestation.kind === 'passkey' ? state.passkeys.get(given.attestation.credential_id) : undefined;
  const keyInForce = given.attestation.kind !== 'passkey' || (passkey !== undefined && passkey.revoked_at === null && passkey.principal === given.caller.principal);
  const command: ApprovalCommand = keyInForce ? given : { ...given, signature_verified: false };
  const { caller, statement } = command;
  const d = draftsFor(state, caller, ctx.now);
  const request = state.requests.get(statement.request);
  // DESIGN invariant 1, checked before anything about the request: an agent's
  // credential never approves or denies, whatever it names.
  if (isAgent(compiled, caller)) {
    return rejectApproval(d, command, request, 'AGENT_CANNOT_APPROVE', 'an agent cannot approve or deny');
  }
  if (!request) return rejectApproval(d, command, request, 'REQUEST_UNKNOWN', 'request is not known');

  const roster = rosterOf(compiled);
  const evaluation = evaluateApproval({
    ...approvalSubject(request, compiled, ctx.now),
    incoming: {
      statement,
      attestation: command.attestation.kind,
      signature_verified: command.signature_verified,
      credential: credentialOf(caller),
    },
  });

  if (!evaluation.ok) {
    const out = rejectApproval(d, command, request, evaluation.code, `approval was not accepted: ${evaluation.code.toLowerCase().replace(/_/g, ' ')}`);
    if (evaluation.code === 'REQUEST_EXPIRED' && request.status === 'open') {
      d.push('request.expired', { request: request.id, step: request.step, proposal: request.proposal }, { request: request.id, step: request.step, expires_at: request.expires_at });
    }
    return out;
  }

  const approver = roster.get(caller.principal);
  const subjects: Record<string, string> = { request: request.id, step: request.step, proposal: request.proposal };
  d.push('approval.accepted', subjects, {
    request: request.id,
    step: request.step,
    digest: request.digest,
    decision: evaluation.decision,
    approver: caller.principal,
    roles: approver ? [...approver.roles].sort() : [],
    surface: caller.surface,
    credential: caller.credential,
    attestation: command.attestation.kind,
    key_id: command.attestation.kind === 'key' ? command.attestation.key_id : null,
    signature: command.attestation.signature,
    ...(command.attestation.kind === 'passkey'
      ? {
          passkey: {
            credential_id: command.attestation.credential_id,
            authenticator_data: command.attestation.authenticator_data,
            client_data_json: command.attestation.client_data_json,
          },
        }
      : {}),
    signature_verified: command.signature_verified,
    signed_at: statement.signed_at,
    reason: statement.reason,
    counted_for: [...evaluation.counted_for],
    rule_ids: [...request.rule_ids],
  });

  const remaining = evaluation.remaining.map((r) => ({ factor: r.factor, roles: [...r.roles], needed: r.needed }));
  if (evaluation.decision === 'deny') {
    d.push('request.denied', subjects, { request: request.id, step: request.step, digest: request.digest, denied_by: caller.principal, reason: statement.reason, rule_ids: [...request.rule_ids] });
    return { entries: d.list, result: { ok: true, request: request.id, decision: 'deny', status: 'denied', quorum_met: false, remaining, grant: null, awaiting_rollback: false } };
  }
  if (!evaluation.quorum_met) {
    return { entries: d.list, result: { ok: true, request: request.id, decision: 'approve', status: 'open', quorum_met: false, remaining, grant: null, awaiting_rollback: false } };
  }

  const approvers = [...request.approvals.filter((a) => a.decision === 'approve').map((a) => a.approver), caller.principal];
  d.push('request.approved', subjects, { request: request.id, step: request.step, digest: request.digest, approvers, rule_ids: [...request.rule_ids] });

  const step = state.steps.get(request.step);
  let grant: IssuedGrant | null = null;
  let awaiting = false;
  if (step && step.request === request.id) {
    const artifact = step.artifact === null ? undefined : state.artifacts.get(step.artifact);
    if (request.requirements.rollback_required && artifact?.status !== 'ready') awaiting = true;
    else grant = issueGrant(d, ctx.ids, ctx.now, step, request.digest, compiled.bundleId, request.requirements, request.id);
  }
  return { entries: d.list, result: { ok: true, request: request.id, decision: 'approve', status: 'approved', quorum_met: true, remaining: [], grant, awaiting_rollback: awaiting } };
}
