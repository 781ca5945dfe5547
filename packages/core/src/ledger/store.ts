import type { EntryDraft, SealedEntry } from './entry.js';

/** Size of the ledger and the hash of its last entry (`null` when empty). */
export interface LedgerHead {
  readonly size: number;
  readonly lastHash: Uint8Array | null;
}

/** A signed checkpoint as stored: the C2SP signed note text and the tree size it commits to. */
export interface StoredCheckpoint {
  readonly treeSize: number;
  readonly note: string;
}

/**
 * The ledger storage port. SQLite and PostgreSQL implement it in packages/gateway;
 * both run the same conformance suite (`runStoreContract`).
 *
 * INVARIANT: entries are only ever appended. `append` seals each draft with the
 * sequence number and previous hash read inside the same transaction that
 * inserts it, so two writers can never fork the chain; `UNIQUE(seq)` backs
 * this even if two processes believe they lead.
 */
export interface LedgerStore {
  readonly kind: string;
  /** Append drafts as the next entries, all or nothing, durable when the promise resolves. */
  append(drafts: readonly EntryDraft[]): Promise<readonly SealedEntry[]>;
  head(): Promise<LedgerHead>;
  /** Entries with `from <= seq < to` (to the end when `to` is omitted), in order, in bounded memory. */
  read(from: number, to?: number): AsyncIterable<SealedEntry>;
  putCheckpoint(checkpoint: StoredCheckpoint): Promise<void>;
  latestCheckpoint(): Promise<StoredCheckpoint | null>;
  /** All checkpoints by increasing tree size. */
  checkpoints(): AsyncIterable<StoredCheckpoint>;
  close(): Promise<void>;
}
