import type { ApprovalRejectionCode, GrantClaimCode, LeaseUseCode, OverrideRejectionCode } from '../authority/codes.js';

/**
 * Every code a command of the authority state machine can refuse with. Codes
 * are API: recorded in the rejection entry, returned to the caller, mapped to
 * HTTP statuses by the gateway. The gate codes come from authority/codes.ts;
 * these are the ones the state machine adds.
 */
export type StateRejectionCode =
  // proposals: the caller must be the proposal's agent, on the proposal's surface
  | 'PROPOSER_MISMATCH'
  // consumption re-checks (issue 4 §3)
  | 'GRANT_UNKNOWN'
  | 'GRANT_USED'
  // at most once per step, whichever authority ran it (grant, lease)
  | 'STEP_ALREADY_EXECUTED'
  | 'GRANT_REVOKED'
  | 'HOLD_ACTIVE'
  | 'HALT_ACTIVE'
  | 'PREREQUISITE_MISSING'
  | 'LEASE_UNKNOWN'
  // outcomes
  | 'EXECUTION_UNKNOWN'
  | 'OUTCOME_ALREADY_REPORTED'
  | 'NOT_EXECUTOR'
  // approvals
  | 'REQUEST_UNKNOWN'
  // who may act: proposal is not authority (DESIGN invariant 1)
  | 'UNKNOWN_PRINCIPAL'
  | 'AGENT_CANNOT_HOLD'
  | 'AGENT_CANNOT_OVERRIDE'
  | 'AGENT_CANNOT_ROLLBACK'
  | 'AGENT_CANNOT_HALT'
  | 'AGENT_CANNOT_ACTIVATE'
  | 'ENVIRONMENT_NOT_ALLOWED'
  // holds
  | 'UNKNOWN_TRIP_GATE'
  | 'HOLD_SCOPE_INVALID'
  | 'EVIDENCE_INVALID'
  | 'HOLD_UNKNOWN'
  | 'HOLD_NOT_OPEN'
  // overrides
  | 'OVERRIDE_INVALID'
  | 'OVERRIDE_UNKNOWN'
  | 'OVERRIDE_CLOSED'
  | 'STEP_UNKNOWN'
  // rollback and halt
  | 'ARTIFACT_UNKNOWN'
  | 'ROLLBACK_INVALID'
  | 'ROLLBACK_NOT_READY'
  | 'HALT_UNKNOWN'
  | 'HALT_NOT_ACTIVE'
  // bundles and their governed release (issue 13)
  | 'BUNDLE_ALREADY_ACTIVE'
  | 'RELEASE_REQUIRED'
  | 'RELEASE_UNKNOWN'
  | 'RELEASE_GOLDEN_MISSING'
  | 'RELEASE_GOLDEN_FAILED'
  // passkeys (issue 14)
  | 'AGENT_CANNOT_REGISTER'
  | 'PASSKEY_EXISTS'
  | 'PASSKEY_UNKNOWN'
  | 'PASSKEY_NOT_YOURS';

export type CommandCode = StateRejectionCode | ApprovalRejectionCode | OverrideRejectionCode | LeaseUseCode | GrantClaimCode;

/**
 * Every CommandCode at run time, for tables and tests that must cover them all.
 * The `satisfies` makes the compiler fail here when a code joins the union
 * without being listed, so every consumer of this list stays exhaustive.
 */
const COMMAND_CODE_SET = {
  PROPOSER_MISMATCH: true,
  GRANT_UNKNOWN: true,
  GRANT_USED: true,
  STEP_ALREADY_EXECUTED: true,
  GRANT_REVOKED: true,
  HOLD_ACTIVE: true,
  HALT_ACTIVE: true,
  PREREQUISITE_MISSING: true,
  LEASE_UNKNOWN: true,
  EXECUTION_UNKNOWN: true,
  OUTCOME_ALREADY_REPORTED: true,
  NOT_EXECUTOR: true,
  REQUEST_UNKNOWN: true,
  UNKNOWN_PRINCIPAL: true,
  AGENT_CANNOT_HOLD: true,
  AGENT_CANNOT_OVERRIDE: true,
  AGENT_CANNOT_ROLLBACK: true,
  AGENT_CANNOT_HALT: true,
  AGENT_CANNOT_ACTIVATE: true,
  ENVIRONMENT_NOT_ALLOWED: true,
  UNKNOWN_TRIP_GATE: true,
  HOLD_SCOPE_INVALID: true,
  EVIDENCE_INVALID: true,
  HOLD_UNKNOWN: true,
  HOLD_NOT_OPEN: true,
  OVERRIDE_INVALID: true,
  OVERRIDE_UNKNOWN: true,
  OVERRIDE_CLOSED: true,
  STEP_UNKNOWN: true,
  ARTIFACT_UNKNOWN: true,
  ROLLBACK_INVALID: true,
  ROLLBACK_NOT_READY: true,
  HALT_UNKNOWN: true,
  HALT_NOT_ACTIVE: true,
  BUNDLE_ALREADY_ACTIVE: true,
  RELEASE_REQUIRED: true,
  RELEASE_UNKNOWN: true,
  RELEASE_GOLDEN_MISSING: true,
  RELEASE_GOLDEN_FAILED: true,
  AGENT_CANNOT_REGISTER: true,
  PASSKEY_EXISTS: true,
  PASSKEY_UNKNOWN: true,
  PASSKEY_NOT_YOURS: true,
  REQUEST_CLOSED: true,
  REQUEST_EXPIRED: true,
  ATTESTATION_REQUIRED: true,
  BAD_SIGNATURE: true,
  STATEMENT_MISMATCH: true,
  BUNDLE_CHANGED: true,
  DIGEST_MISMATCH: true,
  UNKNOWN_APPROVER: true,
  AGENT_CANNOT_APPROVE: true,
  SELF_APPROVAL: true,
  DUPLICATE_APPROVER: true,
  REPORTS_TO_REQUESTER: true,
  SURFACE_NOT_ALLOWED: true,
  CREDENTIAL_REUSED: true,
  ROLE_NOT_ELIGIBLE: true,
  O1_IDENTITY_COLLISION: true,
  O2_SCOPE_CREEP: true,
  O3_CLOCK_BREACH: true,
  O4_MISSING_ROLLBACK: true,
  O5_NOT_ELIGIBLE: true,
  O6_GATE_ACK_MISMATCH: true,
  O7_DURATION_EXCEEDED: true,
  O8_BUDGET_EXHAUSTED: true,
  LEASE_STEP_USED: true,
  LEASE_REVOKED: true,
  GRANT_EXPIRED: true,
} as const satisfies Record<CommandCode, true>;

export const COMMAND_CODES = Object.keys(COMMAND_CODE_SET) as readonly CommandCode[];
