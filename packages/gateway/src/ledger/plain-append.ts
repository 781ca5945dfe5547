import { sealEntry, uniqueKey, type AppendBuilder, type EntryDraft, type SealedEntry } from '@countersign/core';

/**
 * The builder of a plain append (`LedgerStore.append`, for tools and tests):
 * the drafts sealed after the head the store read under its lock, with the
 * at-most-once keys their types carry (ADR 002 §5), and no projection rows.
 * The sealing is here, on the writer's side; the store only compares the
 * entries with its head and inserts them.
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
