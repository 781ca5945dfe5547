// Not part of the package: a writer of its own for tests and the bench, which
// import it by path. The gateway appends only through its command sequencer
// (ADR 002), and the stores only compare and append what a writer sealed.
import { sealEntry, uniqueKey, type AppendBuilder, type EntryDraft, type SealedEntry, type TransactionalLedgerStore } from '@countersign/core';

/**
 * The builder of a plain append: the drafts sealed after the head the store
 * read under its lock, with the at-most-once keys their types carry (ADR 002
 * §5), and no projection rows.
 */
export function plainAppend(drafts: readonly EntryDraft[]): AppendBuilder {
  return (_caughtUp, head) => {
    let prev = head.lastHash;
    const sealed: SealedEntry[] = drafts.map((draft, i) => {
      const entry = sealEntry(draft, head.size + i, prev);
      prev = entry.hash;
      return entry;
    });
    return { drafts, sealed, uniqueKeys: drafts.map((draft) => uniqueKey(draft)), projections: [] };
  };
}

/**
 * Append `drafts` as the next entries, all or nothing, durable when the
 * promise resolves: sealed here, on the head the store reads under its lock,
 * and compared and inserted by the store. `knownSize`, the entries the caller
 * has seen (read from the head when omitted), is where the store's catch-up
 * starts; what it reads is left alone.
 */
export async function appendDrafts(store: TransactionalLedgerStore, drafts: readonly EntryDraft[], knownSize?: number): Promise<readonly SealedEntry[]> {
  if (drafts.length === 0) return [];
  const known = knownSize ?? (await store.head()).size;
  return (await store.appendWith(known, plainAppend(drafts))).sealed;
}
