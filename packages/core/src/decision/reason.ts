/**
 * Stable reason codes carried by every decision. Codes are API: they appear in
 * HTTP responses, CLI output, golden cases and ledger entries. Wording is not.
 */
export const DECISION_REASONS = [
  /** The step names an action no contract declares. */
  'UNKNOWN_ACTION',
  /** The environment is not in the bundle's closed list. `Prod` and `prod ` are unknown, never corrected. */
  'UNKNOWN_ENVIRONMENT',
  /** The environment is known but the action's contract gives it no risk there. */
  'ENVIRONMENT_NOT_ALLOWED',
  /** The target does not match the contract's `target_pattern` in full. */
  'TARGET_NOT_ALLOWED',
  /** A parameter the contract does not declare (closed params), or a value outside its allowlist. */
  'PARAM_NOT_ALLOWED',
  /** A declared parameter that is missing, of the wrong type or too long. */
  'PARAM_INVALID',
  /** The proposal's agent is not a declared agent or service, or `on_behalf_of` is not a declared human. */
  'UNKNOWN_PRINCIPAL',
  /** The proposal's surface is not declared by the bundle. */
  'UNKNOWN_SURFACE',
  /** A `requires_prior` step has not succeeded on the same target within its window. */
  'PREREQUISITE_MISSING',
  /** An active hold covers this mutation. */
  'HOLD_ACTIVE',
  /** The step's risk class denies it whatever approvals arrive. */
  'RISK_DENIED',
  /** Independent approval is needed before a grant. */
  'APPROVAL_REQUIRED',
  /** The contract requires a registered rollback artifact before a grant; informational on allow and require_approval. */
  'ROLLBACK_REQUIRED',
  /** Evaluation raised an exception; the step is denied (fail closed). */
  'EVALUATION_ERROR',
  'ALLOWED',
] as const;
export type DecisionReason = (typeof DECISION_REASONS)[number];

export const DECISION_EFFECTS = ['allow', 'require_approval', 'deny', 'held'] as const;
export type DecisionEffect = (typeof DECISION_EFFECTS)[number];
