/**
 * One error base class for the gateway, with a literal-union `code`.
 * Core errors (CountersignError) pass through unchanged; these are the codes
 * that only arise where IO happens.
 */
export type GatewayErrorCode =
  | 'USAGE'
  | 'FILE_NOT_FOUND'
  | 'FILE_EXISTS'
  | 'KEY_INVALID'
  | 'STORE_UNAVAILABLE'
  | 'STORE_CONFLICT'
  | 'STORE_STALE'
  | 'STORE_CORRUPT'
  /** `ledger import` into a store that already holds entries, checkpoints or projections. */
  | 'STORE_NOT_EMPTY'
  /** `ledger import`: entries after the export's last signed checkpoint, protected by the hash chain only. */
  | 'EXPORT_UNSIGNED_TAIL'
  /** `ledger import`: the export file differs from the one verified before anything was written. */
  | 'EXPORT_CHANGED'
  | 'MIGRATION_FAILED'
  | 'SEQUENCER_CLOSED'
  | 'BUNDLE_NOT_LOADED'
  | 'NO_CHECKPOINT'
  | 'NOT_CHECKPOINTED'
  | 'POLICY_MISMATCH'
  | 'DEMO_FAILED';

export class GatewayError extends Error {
  readonly code: GatewayErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: GatewayErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
    this.details = details;
  }
}
