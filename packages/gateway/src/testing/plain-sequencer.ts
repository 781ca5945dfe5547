// Not part of the package (its exports name only index.ts): a writer of its own,
// for tests and the bench, which import it by path. In production the one writer
// is the command sequencer (ADR 002); an ESLint rule keeps src/testing/ out of it.
import { performance } from 'node:perf_hooks';
import { isCountersignError, leafHash, MerkleFrontier, sealEntry, type EntryDraft, type LedgerStore, type SealedEntry, type TransactionalLedgerStore } from '@countersign/core';
import { GatewayError } from '../errors.js';
import { CHECKPOINT_SCHEDULE_DEFAULTS, CheckpointScheduler, positiveOption, type CheckpointSchedule } from '../ledger/checkpoint-scheduler.js';
import { notify, type SequencerObserver } from '../ledger/observer.js';
import { PIPELINE_DEPTH } from '../service/command-sequencer.js';
import { appendDrafts } from './plain-append.js';

export interface SequencerOptions {
  /** Largest number of entries in one store transaction. */
  readonly maxBatch?: number;
  /** Longest an entry waits for companions once the store is busy; when idle an append flushes at once. */
  readonly maxDelayMs?: number;
  /** Omit to write no checkpoints (a verifier-only or test setup). */
  readonly checkpoints?: CheckpointSchedule;
  readonly observer?: SequencerObserver;
  /** Milliseconds, monotonic is enough. Injected for tests. */
  readonly now?: () => number;
}

/** `maxBatch` 128: with two batches in flight, 256 waiting callers keep both slots full (the command sequencer's size too). */
export const SEQUENCER_DEFAULTS = {
  maxBatch: 128,
  maxDelayMs: 2,
  checkpointEvery: CHECKPOINT_SCHEDULE_DEFAULTS.every,
  checkpointIntervalMs: CHECKPOINT_SCHEDULE_DEFAULTS.intervalMs,
} as const;

interface Waiter {
  readonly draft: EntryDraft;
  readonly startedAt: number;
  resolve(entry: SealedEntry): void;
  reject(err: unknown): void;
}

/**
 * The single writer of one ledger chain: group commit over a store.
 *
 * Many callers `append` at once; their drafts go to the store in batches, one
 * transaction per batch, one transaction at a time. A batch is cut when it
 * reaches `maxBatch`, when its oldest entry has waited `maxDelayMs` behind a
 * busy store, and at once (next macrotask) when the store was idle, so a lone
 * append pays no timer. On a store that `pipelines`, the next batch is cut
 * and handed to the store while the previous one commits (PIPELINE_DEPTH);
 * each batch is sealed on the head the store reads under its lock
 * (`appendDrafts`), so it waits there for the one before it.
 *
 * INVARIANT: a caller's promise resolves only after the store committed the
 * transaction holding its entry; if the transaction fails, exactly the
 * callers of that batch are rejected and nothing of it is visible.
 */
export class Sequencer {
  readonly #store: TransactionalLedgerStore;
  readonly #maxBatch: number;
  readonly #maxDelayMs: number;
  readonly #observer: SequencerObserver;
  readonly #now: () => number;
  /** Leaf hashes for checkpoint roots; with checkpoints only, like `#checkpoints`. */
  readonly #frontier: MerkleFrontier | null;
  readonly #checkpoints: CheckpointScheduler | null;
  /** Entries this sequencer knows the store holds, committed or caught up. */
  #known = 0;
  /** Entries of batches sent and not yet settled: the next batch counts them as written, so the store has nothing to catch up. */
  #sending = 0;

  readonly #depth: number;
  #pending: Waiter[] = [];
  /** Cycles running: each commits one batch, then writes a checkpoint if one is due. */
  readonly #cycles = new Set<Promise<void>>();
  /** Store transactions issued and not yet settled. */
  #committing = 0;
  #wake: { cancel(): void; at: number } | null = null;
  #closed = false;
  /** When the last store transaction ended; +Infinity while one is running. */
  #storeIdleSince = Number.NEGATIVE_INFINITY;

  private constructor(store: TransactionalLedgerStore, options: SequencerOptions) {
    this.#store = store;
    this.#maxBatch = positiveOption(options.maxBatch ?? SEQUENCER_DEFAULTS.maxBatch, 'maxBatch');
    this.#maxDelayMs = Math.max(0, options.maxDelayMs ?? SEQUENCER_DEFAULTS.maxDelayMs);
    this.#observer = options.observer ?? {};
    this.#now = options.now ?? (() => performance.now());
    this.#frontier = options.checkpoints ? MerkleFrontier.empty() : null;
    this.#checkpoints = options.checkpoints
      ? new CheckpointScheduler(store, options.checkpoints, { observer: this.#observer, now: this.#now, onInterval: () => this.#onCheckpointTimer() })
      : null;
    this.#depth = store.pipelines === true ? PIPELINE_DEPTH : 1;
  }

  /**
   * Open a sequencer on `store`. With checkpoints, the Merkle frontier is rebuilt
   * by streaming the stored entries once (constant memory: O(log n) hashes).
   */
  static async open(store: TransactionalLedgerStore, options: SequencerOptions = {}): Promise<Sequencer> {
    const sequencer = new Sequencer(store, options);
    sequencer.#known = (await store.head()).size;
    if (sequencer.#frontier) await catchUp(store, sequencer.#frontier, undefined);
    await sequencer.#checkpoints?.resume();
    sequencer.#armCheckpointTimer();
    return sequencer;
  }

  /** Entries committed by this process or read while catching up (only tracked with checkpoints). */
  get size(): number | null {
    return this.#frontier?.size ?? null;
  }

  /** Append one entry; resolves with its sealed form once the store committed it. */
  append(draft: EntryDraft): Promise<SealedEntry> {
    if (this.#closed) return Promise.reject(new GatewayError('SEQUENCER_CLOSED', 'the ledger sequencer is closed'));
    return new Promise<SealedEntry>((resolve, reject) => {
      this.#pending.push({ draft, startedAt: this.#now(), resolve, reject });
      // with every slot taken, a cycle that ends schedules the next batch
      if (this.#cycles.size < this.#depth) this.#scheduleNext();
    });
  }

  /** Resolves once every append made before the call has settled. */
  async flush(): Promise<void> {
    while (this.#pending.length > 0 || this.#cycles.size > 0) {
      if (this.#pending.length > 0 && this.#cycles.size < this.#depth) this.#run();
      await Promise.all(this.#cycles);
    }
  }

  /** Stop taking appends, commit what is queued, write a final checkpoint. For SIGTERM. Leaves the store open. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    if (this.#checkpoints && this.#frontier) await this.#checkpoints.close(this.#frontier);
    this.#wake?.cancel();
    this.#wake = null;
  }

  #wakeAt(delayMs: number): void {
    const at = this.#now() + delayMs;
    if (this.#wake && this.#wake.at <= at) return;
    this.#wake?.cancel();
    const fire = (): void => {
      this.#wake = null;
      if (this.#cycles.size < this.#depth) this.#run();
    };
    if (delayMs <= 0) {
      // setImmediate rather than a microtask: callers resolved by the last commit
      // get to append first, and the event loop gets to do IO between batches
      const handle = setImmediate(fire);
      this.#wake = { at, cancel: () => clearImmediate(handle) };
    } else {
      const handle = setTimeout(fire, delayMs);
      this.#wake = { at, cancel: () => clearTimeout(handle) };
    }
  }

  #run(): void {
    this.#wake?.cancel();
    this.#wake = null;
    const cycle: Promise<void> = this.#runCycle().finally(() => {
      this.#cycles.delete(cycle);
      this.#scheduleNext();
    });
    this.#cycles.add(cycle);
    // a second slot takes what is left behind this batch
    this.#scheduleNext();
  }

  #scheduleNext(): void {
    const oldest = this.#pending[0];
    if (oldest === undefined || this.#cycles.size >= this.#depth) return;
    // Idle means no transaction ran while the oldest entry waited: flush now.
    // Otherwise more companions are likely on their way; wait for them until its deadline.
    if (this.#pending.length >= this.#maxBatch || oldest.startedAt >= this.#storeIdleSince) return this.#wakeAt(0);
    this.#wakeAt(oldest.startedAt + this.#maxDelayMs - this.#now());
  }

  async #runCycle(): Promise<void> {
    if (this.#pending.length > 0) await this.#commit(this.#pending.splice(0, this.#maxBatch));
    if (this.#frontier && this.#checkpoints?.due(this.#frontier)) await this.#checkpoints.write(this.#frontier, 'due');
    this.#armCheckpointTimer();
  }

  async #commit(batch: Waiter[]): Promise<void> {
    const started = this.#now();
    let sealed: readonly SealedEntry[];
    this.#storeIdleSince = Number.POSITIVE_INFINITY;
    this.#committing += 1;
    try {
      sealed = await this.#send(batch.map((w) => w.draft));
    } catch (err) {
      this.#settledOne();
      notify(this.#observer, 'batch', { size: batch.length, durationMs: this.#now() - started, ok: false });
      if (isInvalidDraft(err) && batch.length > 1) {
        // One caller's bad draft must not fail its neighbours: the store rejected the
        // transaction before writing, so reject the invalid drafts and retry the rest.
        const problems = batch.map((w) => validationError(w.draft));
        if (problems.some((p) => p !== null)) {
          batch.forEach((w, i) => {
            if (problems[i] !== null) this.#settle(w, problems[i]);
          });
          const valid = batch.filter((_, i) => problems[i] === null);
          if (valid.length > 0) await this.#commit(valid);
          return;
        }
      }
      for (const w of batch) this.#settle(w, err);
      return;
    }
    this.#settledOne();
    notify(this.#observer, 'batch', { size: batch.length, durationMs: this.#now() - started, ok: true });
    if (sealed.length !== batch.length) {
      const err = new GatewayError('STORE_CORRUPT', `the store sealed ${sealed.length} entries for a batch of ${batch.length}`);
      for (const w of batch) this.#settle(w, err);
      return;
    }
    this.#known = Math.max(this.#known, (sealed.at(-1)?.seq ?? -1) + 1);
    batch.forEach((w, i) => this.#settle(w, null, sealed[i]));
    if (this.#frontier) await this.#absorb(sealed);
  }

  /**
   * One transaction, counting the batches in flight before it as written. If
   * one of them failed, the store's head is short of that count (STORE_STALE,
   * nothing written): the drafts are sealed again on the head as it is.
   */
  async #send(drafts: readonly EntryDraft[]): Promise<readonly SealedEntry[]> {
    const known = this.#known + this.#sending;
    this.#sending += drafts.length;
    try {
      return await appendDrafts(this.#store, drafts, known).catch((err: unknown) => {
        if (err instanceof GatewayError && err.code === 'STORE_STALE') return appendDrafts(this.#store, drafts);
        throw err;
      });
    } finally {
      this.#sending -= drafts.length;
    }
  }

  /** The store is idle once no transaction this sequencer issued is still running. */
  #settledOne(): void {
    this.#committing -= 1;
    if (this.#committing === 0) this.#storeIdleSince = this.#now();
  }

  /** Add committed entries to the frontier, first reading any another writer appended in between. */
  async #absorb(sealed: readonly SealedEntry[]): Promise<void> {
    const frontier = this.#frontier;
    const first = sealed[0];
    if (frontier === null || first === undefined) return;
    try {
      if (first.seq > frontier.size) await catchUp(this.#store, frontier, first.seq);
      // entries a catch-up already read (another batch of ours committed in between) are not pushed twice
      for (const entry of sealed) if (entry.seq === frontier.size) frontier.push(entry.hash);
    } catch (err) {
      notify(this.#observer, 'error', err);
    }
  }

  #settle(w: Waiter, err: unknown, entry?: SealedEntry): void {
    notify(this.#observer, 'append', { latencyMs: this.#now() - w.startedAt, ok: entry !== undefined });
    if (entry !== undefined) w.resolve(entry);
    else w.reject(err);
  }

  /** Entries not yet covered by a checkpoint get one after `intervalMs` even if no append follows. */
  #armCheckpointTimer(): void {
    if (!this.#closed && this.#checkpoints && this.#frontier) this.#checkpoints.arm(this.#frontier);
  }

  /** The checkpoint timer fired: run a cycle to write the checkpoint, or wait for the running ones with another timer. */
  #onCheckpointTimer(): void {
    if (this.#cycles.size === 0) this.#run();
    else this.#armCheckpointTimer();
  }
}

/** Stream stored entries `[frontier.size, to)` into the frontier, recomputing each leaf hash from the bytes. */
async function catchUp(store: LedgerStore, frontier: MerkleFrontier, to: number | undefined): Promise<void> {
  for await (const entry of store.read(frontier.size, to)) {
    if (entry.seq !== frontier.size) {
      throw new GatewayError('STORE_CORRUPT', `the store returned entry ${entry.seq} where ${frontier.size} was expected`, { seq: frontier.size });
    }
    frontier.push(leafHash(entry.bytes));
  }
  if (to !== undefined && frontier.size !== to) {
    throw new GatewayError('STORE_CORRUPT', `the store ends at ${frontier.size} entries, expected ${to}`, { seq: frontier.size });
  }
}

function isInvalidDraft(err: unknown): boolean {
  return isCountersignError(err) && (err.code === 'LEDGER_ENTRY_INVALID' || err.code === 'NOT_CANONICALIZABLE');
}

function validationError(draft: EntryDraft): unknown {
  try {
    sealEntry(draft, 0, null);
    return null;
  } catch (err) {
    return err;
  }
}
