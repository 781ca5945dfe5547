import type { Operation as EntryOperation } from '@countersign/core';
import type { Operation } from '../auth/credentials.js';

/** The ledger's name for an API operation: the workflow's name where it has one, the API name for reads. */
const ENTRY_OPERATION = {
  propose: 'propose',
  status: 'status',
  wait: 'wait',
  execute: 'consume',
  report_outcome: 'outcome',
  decide: 'decide',
  approve: 'approve',
  deny: 'deny',
  hold_open: 'hold_open',
  hold_evidence: 'hold_evidence',
  hold_lift: 'hold_lift',
  override_request: 'override_request',
  override_submit: 'override_submit',
  rollback_register: 'rollback_register',
  rollback: 'rollback_run',
  halt: 'halt',
  halt_lift: 'halt_lift',
  bundle_activate: 'bundle_activate',
  release_propose: 'release_propose',
  release_sign: 'release_approve',
  token_admin: 'token_admin',
  passkey_register: 'passkey_register',
  passkey_revoke: 'passkey_revoke',
  policy_read: 'policy_read',
  ledger_read: 'ledger_read',
  checkpoint: 'checkpoint',
  prove: 'prove',
  trace: 'trace',
} as const satisfies Record<Operation, EntryOperation>;

/** The rule an auth-layer refusal cites: the operations table of auth/credentials.ts. */
export const FORBIDDEN_RULE = 'auth:operations';

/**
 * What an auth-layer refusal (a 403, or a client certificate refused under
 * `tls:client_cert`) records as `authority.rejected` (DESIGN invariant 7:
 * a denied attempt is a ledger entry, never a silent no): an agent token
 * calling approve, hold or override leaves a trace the postmortem reads. The
 * entry goes through the gateway's one writer (`Gateway.recordRefusal`).
 */
export function forbiddenRefusal(operation: Operation, code: string, rule: string = FORBIDDEN_RULE): { readonly operation: EntryOperation; readonly code: string; readonly rule: string } {
  return { operation: ENTRY_OPERATION[operation], code, rule };
}
