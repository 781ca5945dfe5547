/**
 * One error base class for the core, with a literal-union `code`.
 * Codes are API: they appear in HTTP responses, CLI output and ledger entries.
 * Wording is not API. Messages start lower case, carry no final period and
 * quote user input in backticks.
 */
export type CoreErrorCode =
  // policy bundles
  | 'POLICY_PARSE_ERROR'
  | 'POLICY_INVALID'
  // canonical form
  | 'NOT_CANONICALIZABLE'
  // proposals and steps
  | 'PROPOSAL_INVALID'
  // golden cases
  | 'GOLDEN_CASE_INVALID'
  // ledger
  | 'LEDGER_ENTRY_INVALID'
  | 'LEDGER_VERIFY_FAILED'
  | 'CHECKPOINT_INVALID'
  | 'PROOF_INVALID'
  | 'KEY_INVALID'
  // authority statements
  | 'STATEMENT_INVALID'
  | 'BAD_SIGNATURE'
  // trace and postmortem
  | 'TRACE_NOT_FOUND'
  | 'INTERNAL';

export class CountersignError extends Error {
  readonly code: CoreErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: CoreErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'CountersignError';
    this.code = code;
    this.details = details;
  }
}

export function isCountersignError(err: unknown): err is CountersignError {
  return err instanceof CountersignError;
}
