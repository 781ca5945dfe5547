/**
 * Every reason an authority rule can refuse, in one place. These codes are API:
 * they are returned by the gates, recorded in ledger entries on every denied
 * attempt, shown by the CLI and mapped to HTTP statuses by the gateway. Wording
 * of messages is not API; these strings are. See docs/authority-model.md.
 */

/** Why an approval or denial statement was not accepted for an approval request. */
export type ApprovalRejectionCode =
  | 'REQUEST_CLOSED'
  | 'REQUEST_EXPIRED'
  | 'ATTESTATION_REQUIRED'
  | 'BAD_SIGNATURE'
  | 'STATEMENT_MISMATCH'
  | 'BUNDLE_CHANGED'
  | 'DIGEST_MISMATCH'
  | 'UNKNOWN_APPROVER'
  | 'AGENT_CANNOT_APPROVE'
  | 'SELF_APPROVAL'
  | 'DUPLICATE_APPROVER'
  | 'REPORTS_TO_REQUESTER'
  | 'SURFACE_NOT_ALLOWED'
  | 'CREDENTIAL_REUSED'
  | 'ROLE_NOT_ELIGIBLE';

/** The order in which `evaluateApproval` checks; the first failing check names the code. */
export const APPROVAL_CHECK_ORDER: readonly ApprovalRejectionCode[] = [
  'REQUEST_CLOSED',
  'REQUEST_EXPIRED',
  'ATTESTATION_REQUIRED',
  'BAD_SIGNATURE',
  'STATEMENT_MISMATCH',
  'BUNDLE_CHANGED',
  'DIGEST_MISMATCH',
  'UNKNOWN_APPROVER',
  'AGENT_CANNOT_APPROVE',
  'SELF_APPROVAL',
  'DUPLICATE_APPROVER',
  'REPORTS_TO_REQUESTER',
  'SURFACE_NOT_ALLOWED',
  'CREDENTIAL_REUSED',
  'ROLE_NOT_ELIGIBLE',
];

/** Override gates, after the reference override-ledger procedure (O1–O4) and DESIGN.md (O5–O8). */
export type OverrideGateCode =
  | 'O1_IDENTITY_COLLISION'
  | 'O2_SCOPE_CREEP'
  | 'O3_CLOCK_BREACH'
  | 'O4_MISSING_ROLLBACK'
  | 'O5_NOT_ELIGIBLE'
  | 'O6_GATE_ACK_MISMATCH'
  | 'O7_DURATION_EXCEEDED'
  | 'O8_BUDGET_EXHAUSTED';

/** Why an override request was refused: every failing gate, plus a signature that did not verify. */
export type OverrideRejectionCode = OverrideGateCode | 'BAD_SIGNATURE';

/** The order in which codes are listed in a refusal, so two runs record the same array. */
export const OVERRIDE_CODE_ORDER: readonly OverrideRejectionCode[] = [
  'O1_IDENTITY_COLLISION',
  'O2_SCOPE_CREEP',
  'O3_CLOCK_BREACH',
  'O4_MISSING_ROLLBACK',
  'O5_NOT_ELIGIBLE',
  'O6_GATE_ACK_MISMATCH',
  'O7_DURATION_EXCEEDED',
  'O8_BUDGET_EXHAUSTED',
  'BAD_SIGNATURE',
];

/** Why a step may not run under a granted override lease. */
export type LeaseUseCode = 'O3_CLOCK_BREACH' | 'O2_SCOPE_CREEP' | 'LEASE_STEP_USED' | 'LEASE_REVOKED';

/** Claim re-checks shared by the executor's offline `verifyGrant` and online consumption. */
export type GrantClaimCode = 'GRANT_EXPIRED' | 'BUNDLE_CHANGED' | 'DIGEST_MISMATCH';

/** Every authority code, for exhaustive mappings (HTTP statuses, CLI exit codes, reports). */
export type AuthorityCode = ApprovalRejectionCode | OverrideRejectionCode | LeaseUseCode | GrantClaimCode;
