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
  /**
   * True when an append may be issued before the previous one settled and the
   * store commits them in the order they were issued (SQLite's writer
   * thread); a sequencer then keeps a second batch in flight. Absent or false:
   * one append at a time.
   */
  readonly pipelines?: boolean;
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

/** One projection row to write with a command batch: `value` is canonical JSON text, `null` deletes the row. */
export interface ProjectionWrite {
  readonly kind: string;
  readonly id: string;
  readonly value: string | null;
}

/** A stored projection row, as `ledger replay --check` reads it back. */
export interface StoredProjection {
  readonly kind: string;
  readonly id: string;
  readonly value: string;
}

/** What a command batch writes: its drafts, each draft's at-most-once key (or null), and the rows it touched. */
export interface AppendPlan {
  readonly drafts: readonly EntryDraft[];
  /** One per draft. A key already stored aborts the whole transaction with STORE_CONFLICT (ADR 002 §5). */
  readonly uniqueKeys: readonly (string | null)[];
  readonly projections: readonly ProjectionWrite[];
  /**
   * The drafts as the builder already sealed them on the head it was given
   * (one per draft, in order). The store keeps each seal that sits at its
   * place in the chain instead of sealing the draft again, and seals the
   * drafts itself from the first one that does not.
   */
  readonly sealed?: readonly SealedEntry[];
}

/**
 * Called inside the write transaction, under the single-writer lock, with the
 * entries other writers appended since the caller's `knownSize` and the head
 * after them. Synchronous on purpose: nothing else can run between catching up
 * and inserting, so the plan is built on exactly the ledger it extends.
 */
export type AppendBuilder = (caughtUp: readonly SealedEntry[], head: LedgerHead) => AppendPlan;

export interface AppendOptions {
  /**
   * Build on the head the store expects once every append already issued has
   * committed, without waiting for them (only with `pipelines`, and only when
   * that head is `knownSize`; otherwise the store locks as usual). If the
   * ledger turns out to end elsewhere at commit time (an earlier append
   * failed, another writer appended), nothing is written and the append
   * rejects with STORE_STALE: the caller discards what `build` did and
   * evaluates again.
   */
  readonly ahead?: boolean;
}

export interface AppendWithResult {
  /** Entries read while catching up, `knownSize <= seq < head.size`. */
  readonly caughtUp: readonly SealedEntry[];
  /** The plan's drafts as sealed and committed. */
  readonly sealed: readonly SealedEntry[];
}

/**
 * A ledger store that also keeps the projection table and the at-most-once
 * keys of ADR 002: the port the stateful gateway writes through. Entries,
 * unique keys and projection rows of one plan commit together or not at all.
 */
export interface TransactionalLedgerStore extends LedgerStore {
  /**
   * One write transaction holding the single-writer lock: read the entries
   * appended since `knownSize`, call `build`, seal and insert its drafts with
   * their unique keys, upsert its projection rows, commit.
   */
  appendWith(knownSize: number, build: AppendBuilder, options?: AppendOptions): Promise<AppendWithResult>;
  /**
   * Prove the write path works now, without touching the ledger: one durable
   * write (a single-row table, `write_probe`) through the same connection and
   * lock appends use. Rejects when the store refuses writes (disk full,
   * read-only files or sessions), so readiness is the truth (issue 12).
   */
  probeWrite(at: string): Promise<void>;
  /**
   * Follow the ledger: `onAppended(size)` is called after any writer (this
   * process or another replica) committed entries, with the ledger size
   * they left, or with `null` when notifications may have been missed (a
   * reconnect) and the follower should read from where it is. PostgreSQL
   * uses LISTEN/NOTIFY, the notification sent inside the append transaction;
   * SQLite announces in process. Resolves with a function that stops.
   */
  follow(onAppended: (size: number | null) => void): Promise<() => Promise<void>>;
  /** Every stored projection row, ordered by kind then id. */
  readProjections(): AsyncIterable<StoredProjection>;
}
