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
  // bundles
  | 'BUNDLE_ALREADY_ACTIVE';

export type CommandCode = StateRejectionCode | ApprovalRejectionCode | OverrideRejectionCode | LeaseUseCode | GrantClaimCode;
