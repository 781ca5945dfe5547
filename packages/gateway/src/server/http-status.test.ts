import { describe, expect, it } from 'vitest';
import type { CommandCode } from '@countersign/core';
import { httpStatusFor } from './http-status.js';

// Record<CommandCode, ...>: the compiler fails this file when the core adds a code the table does not list here
const EVERY_REFUSAL: Record<CommandCode, true> = {
  PROPOSER_MISMATCH: true,
  GRANT_UNKNOWN: true,
  GRANT_USED: true,
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
};

describe('httpStatusFor', () => {
  it('maps every workflow refusal to a 4xx, never a 5xx', () => {
    for (const code of Object.keys(EVERY_REFUSAL)) {
      const status = httpStatusFor(code);
      expect([code, status >= 400 && status < 500]).toEqual([code, true]);
    }
  });

  it('maps credentials to 401, rights to 403, and unknown codes to 500', () => {
    for (const code of ['TOKEN_MISSING', 'TOKEN_MALFORMED', 'TOKEN_UNKNOWN', 'TOKEN_REVOKED', 'TOKEN_EXPIRED']) expect(httpStatusFor(code)).toBe(401);
    expect(httpStatusFor('FORBIDDEN')).toBe(403);
    expect(httpStatusFor('SOMETHING_ELSE')).toBe(500);
  });
});
