/**
 * The one place where stable error codes become HTTP statuses.
 * Anything not listed is a 400 if it came from input validation and a 500
 * otherwise; a 500 never says more than `internal error`.
 */
const STATUS: Readonly<Record<string, number>> = {
  // input
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  PROPOSAL_INVALID: 400,
  NOT_CANONICALIZABLE: 400,
  STATEMENT_INVALID: 400,
  POLICY_PARSE_ERROR: 400,
  POLICY_INVALID: 400,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  // credentials
  UNAUTHENTICATED: 401,
  TOKEN_INVALID: 401,
  TOKEN_EXPIRED: 401,
  TOKEN_REVOKED: 401,
  FORBIDDEN: 403,
  // environment
  NOT_READY: 503,
  STORE_UNAVAILABLE: 503,
  STORE_CONFLICT: 409,
  INTERNAL: 500,
};

export function httpStatusFor(code: string): number {
  return STATUS[code] ?? 500;
}
