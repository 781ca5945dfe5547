import { z } from 'zod';

/**
 * Every stable error code the gateway answers with, and its HTTP status: the
 * one table the server answers by and clients read (docs/http-api.md
 * "Errors"). The rule, so a new code lands in the right row:
 *
 *   400  the request cannot be read: malformed HTTP, URL or JSON, a body two
 *        readers could read differently (the gateway's json-body.ts), schema violations
 *   401  the credential: missing, malformed, unknown, revoked, expired
 *   403  authority: who you are, your roles, your surface, your signature
 *   404  the id you named does not exist
 *   408  the request did not arrive in time
 *   409  the state refuses: closed, used, expired, revoked, held, halted, changed
 *   413  the body is larger than the route allows
 *   414  a path parameter is longer than any id
 *   415  the body is not `application/json`
 *   417  an `Expect` the gateway cannot meet
 *   422  well-formed, but its content breaks a rule (scope, digest, duration)
 *   431  the request headers are too large
 *   503  the gateway cannot serve now (store, bundle, shutting down)
 *
 * Workflow refusals are never 5xx: a 5xx means the gateway failed, not that
 * it said no. Anything not listed is a 500 that says only `internal error`.
 */
export const ERROR_STATUS = {
  // input
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  USAGE: 400,
  PROPOSAL_INVALID: 400,
  NOT_CANONICALIZABLE: 400,
  STATEMENT_INVALID: 400,
  POLICY_PARSE_ERROR: 400,
  POLICY_INVALID: 400,
  GOLDEN_CASE_INVALID: 400,
  PATH_MISMATCH: 400,
  CURSOR_UNKNOWN: 400,
  BODY_INVALID_UTF8: 400,
  BODY_DUPLICATE_KEY: 400,
  BODY_NUMBER_NOT_CANONICAL: 400,
  BODY_FORBIDDEN_KEY: 400,
  URL_MALFORMED: 400,
  REQUEST_MALFORMED: 400,
  REQUEST_TIMEOUT: 408,
  EXPECTATION_FAILED: 417,
  BODY_TOO_LARGE: 413,
  PATH_PARAM_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  HEADERS_TOO_LARGE: 431,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  // credentials
  UNAUTHENTICATED: 401,
  TOKEN_INVALID: 401,
  TOKEN_MISSING: 401,
  SLACK_SIGNATURE_INVALID: 401,
  SLACK_SIGNATURE_STALE: 401,
  TOKEN_MALFORMED: 401,
  TOKEN_UNKNOWN: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_REVOKED: 401,
  // a surface that needs a client certificate (issue 16): the certificate is part of the credential
  CLIENT_CERT_MISSING: 401,
  CLIENT_CERT_INVALID: 401,
  // authority: the caller may not do this (DESIGN invariants 1, 4)
  FORBIDDEN: 403,
  CSRF_FAILED: 403,
  CLIENT_CERT_MISMATCH: 403,
  NOT_TOKEN_ADMIN: 403,
  TOKEN_SELF_ISSUE: 403,
  TOKEN_SIGNING_SURFACE: 403,
  IDENTITY_UNMAPPED: 403,
  IDENTITY_NOT_HUMAN: 403,
  IDENTITY_AMBIGUOUS: 403,
  UNKNOWN_PRINCIPAL: 403,
  UNKNOWN_APPROVER: 403,
  PROPOSER_MISMATCH: 403,
  STATEMENT_MISMATCH: 403,
  AGENT_CANNOT_APPROVE: 403,
  AGENT_CANNOT_HOLD: 403,
  AGENT_CANNOT_OVERRIDE: 403,
  AGENT_CANNOT_ROLLBACK: 403,
  AGENT_CANNOT_HALT: 403,
  AGENT_CANNOT_ACTIVATE: 403,
  AGENT_CANNOT_REGISTER: 403,
  PASSKEY_NOT_YOURS: 403,
  PASSKEY_UNKNOWN: 404,
  PASSKEY_EXISTS: 409,
  PASSKEY_REGISTRATION_FAILED: 422,
  SELF_APPROVAL: 403,
  DUPLICATE_APPROVER: 403,
  REPORTS_TO_REQUESTER: 403,
  SURFACE_NOT_ALLOWED: 403,
  CREDENTIAL_REUSED: 403,
  ROLE_NOT_ELIGIBLE: 403,
  ATTESTATION_REQUIRED: 403,
  BAD_SIGNATURE: 403,
  NOT_EXECUTOR: 403,
  ENVIRONMENT_NOT_ALLOWED: 403,
  O1_IDENTITY_COLLISION: 403,
  O3_CLOCK_BREACH: 403,
  O5_NOT_ELIGIBLE: 403,
  O8_BUDGET_EXHAUSTED: 403,
  // unknown ids
  REQUEST_UNKNOWN: 404,
  CREDENTIAL_UNKNOWN: 404,
  PROPOSAL_UNKNOWN: 404,
  GRANT_UNKNOWN: 404,
  EXECUTION_UNKNOWN: 404,
  HOLD_UNKNOWN: 404,
  OVERRIDE_UNKNOWN: 404,
  LEASE_UNKNOWN: 404,
  ARTIFACT_UNKNOWN: 404,
  HALT_UNKNOWN: 404,
  STEP_UNKNOWN: 404,
  ENTRY_UNKNOWN: 404,
  TRACE_NOT_FOUND: 404,
  NO_CHECKPOINT: 404,
  // state conflicts
  REQUEST_CLOSED: 409,
  REQUEST_EXPIRED: 409,
  BUNDLE_CHANGED: 409,
  BUNDLE_ALREADY_ACTIVE: 409,
  RELEASE_REQUIRED: 409,
  RELEASE_GOLDEN_FAILED: 422,
  TOKEN_PRINCIPAL_UNKNOWN: 422,
  TOKEN_SURFACE_UNKNOWN: 422,
  RELEASE_GOLDEN_MISSING: 422,
  RELEASE_UNKNOWN: 404,
  POLICY_MISMATCH: 409,
  GRANT_USED: 409,
  STEP_ALREADY_EXECUTED: 409,
  GRANT_EXPIRED: 409,
  GRANT_REVOKED: 409,
  HOLD_ACTIVE: 409,
  HALT_ACTIVE: 409,
  PREREQUISITE_MISSING: 409,
  LEASE_STEP_USED: 409,
  LEASE_REVOKED: 409,
  OUTCOME_ALREADY_REPORTED: 409,
  HOLD_NOT_OPEN: 409,
  OVERRIDE_CLOSED: 409,
  ROLLBACK_NOT_READY: 409,
  HALT_NOT_ACTIVE: 409,
  O4_MISSING_ROLLBACK: 409,
  STORE_CONFLICT: 409,
  NOT_CHECKPOINTED: 409,
  // content that breaks a rule
  DIGEST_MISMATCH: 422,
  O2_SCOPE_CREEP: 422,
  O6_GATE_ACK_MISMATCH: 422,
  O7_DURATION_EXCEEDED: 422,
  OVERRIDE_INVALID: 422,
  HOLD_SCOPE_INVALID: 422,
  EVIDENCE_INVALID: 422,
  UNKNOWN_TRIP_GATE: 422,
  ROLLBACK_INVALID: 422,
  // environment
  NOT_READY: 503,
  STORE_UNAVAILABLE: 503,
  STORE_STALE: 503,
  SEQUENCER_CLOSED: 503,
  BUNDLE_NOT_LOADED: 503,
  INTERNAL: 500,
} as const satisfies Readonly<Record<string, number>>;

/** A code the gateway answers with. Codes are API; wording is not. */
export type ErrorCode = keyof typeof ERROR_STATUS;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_STATUS, code);
}

/** The HTTP status of `code`; 500 for a code not in the table (the gateway then says only `internal error`). */
export function statusOfCode(code: string): number {
  return isErrorCode(code) ? ERROR_STATUS[code] : 500;
}

/** Every error answer: `{ "error": { code, message, details? } }`. `details.codes` lists every failing gate of a refusal. */
export const ErrorBody = z.strictObject({
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.output<typeof ErrorBody>;
