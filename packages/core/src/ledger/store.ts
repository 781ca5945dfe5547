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
 * INVARIANT: entries are only ever appended, and only after the head they
 * were sealed on. The writer seals; the store compares that head with its own
 * inside the transaction that inserts, and writes nothing when they differ
 * (ADR 002, issue 12). `UNIQUE(seq)` backs this even if two processes believe
 * they lead.
 */
export interface LedgerStore {
  readonly kind: string;
  /**
   * True when an append with an `expected` head may be issued before the
   * previous one settled and the store commits them in the order they were
   * issued (SQLite's writer thread); a sequencer then keeps a second batch
   * in flight. Absent or false: one append at a time.
   */
  readonly pipelines?: boolean;
  head(): Promise<LedgerHead>;
  /** Entries with `from <= seq < to` (to the end when `to` is omitted), in order, in bounded memory. */
  read(from: number, to?: number): AsyncIterable<SealedEntry>;
  /**
   * Store a signed checkpoint as it is (an import; SQLite's `checkpointWith`):
   * STORE_CONFLICT for another note at its size or a size past the head.
   */
  putCheckpoint(checkpoint: StoredCheckpoint): Promise<void>;
  /**
   * Sign and store a checkpoint of the first `treeSize` entries on the
   * writer that holds the write lock, unless another writer's checkpoint
   * makes it unwanted: holding the lock, the store calls `sign` with the
   * tree size of the latest checkpoint stored (0 for none), and stores the
   * note it returns, or nothing for null. Resolves with the tree size the
   * latest stored checkpoint covers afterwards. So replicas sharing a
   * ledger sign each checkpoint once, on the one that took the lock first
   * (ADR 002, amendment §5).
   */
  checkpointWith(treeSize: number, sign: (latest: number) => string | null): Promise<number>;
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

/**
 * What a command batch writes: its entries, sealed by the writer after the
 * head it was given, each entry's at-most-once key (or null), and the rows
 * the batch touched. The store never seals: it checks that `sealed` extends
 * its head and inserts the entries as they are, or refuses with STORE_STALE.
 */
export interface AppendPlan {
  /** The drafts `sealed` was sealed from, one per entry, in order (what instrumentation counts). */
  readonly drafts: readonly EntryDraft[];
  /** The entries to append, in order, the first one sealed at the head the builder was given. */
  readonly sealed: readonly SealedEntry[];
  /** One per entry. A key already stored aborts the whole transaction with STORE_CONFLICT (ADR 002 §5). */
  readonly uniqueKeys: readonly (string | null)[];
  readonly projections: readonly ProjectionWrite[];
}

/**
 * Called with the entries other writers appended since the caller's
 * `knownSize` and the head after them: inside the write transaction, under
 * the single-writer lock, or (with `expected`) at once with no entries and
 * the expected head. Synchronous on purpose: nothing can run between reading
 * the head and sealing after it. The builder seals; the store compares.
 */
export type AppendBuilder = (caughtUp: readonly SealedEntry[], head: LedgerHead) => AppendPlan;

export interface AppendOptions {
  /**
   * Seal on this head without taking the lock first: `build` runs at once,
   * with no entries caught up, and the store commits the plan only if its
   * head is still `expected` when the transaction holds the lock. Otherwise
   * nothing is written and the append rejects with STORE_STALE; the caller
   * catches up and seals again. On a store that `pipelines`, the caller may
   * issue the next append, sealed on the head this one will leave, before
   * this one settled (the sequencer's pipelining: the store keeps no tip).
   */
  readonly expected?: LedgerHead;
}

export interface AppendWithResult {
  /** Entries read while catching up, `knownSize <= seq < head.size` (none with `expected`). */
  readonly caughtUp: readonly SealedEntry[];
  /** The plan's entries, as committed. */
  readonly sealed: readonly SealedEntry[];
}

/**
 * A ledger store that also keeps the projection table and the at-most-once
 * keys of ADR 002: the port the stateful gateway writes through. Entries,
 * unique keys and projection rows of one plan commit together or not at all.
 */
export interface TransactionalLedgerStore extends LedgerStore {
  /**
   * One write transaction holding the single-writer lock: read the head and
   * the entries appended since `knownSize`, call `build`, check that its
   * sealed entries extend that head (STORE_STALE, nothing written, if not),
   * insert them with their unique keys, upsert its projection rows, commit.
   * With `options.expected`, compare that head instead (see AppendOptions).
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
  /**
   * One projection row with the ledger's size, both read in one snapshot and
   * without waiting, or null when the row does not exist. Only a store that
   * reads synchronously (SQLite) has it: it is what lets the writer evict
   * committed records from memory and read them back (ADR 006 decision 1).
   * Throws STORE_UNAVAILABLE when the store cannot be read.
   */
  readRowNow?(kind: string, id: string): { readonly value: string; readonly size: number } | null;
}
