import { toDraft, type Operation as EntryOperation, type TransactionalLedgerStore } from '@countersign/core';
import type { Identity, Operation } from '../auth/credentials.js';
import type { ApiError } from './app.js';

/** The ledger's name for an API operation, where the workflow has one; reads keep their API name. */
const ENTRY_OPERATION: Partial<Record<Operation, EntryOperation>> = {
  propose: 'propose',
  approve: 'approve',
  deny: 'deny',
  execute: 'consume',
  report_outcome: 'outcome',
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
};

const RULE = 'auth:operations';

/**
 * Records a 403 of the auth layer as an `authority.rejected` entry (DESIGN
 * invariant 7: a denied attempt is a ledger entry, never a silent no): an
 * agent token calling approve, hold or override leaves a trace that the
 * postmortem classifier reads.
 *
 * The entry is appended through the store's single-writer transaction, the
 * same lock the Gateway's command sequencer takes; the sequencer reads it as
 * a caught-up entry on its next batch (a rejection changes no state). The
 * Gateway has no public method for a refusal decided outside a command; if
 * it gains one, this is the one place to switch to it.
 */
export function forbiddenRecorder(
  store: TransactionalLedgerStore,
  options: { readonly clock: () => number; readonly bundleId: () => string | null; readonly onRecorded?: () => void },
): (identity: Identity, operation: Operation, error: ApiError) => Promise<void> {
  return async (identity, operation, error) => {
    const { size } = await store.head();
    const draft = toDraft({
      at: new Date(options.clock()).toISOString(),
      type: 'authority.rejected',
      actor: identity.principal,
      surface: identity.surface,
      bundle_id: options.bundleId(),
      subjects: {},
      payload: {
        // reads (status, trace, ledger...) have no workflow name: their API name is recorded as is
        operation: ENTRY_OPERATION[operation] ?? (operation as EntryOperation),
        code: error.code,
        target_id: null,
        credential: identity.credentialId,
        rule_ids: [RULE],
      },
    });
    await store.appendWith(size, () => ({ drafts: [draft], uniqueKeys: [null], projections: [] }));
    options.onRecorded?.();
  };
}
