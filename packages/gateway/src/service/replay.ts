import {
  applyEntry,
  BUNDLE_ROW_ID,
  canonicalJson,
  createState,
  decodeEntry,
  projectionKey,
  projectionRow,
  projectionRows,
  type AuthorityState,
  type ProjectionRef,
  type ProjectionWrite,
  type TransactionalLedgerStore,
} from '@countersign/core';
import { GatewayError } from '../errors.js';

/** One row where the stored projection and the ledger disagree; `null` is a row one side does not have. */
export interface ProjectionDifference {
  readonly kind: string;
  readonly id: string;
  readonly stored: string | null;
  readonly rebuilt: string | null;
}

export interface ReplayReport {
  /** Entries replayed. */
  readonly entries: number;
  /** Rows the replayed state has. */
  readonly rebuiltRows: number;
  /** Rows the store has. */
  readonly storedRows: number;
  /** Every difference, by kind then id. */
  readonly differences: readonly ProjectionDifference[];
  readonly state: AuthorityState;
}


/**
 * The rows a commit writes for the projections its entries touched, as the
 * state has them after all of those entries: canonical JSON text, or `null`
 * to delete the row. The command sequencer and `ledger import` both write
 * through this, so a restored store holds the rows a gateway would have.
 */
export function projectionWrites(state: AuthorityState, touched: Iterable<ProjectionRef>): ProjectionWrite[] {
  const writes: ProjectionWrite[] = [];
  for (const ref of touched) {
    const value = projectionRow(state, ref);
    writes.push({ kind: ref.kind, id: ref.id, value: value === null ? null : canonicalJson(value) });
  }
  return writes;
}

/**
 * `ledger replay --check` (ADR 002 §4): rebuild the whole authority state from
 * the entries alone, through the one reducer, and compare it row by row with
 * the stored projections. The projections are never trusted; this says
 * whether they can be. Run it on a quiet ledger: rows committed after the
 * entries were read show up as differences.
 */
export async function replayCheck(store: TransactionalLedgerStore): Promise<ReplayReport> {
  const state = createState();
  let entries = 0;
  for await (const sealed of store.read(0)) {
    if (sealed.seq !== entries) throw new GatewayError('STORE_CORRUPT', `the store returned entry ${sealed.seq} where ${entries} was expected`, { seq: entries });
    applyEntry(state, decodeEntry(sealed.bytes));
    entries += 1;
  }
  const rebuilt = new Map<string, { kind: string; id: string; value: string }>();
  for (const row of projectionRows(state)) {
    // a ledger no gateway ever wrote a bundle to has no bundle row, and needs none
    if (row.kind === 'bundle' && row.id === BUNDLE_ROW_ID && state.bundle.bundle_id === null) continue;
    rebuilt.set(projectionKey(row.kind, row.id), { kind: row.kind, id: row.id, value: canonicalJson(row.value) });
  }
  const rebuiltRows = rebuilt.size;
  const differences: ProjectionDifference[] = [];
  let storedRows = 0;
  for await (const row of store.readProjections()) {
    storedRows += 1;
    const key = projectionKey(row.kind, row.id);
    const mine = rebuilt.get(key);
    rebuilt.delete(key);
    if (mine === undefined) differences.push({ kind: row.kind, id: row.id, stored: row.value, rebuilt: null });
    else if (mine.value !== row.value) differences.push({ kind: row.kind, id: row.id, stored: row.value, rebuilt: mine.value });
  }
  for (const row of rebuilt.values()) differences.push({ kind: row.kind, id: row.id, stored: null, rebuilt: row.value });
  differences.sort((a, b) => (a.kind === b.kind ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.kind < b.kind ? -1 : 1));
  return { entries, rebuiltRows, storedRows, differences, state };
}
