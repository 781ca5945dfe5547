import type { KeyObject } from 'node:crypto';
import {
  CountersignError,
  ed25519Signer,
  inclusionProof,
  inclusionProofToJson,
  leafHash,
  MerkleFrontier,
  parseCheckpoint,
  signCheckpoint,
  type InclusionProofJson,
  type LedgerStore,
  type SealedEntry,
  type Signer,
  type StoredCheckpoint,
} from '@countersign/core';
import { CHECKPOINT_SCHEDULE_DEFAULTS, positiveOption } from '../ledger/checkpoint-scheduler.js';
import { notify } from '../ledger/observer.js';
import { ApiError } from './api-error.js';

export interface CheckpointWriterOptions {
  readonly origin: string;
  readonly key: KeyObject;
  /** Write a checkpoint once this many entries are not covered by one... */
  readonly every?: number;
  /** ...or on this period when any entry is not covered. Both positive integers (`USAGE` otherwise), `CHECKPOINT_SCHEDULE_DEFAULTS` when omitted. */
  readonly intervalMs?: number;
  readonly onError?: (err: unknown) => void;
  readonly onCheckpoint?: (treeSize: number) => void;
}

export interface EntryProof extends InclusionProofJson {
  readonly seq: number;
  /** The entry's stored bytes, base64. */
  readonly entry: string;
  readonly leaf_hash: string;
  readonly root: string;
  readonly checkpoint: string;
}

/**
 * Signed checkpoints (C2SP tlog-checkpoint, the gateway key) for a ledger the
 * durable Gateway writes, and inclusion proofs against them.
 *
 * The Gateway's command sequencer is the one writer of entries; this follows
 * the ledger into a Merkle frontier and a flat array of leaf hashes (32 bytes
 * an entry), and signs the root on a schedule. Entries this process committed
 * are handed over by the sequencer (`observe`), with the leaf hashes computed
 * from their bytes when they were sealed; anything else (another replica's
 * entries, or what was committed before this writer existed) is read back
 * from the store and hashed here, so entries written elsewhere are covered too. Two replicas with the
 * same key sign the same note for the same size (Ed25519 is deterministic),
 * so storing it twice is a no-op.
 */
export class CheckpointWriter {
  readonly #store: LedgerStore;
  readonly #origin: string;
  readonly #signer: Signer;
  readonly #every: number;
  readonly #intervalMs: number;
  /** The caller's hooks, called through `notify`: one that throws is ignored, as the sequencers' observers are. */
  readonly #hooks: { readonly error: CheckpointWriterOptions['onError']; readonly checkpoint: CheckpointWriterOptions['onCheckpoint'] };
  readonly #frontier = MerkleFrontier.empty();
  #leaves = Buffer.alloc(32 * 1024);
  /** Committed batches handed over since the last catch-up: taken in order while they extend the frontier. */
  #observed: (readonly SealedEntry[])[] = [];
  #checkpointed = 0;
  #lastAt = 0;
  #timer: NodeJS.Timeout | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(store: LedgerStore, options: CheckpointWriterOptions) {
    this.#store = store;
    this.#origin = options.origin;
    this.#signer = ed25519Signer(options.origin, options.key);
    // the sequencers' defaults and checks: `intervalMs: 0` would spin the timer
    this.#every = positiveOption(options.every ?? CHECKPOINT_SCHEDULE_DEFAULTS.every, 'checkpoints.every');
    this.#intervalMs = positiveOption(options.intervalMs ?? CHECKPOINT_SCHEDULE_DEFAULTS.intervalMs, 'checkpoints.intervalMs');
    this.#hooks = { error: options.onError, checkpoint: options.onCheckpoint };
  }

  static async open(store: LedgerStore, options: CheckpointWriterOptions): Promise<CheckpointWriter> {
    const writer = new CheckpointWriter(store, options);
    await writer.#catchUp();
    writer.#checkpointed = (await store.latestCheckpoint())?.treeSize ?? 0;
    writer.#lastAt = Date.now();
    writer.#arm();
    return writer;
  }

  /**
   * Entries this process sealed and committed, in ledger order (the command
   * sequencer's `committed` hook). Taken at the next catch-up, before the
   * store is read; a batch that does not extend the frontier there (entries
   * of another writer in between) is skipped and read back from the store.
   */
  observe(entries: readonly SealedEntry[]): void {
    if (!this.#closed) this.#observed.push(entries);
  }

  /** Entries this writer has read. */
  get size(): number {
    return this.#frontier.size;
  }

  /** Sign a test note: proves the key is usable, for readiness. */
  probe(): void {
    signCheckpoint({ origin: this.#origin, treeSize: 0, rootHash: new Uint8Array(32) }, this.#signer);
  }

  /** Catch up and checkpoint whatever is not covered yet; resolves with the latest stored checkpoint. */
  flush(): Promise<StoredCheckpoint | null> {
    return this.#serial(async () => {
      await this.#catchUp();
      if (this.#frontier.size > this.#checkpointed) await this.#write();
      return this.#store.latestCheckpoint();
    });
  }

  /** Checkpoint if enough entries or time went by; for the timer and after writes. */
  tick(): Promise<void> {
    return this.#serial(async () => {
      await this.#catchUp();
      const uncovered = this.#frontier.size - this.#checkpointed;
      if (uncovered > 0 && (uncovered >= this.#every || Date.now() - this.#lastAt >= this.#intervalMs)) await this.#write();
    });
  }

  /**
   * RFC 9162 inclusion proof of entry `seq` against the latest stored
   * checkpoint, in the JSON of `countersign ledger prove`.
   */
  prove(seq: number): Promise<EntryProof> {
    return this.#serial(async () => {
      const stored = await this.#store.latestCheckpoint();
      if (stored === null) throw new ApiError('NO_CHECKPOINT', 'the ledger has no signed checkpoint yet');
      const { treeSize, rootHash } = parseCheckpoint(stored.note);
      if (seq >= treeSize) {
        throw new ApiError('NOT_CHECKPOINTED', `entry ${seq} is not in the checkpointed tree of ${treeSize} entries; try again after the next checkpoint`, { tree_size: treeSize });
      }
      await this.#catchUp();
      if (this.#frontier.size < treeSize) throw new CountersignError('LEDGER_VERIFY_FAILED', 'the store holds fewer entries than its latest checkpoint');
      const leaves = this.#leaves;
      const read = (i: number): Uint8Array => leaves.subarray(i * 32, i * 32 + 32);
      const proof = inclusionProof(read, seq, treeSize);
      let bytes: Uint8Array | null = null;
      for await (const entry of this.#store.read(seq, seq + 1)) bytes = entry.bytes;
      if (bytes === null || !Buffer.from(leafHash(bytes)).equals(read(seq))) {
        throw new CountersignError('LEDGER_VERIFY_FAILED', `stored entry ${seq} does not match its leaf`);
      }
      return {
        seq,
        entry: Buffer.from(bytes).toString('base64'),
        leaf_hash: Buffer.from(read(seq)).toString('base64'),
        ...inclusionProofToJson(proof),
        root: Buffer.from(rootHash).toString('base64'),
        checkpoint: stored.note,
      };
    });
  }

  /** Stop the timer and write a final checkpoint covering every entry. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.flush();
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #arm(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.tick()
        // a hook that throws never becomes an unhandled rejection: the next tick tries again
        .catch((err: unknown) => notify(this.#hooks, 'error', err))
        .finally(() => this.#arm());
    }, this.#intervalMs);
    this.#timer.unref();
  }

  async #catchUp(): Promise<void> {
    for (const batch of this.#observed.splice(0)) {
      for (const entry of batch) if (entry.seq === this.#frontier.size) this.#push(entry.hash);
    }
    for await (const entry of this.#store.read(this.#frontier.size)) {
      if (entry.seq !== this.#frontier.size) throw new CountersignError('LEDGER_VERIFY_FAILED', `the store returned entry ${entry.seq} where ${this.#frontier.size} was expected`);
      this.#push(leafHash(entry.bytes));
    }
  }

  #push(hash: Uint8Array): void {
    const at = this.#frontier.size * 32;
    if (at + 32 > this.#leaves.length) {
      const grown = Buffer.alloc(this.#leaves.length * 2);
      this.#leaves.copy(grown);
      this.#leaves = grown;
    }
    this.#leaves.set(hash, at);
    this.#frontier.push(hash);
  }

  async #write(): Promise<void> {
    const treeSize = this.#frontier.size;
    const note = signCheckpoint({ origin: this.#origin, treeSize, rootHash: this.#frontier.root() }, this.#signer);
    try {
      await this.#store.putCheckpoint({ treeSize, note });
    } catch (err) {
      // another replica stored a checkpoint of this size first (a different key signs differently): theirs stands
      const latest = await this.#store.latestCheckpoint();
      if (latest === null || latest.treeSize < treeSize) throw err;
    }
    this.#checkpointed = treeSize;
    this.#lastAt = Date.now();
    // stored: a hook that throws must not make the write look failed
    notify(this.#hooks, 'checkpoint', treeSize);
  }
}
