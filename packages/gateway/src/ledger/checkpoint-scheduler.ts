import { signCheckpoint, type LedgerStore, type Signer } from '@countersign/core';
import { GatewayError } from '../errors.js';
import { notify, type SequencerObserver } from './observer.js';

/** A `CheckpointSchedule`'s `every` and `intervalMs` when it names none. */
export const CHECKPOINT_SCHEDULE_DEFAULTS = { every: 1000, intervalMs: 1000 } as const;

/** When and how checkpoints are written. */
export interface CheckpointSchedule {
  /** Write a checkpoint once this many entries are not yet covered by one. */
  readonly every?: number;
  /** ... or once this many milliseconds passed since the last one, if entries are not covered. */
  readonly intervalMs?: number;
  /** The C2SP signed note for a tree of `treeSize` leaves with root `root`, signed by the gateway key. */
  readonly sign: (treeSize: number, root: Uint8Array) => string;
}

/** The origin line of checkpoints when a deployment names none; name yours, e.g. `countersign.dev/ledger/payments-prod`. */
export const DEFAULT_LEDGER_ORIGIN = 'countersign.dev/ledger/default';

/**
 * A checkpoint schedule that signs C2SP tlog-checkpoints for `origin` with the
 * gateway key (`signer.name` is the key name in the signature line).
 */
export function signedCheckpoints(
  origin: string,
  signer: Signer,
  schedule: { readonly every?: number; readonly intervalMs?: number } = {},
): CheckpointSchedule {
  return { ...schedule, sign: (treeSize, rootHash) => signCheckpoint({ origin, treeSize, rootHash }, signer) };
}

/**
 * The tree a checkpoint covers: a sequencer's Merkle frontier. Passed in at
 * each call, never held, because the command sequencer replaces its frontier
 * when it rebuilds.
 */
export interface CheckpointTree {
  readonly size: number;
  /** RFC 6962 root of the `size` leaves. */
  root(): Uint8Array;
}

export interface CheckpointSchedulerOptions {
  readonly observer: Pick<SequencerObserver, 'checkpoint' | 'error'>;
  /** Milliseconds, monotonic is enough: the sequencer's clock. */
  readonly now: () => number;
  /**
   * The timer fired: `intervalMs` passed with entries uncovered and no cycle
   * wrote a checkpoint. The sequencer runs a cycle (which finds one `due`), or
   * arms the timer again if a cycle is already running.
   */
  readonly onInterval: () => void;
}

/** What the scheduler needs of a store: the latest checkpoint, and a checkpoint signed under the write lock. */
export type CheckpointStore = Pick<LedgerStore, 'checkpointWith' | 'latestCheckpoint'>;

/**
 * When a sequencer writes a signed checkpoint, and writing it. A checkpoint is
 * due once `every` entries are not covered by one, or once `intervalMs` passed
 * since the last attempt with any entry uncovered; a timer covers the second
 * case when no append follows. The sequencer owns the tree and the cycles: at
 * the end of each cycle it writes if `due`, then `arm`s the timer; `close`
 * writes the last checkpoint.
 *
 * INVARIANT: a failed write is reported to the observer, never thrown (the
 * entries are durable either way), and the next attempt waits a full interval.
 */
export class CheckpointScheduler {
  readonly #store: CheckpointStore;
  readonly #every: number;
  readonly #intervalMs: number;
  readonly #sign: CheckpointSchedule['sign'];
  readonly #observer: CheckpointSchedulerOptions['observer'];
  readonly #now: () => number;
  readonly #onInterval: () => void;
  /** Entries covered by the latest checkpoint stored, by any writer, as last seen (at `resume` and after each write). */
  #checkpointedSize = 0;
  /** When the last write was attempted, or `resume` ran: the interval counts from here. */
  #checkpointedAt = 0;
  #writing: Promise<void> | null = null;
  /** The last write failed: until one succeeds, only the interval brings the next attempt, not `every`. */
  #failing = false;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  /** Validates the schedule: `every` and `intervalMs` are positive integers (GatewayError `USAGE`). Call `resume` before anything else. */
  constructor(store: CheckpointStore, schedule: CheckpointSchedule, options: CheckpointSchedulerOptions) {
    this.#store = store;
    this.#every = positiveOption(schedule.every ?? CHECKPOINT_SCHEDULE_DEFAULTS.every, 'checkpoints.every');
    this.#intervalMs = positiveOption(schedule.intervalMs ?? CHECKPOINT_SCHEDULE_DEFAULTS.intervalMs, 'checkpoints.intervalMs');
    this.#sign = schedule.sign;
    this.#observer = options.observer;
    this.#now = options.now;
    this.#onInterval = options.onInterval;
  }

  /** Start from the store's latest checkpoint: entries after it are uncovered, and the interval counts from now. */
  async resume(): Promise<void> {
    this.#checkpointedSize = (await this.#store.latestCheckpoint())?.treeSize ?? 0;
    this.#checkpointedAt = this.#now();
  }

  /** A checkpoint of `tree` is due by the schedule, and none is being written. */
  due(tree: CheckpointTree): boolean {
    const uncovered = tree.size - this.#checkpointedSize;
    if (uncovered <= 0 || this.#writing !== null) return false;
    // after a failure `every` stays reached: on its own it would retry at the end of every cycle
    return (uncovered >= this.#every && !this.#failing) || this.#now() - this.#checkpointedAt >= this.#intervalMs;
  }

  /**
   * True when a ledger of `size` entries (those in flight counted) leaves
   * `every` or more uncovered: the writer sends nothing behind the batch in
   * flight until the checkpoint it makes due is stored. False while writes
   * fail: the interval alone paces them then, and the pipeline goes on.
   */
  pressing(size: number): boolean {
    return !this.#failing && size - this.#checkpointedSize >= this.#every;
  }

  /**
   * Sign and store a checkpoint of `tree` as it is now, unless, once the
   * store holds the write lock, the latest checkpoint any writer stored
   * covers it, or (`when` 'due') leaves it not due any more: fewer than
   * `every` entries past that checkpoint, and the interval not passed since
   * this scheduler last saw one stored. Never throws: a failure goes to the
   * observer's `error`. A sequencer asks `due` first (false while a write is
   * running), then writes with 'due'; `flush` and `close` write 'now'.
   */
  write(tree: CheckpointTree, when: 'due' | 'now'): Promise<void> {
    const writing: Promise<void> = this.#write(tree, when).finally(() => {
      if (this.#writing === writing) this.#writing = null;
    });
    this.#writing = writing;
    return writing;
  }

  /** Once no write is running, cover every entry of `tree` (an export that must verify to its end). Never throws, like `write`. */
  async flush(tree: CheckpointTree): Promise<void> {
    while (this.#writing !== null) await this.#writing;
    if (tree.size > this.#checkpointedSize) await this.write(tree, 'now');
  }

  async #write(tree: CheckpointTree, when: 'due' | 'now'): Promise<void> {
    const treeSize = tree.size;
    const intervalPassed = this.#now() - this.#checkpointedAt >= this.#intervalMs;
    const seen = this.#checkpointedSize;
    // a failure waits a full interval before the next attempt instead of retrying every batch
    this.#checkpointedAt = this.#now();
    let signed = false;
    try {
      // the root is taken before the first await: the tree grows while the store works
      const root = tree.root();
      const sign = (latest: number): string | null => {
        // Another replica's checkpoint, stored while this one followed its entries, may make this one
        // unwanted. One stored since this scheduler last looked counts as the interval's checkpoint,
        // so that replicas under light load do not each sign one per interval.
        const byInterval = intervalPassed && latest <= seen;
        const wanted = treeSize > latest && (when === 'now' || byInterval || treeSize - latest >= this.#every);
        if (!wanted) return null;
        signed = true;
        return this.#sign(treeSize, root);
      };
      const covered = await this.#store.checkpointWith(treeSize, sign);
      this.#checkpointedSize = Math.max(this.#checkpointedSize, covered);
      this.#failing = false;
      if (signed) notify(this.#observer, 'checkpoint', { treeSize });
    } catch (err) {
      // entries stay durable either way
      this.#failing = true;
      notify(this.#observer, 'error', err);
    }
  }

  /** Entries of `tree` not yet covered get a checkpoint after `intervalMs` even if no append follows: `onInterval` then. */
  arm(tree: CheckpointTree): void {
    if (this.#timer || this.#closed || tree.size <= this.#checkpointedSize) return;
    const delay = Math.max(0, this.#checkpointedAt + this.#intervalMs - this.#now());
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#onInterval();
    }, delay);
    // a pending checkpoint never keeps the process alive; close() writes the last one
    this.#timer.unref();
  }

  /** Stop the timer for good, then cover every entry of `tree` with a last checkpoint. For a sequencer's close(), once its cycles are done. */
  async close(tree: CheckpointTree): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    // one write at a time: a flush may still be writing
    while (this.#writing !== null) await this.#writing;
    if (tree.size > this.#checkpointedSize) await this.write(tree, 'now');
  }
}

/** A sequencer option that must be a positive integer; throws GatewayError `USAGE` naming it. */
export function positiveOption(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new GatewayError('USAGE', `sequencer option \`${name}\` must be a positive integer, got \`${value}\``);
  }
  return value;
}
