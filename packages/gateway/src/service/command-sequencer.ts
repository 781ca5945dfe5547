import {
  applyEntry,
  createState,
  decodeEntry,
  evictCommitted,
  isTieredKind,
  leafHash,
  projectionKey,
  sealEntry,
  storedPolicy,
  uniqueKey,
  type AppendPlan,
  type AuthorityState,
  type CommandContext,
  type CommandOutput,
  type CompiledPolicy,
  type EntryDraft,
  type IdGenerator,
  type LedgerEntry,
  type LedgerHead,
  type ProjectionRef,
  type RecordSource,
  type SealedEntry,
  type TieredKind,
  type TransactionalLedgerStore,
  tierState,
} from '@countersign/core';
import { GatewayError } from '../errors.js';
import { CheckpointScheduler, type CheckpointSchedule } from '../ledger/checkpoint-scheduler.js';
import { LeafTree, proveEntry, type EntryProof } from '../ledger/checkpointer.js';
import { notify, type SequencerObserver } from '../ledger/observer.js';
import { projectionWrites } from './replay.js';

/**
 * Batches in flight at once on a store that `pipelines`: one committing, the
 * next evaluated and sealed on the head the first will leave, waiting behind
 * it, so sealing overlaps the fsync. More would only split the same entries
 * over more fsyncs.
 */
export const PIPELINE_DEPTH = 2;

/**
 * Evaluates one command against the live state: a core command
 * (`runCommand`) or an entry the gateway itself records (a refusal, a key
 * rotation). Pure and synchronous, like the core commands it wraps. `seq` is
 * the sequence number its first entry will take: a statement signed over it
 * (a key rotation) is evaluated again, with the new `seq`, if its batch goes
 * stale.
 */
export type Evaluate = (state: AuthorityState, policy: CompiledPolicy | null, ctx: CommandContext, seq: number) => CommandOutput<unknown>;

export interface CommandJob {
  readonly evaluate: Evaluate;
  /** Evaluated even when no policy is loaded, because it reads none (a key rotation); refused BUNDLE_NOT_LOADED otherwise. */
  readonly withoutPolicy?: true;
  /** A bundle activation brings its own policy, which is the one in force once it applies. */
  readonly activates?: CompiledPolicy;
}

/** What one command did, once its batch committed. */
export interface Committed {
  readonly result: unknown;
  /** Its entries, decoded from the committed bytes. */
  readonly entries: readonly LedgerEntry[];
}

/** The sequencer hooks a command sequencer calls: checkpoints, failures no caller waits on, committed entries. */
export type CommandSequencerObserver = Pick<SequencerObserver, 'checkpoint' | 'error' | 'committed'>;

export interface CommandSequencerOptions {
  readonly clock: () => number;
  readonly ids: IdGenerator;
  /** Largest number of commands evaluated in one store transaction. */
  readonly maxBatch?: number;
  /** Policies this process knows, by bundle id; more are learned from activations. */
  readonly policies: readonly CompiledPolicy[];
  /** Signed checkpoints over every entry this writer knows (its own and those it caught up on); the plain sequencer's schedule, validated alike. */
  readonly checkpoints?: CheckpointSchedule;
  /** Failures no caller waits on (a checkpoint that could not be stored) and checkpoints written. */
  readonly observer?: CommandSequencerObserver;
  /** Monotonic milliseconds for the checkpoint interval; defaults to `clock`. */
  readonly now?: () => number;
  /**
   * Each store transaction's outcome for the write path: true once a batch
   * committed, false when the store refused it (unavailable, corrupt). A
   * stale batch (retried) or a unique-key conflict (the store wrote fine and
   * refused a duplicate) says nothing about the write path and is not reported.
   */
  readonly onWrite?: (ok: boolean) => void;
  /**
   * Entries another writer committed, applied to the state by the follower
   * (`follow`): what wakes long polls and event streams on this replica.
   */
  readonly onFollowed?: (entries: readonly LedgerEntry[]) => void;
  /**
   * Keep every record in memory even on a store that reads synchronously
   * (ADR 006 decision 1 off): for comparisons and tests. By default, on such
   * a store, committed proposals, steps and grants leave memory.
   */
  readonly keepRecords?: boolean;
}

interface Waiter {
  readonly job: CommandJob;
  resolve(committed: Committed): void;
  reject(err: unknown): void;
}

type Settlement = { readonly ok: true; readonly committed: Committed } | { readonly ok: false; readonly err: unknown };

export const DEFAULT_MAX_BATCH = 128;

/**
 * The one writer of the gateway (ADR 002, issue 12): group commit of
 * commands. Commands queue while a store transaction runs; each batch is one
 * `appendWith`: under the single-writer lock the sequencer catches up on
 * entries other replicas appended, evaluates the batch's commands one after
 * another against the live state (each sees the effects of those before it),
 * seals and applies their entries, and hands the store the sealed entries,
 * their at-most-once keys and the projection rows they touched. The store
 * only compares the head they were sealed on with its own and appends.
 *
 * Pipelining lives here alone. On a store that `pipelines`, every batch is
 * sealed on the head this sequencer expects (`#size`, `#lastHash`: the
 * committed ledger plus the batch in flight) and the next one is evaluated
 * and sent behind the one in flight, so evaluation overlaps the fsync. If the
 * batch in flight fails, or another writer appended, the store finds the
 * head moved and writes nothing (STORE_STALE); the commands are evaluated
 * and sealed again after the rebuild, as if they had just arrived.
 *
 * INVARIANT: a caller's promise resolves only after the transaction holding
 * its entries committed. If the transaction fails, the in-memory state is
 * discarded and rebuilt from the store, and every caller of the batch gets
 * the failure: nothing was allowed.
 */
export class CommandSequencer {
  readonly #store: TransactionalLedgerStore;
  readonly #clock: () => number;
  readonly #ids: IdGenerator;
  readonly #maxBatch: number;
  readonly #policies = new Map<string, CompiledPolicy>();
  readonly #observer: CommandSequencerObserver;
  readonly #now: () => number;
  readonly #checkpoints: CheckpointScheduler | null;
  readonly #onWrite: (ok: boolean) => void;
  readonly #onFollowed: (entries: readonly LedgerEntry[]) => void;
  /** The ledger is known to be longer than `#size` (a follower notification): read it when no batch is in flight. */
  #behind = false;
  /** A follower read is running: no batch starts until it ends, so the state is changed by one thing at a time. */
  #following: Promise<void> | null = null;
  #unfollow: (() => Promise<void>) | null = null;
  /**
   * The ledger as this writer knows it, committed entries only (its own and
   * those it caught up on or followed): what the one checkpointer signs and
   * what inclusion proofs are computed from. Replaced by a rebuild.
   */
  #frontier = new LeafTree();
  #state: AuthorityState = createState();
  /** Entries applied to `#state`, those of batches in flight included: the `knownSize` of the next catch-up. */
  #size = 0;
  /** The hash of entry `#size - 1` (null when empty): with `#size`, the head the next batch is sealed on. */
  #lastHash: Uint8Array | null = null;
  readonly #depth: number;
  #pending: Waiter[] = [];
  /** Commands of batches sent ahead on a head that went stale: first in line, in their order. */
  #retry: Waiter[] = [];
  /** Cycles running: each commits one batch, then writes a checkpoint if one is due. */
  readonly #cycles = new Set<Promise<void>>();
  #scheduled = false;
  /** `#state` holds effects of a batch that did not commit: rebuild before evaluating anything else. */
  #stale = false;
  #closed = false;
  /**
   * Where committed records are read back from once evicted (ADR 006
   * decision 1); null: every record stays in memory. Set to null for good
   * once another writer is seen appending (`#anotherWriter`).
   */
  #source: RecordSource | null;
  /** Entries this process knows are committed (its own, caught up on, followed or rebuilt from): a rebuild announces those past it. */
  #committed = 0;
  /** The records the last committed batch changed: they leave memory when the next batch commits. */
  #lastCommitted: readonly ProjectionRef[] = [];
  /** `kind\0id` -> batches sealed and not yet committed that changed that record: in memory only, never evicted. */
  readonly #inFlight = new Map<string, number>();

  private constructor(store: TransactionalLedgerStore, options: CommandSequencerOptions) {
    this.#store = store;
    this.#clock = options.clock;
    this.#ids = options.ids;
    this.#observer = options.observer ?? {};
    this.#now = options.now ?? options.clock;
    this.#onWrite = options.onWrite ?? (() => undefined);
    this.#onFollowed = options.onFollowed ?? (() => undefined);
    this.#checkpoints = options.checkpoints
      ? new CheckpointScheduler(store, options.checkpoints, { observer: this.#observer, now: this.#now, onInterval: () => this.#onCheckpointTimer() })
      : null;
    const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    if (!Number.isSafeInteger(maxBatch) || maxBatch <= 0) {
      throw new GatewayError('USAGE', `command batch size \`${String(maxBatch)}\` must be a positive integer`);
    }
    this.#maxBatch = maxBatch;
    this.#depth = store.pipelines === true ? PIPELINE_DEPTH : 1;
    for (const policy of options.policies) this.#policies.set(policy.bundleId, policy);
    this.#source = options.keepRecords === true ? null : this.#recordSource();
  }

  /**
   * Another writer appended to this store (a SQLite file has one writing
   * process; this is a second one, or a test): its rows may be ahead of this
   * state, so reading records back from them could apply its entries twice.
   * From now on this writer keeps every record, as on PostgreSQL; the state
   * is rebuilt before anything else is evaluated. The STORE_STALE it
   * returns makes a batch that met it go again after the rebuild.
   */
  #anotherWriter(what: string): GatewayError {
    this.#source = null;
    this.#stale = true;
    // rebuilt even if no command comes: a reader met it, and would meet it again until then
    this.#behind = true;
    this.#schedule();
    return new GatewayError('STORE_STALE', `${what}: another writer appended; this writer keeps its records in memory from now on, rebuilds and evaluates again`, { seq: this.#size });
  }

  /**
   * The store's rows as the source of evicted records, on a store that reads
   * them without waiting. A row is read only for a record no batch in flight
   * changed (those stay in memory), so the row is its current value, unless
   * the store holds entries this writer has not applied: another writer's,
   * whose rows may be ahead of the state. That is refused (STORE_STALE), and
   * the writer rebuilds, keeping every record from then on (`#anotherWriter`).
   */
  #recordSource(): RecordSource | null {
    const store = this.#store;
    if (store.readRowNow === undefined) return null;
    return {
      read: (kind: TieredKind, id: string): unknown => {
        const row = store.readRowNow?.(kind, id) ?? null;
        if (row === null) return null;
        if (row.size > this.#size) throw this.#anotherWriter(`the store holds ${row.size} entries where this writer applied ${this.#size}`);
        try {
          return JSON.parse(row.value) as unknown;
        } catch {
          // the commit wrote it as canonical JSON: what reads back otherwise is a damaged store, never a record to act on
          throw new GatewayError('STORE_CORRUPT', `the ${kind} row \`${id}\` in the projections is not JSON`, { kind, id });
        }
      },
    };
  }

  /** Rebuild the state by streaming the whole ledger through `applyEntry`. */
  static async open(store: TransactionalLedgerStore, options: CommandSequencerOptions): Promise<CommandSequencer> {
    const sequencer = new CommandSequencer(store, options);
    await sequencer.#rebuild(false);
    await sequencer.#checkpoints?.resume();
    // a crash may have left `every` or more entries uncovered: cover them before the first batch adds to them
    if (sequencer.#checkpoints?.due(sequencer.#frontier)) await sequencer.#checkpoints.write(sequencer.#frontier, 'due');
    sequencer.#armCheckpointTimer();
    return sequencer;
  }

  /**
   * The follower (ADR 002, issue 12): from now on, entries any other writer
   * commits are read and applied as soon as the store announces them
   * (PostgreSQL LISTEN/NOTIFY), outside the write lock, between this
   * process's own batches. Every replica's state, long polls and event
   * streams then see a request, grant, hold or bundle committed elsewhere
   * without waiting for a write of their own.
   */
  async follow(): Promise<void> {
    if (this.#unfollow !== null || this.#closed) return;
    this.#unfollow = await this.#store.follow((size) => {
      if (size !== null && size <= this.#size) return;
      this.#behind = true;
      this.#schedule();
    });
    // whatever was appended before the subscription took
    this.#behind = true;
    this.#schedule();
  }

  /**
   * RFC 9162 inclusion proof of entry `seq` against the latest stored
   * checkpoint. A checkpoint another replica wrote past what this one
   * followed is caught up on first.
   */
  async prove(seq: number): Promise<EntryProof> {
    const latest = await this.#store.latestCheckpoint();
    if (latest !== null && latest.treeSize > this.#frontier.size) await this.catchUp();
    return proveEntry(this.#store, this.#frontier, seq);
  }

  /**
   * Cover every entry committed so far with a checkpoint now (an export that
   * must verify to its end); false without checkpoints. Does not wait for
   * batches in flight: under steady load it would never find the writer idle.
   */
  async checkpoint(): Promise<boolean> {
    if (this.#checkpoints === null) return false;
    await this.#checkpoints.flush(this.#frontier);
    return true;
  }

  /** Read and apply what other writers committed, now (for a caller that cannot wait for a notification). */
  catchUp(): Promise<void> {
    this.#behind = true;
    this.#schedule();
    return this.#idle();
  }

  /** Resolves once no batch and no follower read is running. */
  async #idle(): Promise<void> {
    while (this.#cycles.size > 0 || this.#following !== null || (this.#behind && !this.#closed && !this.#stale)) {
      if (this.#following !== null) await this.#following;
      else if (this.#cycles.size > 0) await Promise.all(this.#cycles);
      else await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** The live state. Read-only outside the sequencer; as of the last batch this process ran. */
  get state(): AuthorityState {
    return this.#state;
  }

  get size(): number {
    return this.#size;
  }

  /**
   * The compiled policy of the active bundle: one this process was given, or
   * the text the ledger holds for that id (a bundle activated by a release on
   * any replica, issue 13). Null when none is active, or for a ledger written
   * before bundle texts were recorded whose bundle this process was not given.
   */
  get policy(): CompiledPolicy | null {
    const id = this.#state.bundle.bundle_id;
    if (id === null) return null;
    const known = this.#policies.get(id);
    if (known !== undefined) return known;
    const stored = storedPolicy(this.#state, id);
    if (stored !== null) this.#policies.set(id, stored);
    return stored;
  }

  submit(job: CommandJob): Promise<Committed> {
    if (this.#closed) return Promise.reject(new GatewayError('SEQUENCER_CLOSED', 'the gateway is closed'));
    return new Promise<Committed>((resolve, reject) => {
      this.#pending.push({ job, resolve, reject });
      this.#schedule();
    });
  }

  /** Stop taking commands, settle the ones queued, and cover every entry with a last checkpoint. */
  async close(): Promise<void> {
    this.#closed = true;
    const unfollow = this.#unfollow;
    this.#unfollow = null;
    await unfollow?.().catch(() => undefined);
    if (this.#following !== null) await this.#following;
    while (this.#queued() > 0 || this.#cycles.size > 0) {
      if (this.#cycles.size === 0) this.#run();
      await Promise.all(this.#cycles);
    }
    await this.#checkpoints?.close(this.#frontier);
  }

  #queued(): number {
    return this.#retry.length + this.#pending.length;
  }

  /**
   * A free slot, or none: a stale state is rebuilt only once nothing else is
   * in flight; nothing runs beside a follower read.
   *
   * INVARIANT (the checkpoint bound, ADR 002): a batch is sent behind another
   * only while the entries past the last stored checkpoint, those in flight
   * counted, stay below `every`. The batch in flight that reaches `every`
   * makes a checkpoint due when it commits, and its cycle writes it before
   * any later batch is sent: at a crash at most `every` - 1 + one batch of
   * entries are uncovered.
   */
  #canRun(): boolean {
    if (this.#following !== null) return false;
    if (this.#cycles.size === 0) return true;
    if (this.#stale || this.#cycles.size >= this.#depth) return false;
    return !(this.#checkpoints?.pressing(this.#size) ?? false);
  }

  #schedule(): void {
    if (this.#scheduled) return;
    const follow = this.#behind && this.#cycles.size === 0 && this.#following === null && !this.#closed;
    if (!follow && (this.#queued() === 0 || !this.#canRun())) return;
    this.#scheduled = true;
    // setImmediate: commands submitted in the same turn share one transaction
    setImmediate(() => {
      this.#scheduled = false;
      // queued commands first: their batch catches up under the lock anyway, which also settles `#behind`
      if (this.#queued() > 0 && this.#canRun()) this.#run();
      else if (this.#behind && this.#cycles.size === 0 && this.#following === null && !this.#closed) this.#startFollow();
    });
  }

  #startFollow(): void {
    this.#behind = false;
    const reading = this.#readFollowed()
      .catch((err: unknown) => {
        // the entries stay in the store: the next notification, batch or catch-up reads them
        notify(this.#observer, 'error', err);
      })
      .finally(() => {
        this.#following = null;
        // followed entries count toward `every` as this writer's own do: a checkpoint due now is written now
        if (!this.#closed && !this.#stale && this.#cycles.size === 0 && this.#checkpoints?.due(this.#frontier)) this.#run();
        else this.#armCheckpointTimer();
        this.#schedule();
      });
    this.#following = reading;
  }

  /**
   * Apply every entry past `#size`, in order, outside the write lock: only
   * committed rows are read, and no batch of this process runs meanwhile
   * (`#canRun`), so the state moves from one committed ledger to a longer one.
   */
  async #readFollowed(): Promise<void> {
    if (this.#stale) await this.#rebuild();
    const entries: LedgerEntry[] = [];
    for await (const sealed of this.#store.read(this.#size)) {
      if (this.#source !== null) {
        // another writer's entry, whose rows are ahead of this state: a rebuild that keeps every record reads them all, and announces them
        this.#anotherWriter(`entry ${sealed.seq} was appended by another writer`);
        return this.#rebuild();
      }
      if (sealed.seq !== this.#size) throw new GatewayError('STORE_CORRUPT', `following read entry ${sealed.seq} where ${this.#size} was expected`, { seq: this.#size });
      const entry = decodeEntry(sealed.bytes);
      applyEntry(this.#state, entry);
      // the root a checkpoint signs is recomputed from the bytes, never taken from a stored hash
      this.#frontier.push(verifiedLeaf(sealed));
      this.#size += 1;
      this.#committed = this.#size;
      this.#lastHash = sealed.hash;
      entries.push(entry);
    }
    if (entries.length > 0) this.#onFollowed(entries);
  }

  #run(): void {
    const retried = this.#retry.splice(0, this.#maxBatch);
    const batch = [...retried, ...this.#pending.splice(0, this.#maxBatch - retried.length)];
    const cycle: Promise<void> = this.#cycleOf(batch).finally(() => {
      this.#cycles.delete(cycle);
      this.#schedule();
    });
    this.#cycles.add(cycle);
    // a second slot takes what is left behind this batch
    this.#schedule();
  }

  async #cycleOf(batch: Waiter[]): Promise<void> {
    if (batch.length > 0) await this.#commit(batch);
    // the last batch in flight rebuilds a stale state at once: readers never see effects that did not commit for long
    if (this.#stale && this.#cycles.size === 1) await this.#rebuild().catch(() => undefined);
    // no checkpoint while the state waits for its rebuild, which replaces the frontier
    if (!this.#stale && this.#checkpoints?.due(this.#frontier)) await this.#checkpoints.write(this.#frontier, 'due');
    this.#armCheckpointTimer();
  }

  async #commit(batch: Waiter[]): Promise<void> {
    if (this.#stale) {
      try {
        await this.#rebuild();
      } catch (err) {
        for (const w of batch) w.reject(err);
        return;
      }
    }
    const settlements: (Settlement | null)[] = batch.map(() => null);
    /** The records this batch changed, counted in flight from the moment they are (ADR 006 decision 1). */
    let changed: ProjectionRef[] = [];
    const local: SealedEntry[] = [];
    const caught: SealedEntry[] = [];
    const caughtLeaves: Uint8Array[] = [];
    const build = (caughtUp: readonly SealedEntry[], head: LedgerHead): AppendPlan => {
      // appended one by one: a spread passes every item as an argument, and a commit of tens of
      // thousands of entries (an activation wrote three a live grant, before ADR 006 decision 4)
      // overflows the stack of a call
      appendAll(caughtLeaves, this.#catchUp(caughtUp, head));
      appendAll(caught, caughtUp);
      const drafts: EntryDraft[] = [];
      const uniqueKeys: (string | null)[] = [];
      const touched = new Map<string, ProjectionRef>();
      let prevHash = head.lastHash;
      batch.forEach((waiter, index) => {
        const outcome = this.#evaluate(waiter.job, prevHash);
        // a record read back from a store another writer appended to: the whole batch is stale, not this command
        if (!outcome.ok && isStale(outcome.err)) throw outcome.err;
        if (!outcome.ok) {
          settlements[index] = outcome;
          return;
        }
        const entries: LedgerEntry[] = [];
        for (const sealed of outcome.sealed) {
          // apply what the bytes say, never the draft: the replay path and this path must agree
          const entry = decodeEntry(sealed.bytes);
          for (const ref of applyEntry(this.#state, entry)) touched.set(projectionKey(ref.kind, ref.id), ref);
          entries.push(entry);
          local.push(sealed);
          this.#size += 1;
          prevHash = sealed.hash;
        }
        this.#lastHash = prevHash;
        appendAll(drafts, outcome.drafts);
        for (const draft of outcome.drafts) uniqueKeys.push(uniqueKey(draft));
        settlements[index] = { ok: true, committed: { result: outcome.result, entries } };
      });
      const projections = projectionWrites(this.#state, touched.values());
      changed = this.#holdInFlight(touched.values());
      // sealed here, once: the store compares the head they extend with its own and appends them as they are
      return { drafts, uniqueKeys, projections, sealed: local };
    };

    try {
      // until the store answers, #state holds this batch's uncommitted effects (and the next batch builds on them)
      // pipelined: sealed on the head this sequencer expects, compared by the store; else on the head read under the lock
      const options = this.#depth > 1 ? { expected: { size: this.#size, lastHash: this.#lastHash } } : {};
      await this.#store.appendWith(this.#size, build, options);
    } catch (err) {
      this.#releaseInFlight(changed);
      // ADR 002 §3: discard and rebuild (once nothing else is in flight, see #canRun)
      this.#stale = true;
      if (isStale(err)) {
        // nothing of it was written: its commands go first once the state is rebuilt
        this.#retry.push(...batch);
        return;
      }
      if (!isConflict(err)) this.#onWrite(false);
      // alone in flight, rebuild before anyone hears of the failure; otherwise the last batch in flight does (#cycleOf)
      if (this.#cycles.size === 1) await this.#rebuild().catch(() => undefined);
      // every caller of the batch gets the failure
      for (const w of batch) w.reject(err);
      return;
    }
    this.#onWrite(true);
    this.#committed = Math.max(this.#committed, (local.at(-1)?.seq ?? caught.at(-1)?.seq ?? -1) + 1);
    this.#releaseInFlight(changed);
    // the batch before this one is in the store's rows, and its callers have had their answers: what nothing else
    // holds leaves memory. This batch's records stay until the next commit, for the answers about to be built from them.
    if (!this.#stale) evictCommitted(this.#state, this.#lastCommitted, (kind, id) => this.#inFlight.has(projectionKey(kind, id)));
    this.#lastCommitted = changed;
    // the root a checkpoint signs is recomputed from the bytes, never taken from a stored hash
    for (const leaf of caughtLeaves) this.#frontier.push(leaf);
    for (const entry of local) this.#frontier.push(entry.hash);
    if (local.length > 0) notify(this.#observer, 'committed', local);
    if (caught.length > 0) this.#onFollowed(caught.map((sealed) => decodeEntry(sealed.bytes)));
    batch.forEach((w, i) => {
      const settled = settlements[i];
      if (settled === null || settled === undefined) w.reject(new GatewayError('STORE_CORRUPT', 'a command of the batch was not evaluated'));
      else if (settled.ok) w.resolve(settled.committed);
      else w.reject(settled.err);
    });
  }

  /**
   * Apply what other writers appended since this process last looked.
   *
   * A head that does not meet this process's count is this process's view
   * gone stale, not a corrupt store: it counted a batch of its own that
   * failed. Nothing is written; the batch is evaluated again on the rebuilt
   * state. Corruption is what the stored bytes say (a rebuild that finds a
   * gap, an entry that does not decode, a stored hash that is not the leaf
   * hash of its bytes).
   */
  #catchUp(caughtUp: readonly SealedEntry[], head: LedgerHead): Uint8Array[] {
    // rows the other writer wrote are ahead of records this state would read back while applying its entries
    if (caughtUp.length > 0 && this.#source !== null) throw this.#anotherWriter(`${caughtUp.length} entries were appended by another writer`);
    const leaves: Uint8Array[] = [];
    for (const sealed of caughtUp) {
      if (sealed.seq !== this.#size) {
        throw new GatewayError('STORE_STALE', `catching up read entry ${sealed.seq} where ${this.#size} was expected: evaluate again`, { seq: this.#size });
      }
      // the root a checkpoint signs is recomputed from the bytes, never taken from a stored hash
      leaves.push(verifiedLeaf(sealed));
      applyEntry(this.#state, decodeEntry(sealed.bytes));
      this.#size += 1;
    }
    if (this.#size !== head.size) {
      throw new GatewayError('STORE_STALE', `the ledger head is ${head.size} but this writer counted ${this.#size}: evaluate again`, { seq: this.#size });
    }
    this.#lastHash = head.lastHash;
    return leaves;
  }

  /**
   * Evaluate one command and seal its drafts, without touching the state: a
   * command that throws, or whose drafts cannot be sealed (an attacker's
   * value that is not canonical JSON), fails alone, and its neighbours in the
   * batch go on.
   */
  #evaluate(
    job: CommandJob,
    prevHash: Uint8Array | null,
  ): { readonly ok: true; readonly result: unknown; readonly drafts: readonly EntryDraft[]; readonly sealed: readonly SealedEntry[] } | { readonly ok: false; readonly err: unknown } {
    if (job.activates) this.#policies.set(job.activates.bundleId, job.activates);
    const policy = this.policy;
    if (!job.activates && job.withoutPolicy !== true && policy === null) {
      const id = this.#state.bundle.bundle_id;
      return {
        ok: false,
        err: new GatewayError(
          'BUNDLE_NOT_LOADED',
          id === null ? 'no policy bundle is active' : `the active bundle \`${id}\` has no text in the ledger (recorded before issue 13) and is not loaded here: restart with \`--policy\` naming it`,
          { bundle_id: id },
        ),
      };
    }
    try {
      const { entries: drafts, result } = job.evaluate(this.#state, policy, { now: this.#clock(), ids: this.#ids }, this.#size);
      let prev = prevHash;
      const sealed = drafts.map((draft, i) => {
        const entry = sealEntry(draft, this.#size + i, prev);
        prev = entry.hash;
        return entry;
      });
      return { ok: true, result, drafts, sealed };
    } catch (err) {
      return { ok: false, err };
    }
  }

  /**
   * Replace the state with one rebuilt from the store. Unless `announce` is
   * false (the first), the entries this process had not seen committed
   * (another writer's, read here instead of followed) go to `onFollowed`.
   */
  async #rebuild(announce = true): Promise<void> {
    const state = createState();
    const frontier = new LeafTree();
    let size = 0;
    let lastHash: Uint8Array | null = null;
    const unseen: LedgerEntry[] = [];
    for await (const sealed of this.#store.read(0)) {
      if (sealed.seq !== size) throw new GatewayError('STORE_CORRUPT', `the store returned entry ${sealed.seq} where ${size} was expected`, { seq: size });
      const entry = decodeEntry(sealed.bytes);
      applyEntry(state, entry);
      if (announce && sealed.seq >= this.#committed) unseen.push(entry);
      // the root a checkpoint signs is recomputed from the bytes, never taken from the stored hash
      frontier.push(verifiedLeaf(sealed));
      size += 1;
      lastHash = sealed.hash;
    }
    this.#state = state;
    this.#frontier = frontier;
    this.#size = size;
    this.#lastHash = lastHash;
    this.#stale = false;
    // the whole ledger is committed and nothing is in flight: all that is not open work may leave memory
    this.#inFlight.clear();
    this.#lastCommitted = [];
    if (this.#source !== null) tierState(state, this.#source);
    this.#committed = size;
    if (unseen.length > 0) this.#onFollowed(unseen);
  }

  #holdInFlight(refs: Iterable<ProjectionRef>): ProjectionRef[] {
    const held: ProjectionRef[] = [];
    if (this.#source === null) return held;
    for (const ref of refs) {
      if (!isTieredKind(ref.kind)) continue;
      held.push(ref);
      const key = projectionKey(ref.kind, ref.id);
      this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1);
    }
    return held;
  }

  #releaseInFlight(refs: readonly ProjectionRef[]): void {
    for (const ref of refs) {
      const key = projectionKey(ref.kind, ref.id);
      const count = this.#inFlight.get(key) ?? 0;
      if (count <= 1) this.#inFlight.delete(key);
      else this.#inFlight.set(key, count - 1);
    }
  }

  /** Entries not yet covered get a checkpoint after `intervalMs` even if no command follows. */
  #armCheckpointTimer(): void {
    if (!this.#closed) this.#checkpoints?.arm(this.#frontier);
  }

  /** The checkpoint timer fired: run a cycle to write the checkpoint, or wait for the running ones with another timer. */
  #onCheckpointTimer(): void {
    if (this.#cycles.size === 0) this.#run();
    else this.#armCheckpointTimer();
  }
}

function isStale(err: unknown): boolean {
  return err instanceof GatewayError && err.code === 'STORE_STALE';
}

function isConflict(err: unknown): boolean {
  return err instanceof GatewayError && err.code === 'STORE_CONFLICT';
}

/**
 * The leaf hash of a stored entry, recomputed from its bytes. A stored hash
 * that differs is corruption in the stored bytes (STORE_CORRUPT): the store
 * compares heads by that hash, so every append would otherwise be found stale.
 */
function verifiedLeaf(sealed: SealedEntry): Uint8Array {
  const leaf = leafHash(sealed.bytes);
  if (!Buffer.from(leaf).equals(Buffer.from(sealed.hash.buffer, sealed.hash.byteOffset, sealed.hash.byteLength))) {
    throw new GatewayError('STORE_CORRUPT', `the stored hash of entry ${sealed.seq} is not the leaf hash of its bytes`, { seq: sealed.seq });
  }
  return leaf;
}

/** `target.push(...items)` for any length: a spread of a hundred thousand items or so overflows the call stack. */
function appendAll<T>(target: T[], items: readonly T[]): void {
  for (const item of items) target.push(item);
}
