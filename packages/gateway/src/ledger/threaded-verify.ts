import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import {
  CountersignError,
  createChainVerifier,
  VerifyTree,
  type ChainVerifier,
  type CoreErrorCode,
  type LedgerVerifier,
  type NoteVerifierKey,
  type PendingCheckpoint,
  type TreeSink,
  type TreeState,
  type VerifierOptions,
  type VerifyResult,
} from '@countersign/core';

/**
 * Ledger verification on two threads, with the same verdict as
 * `createVerifier`.
 *
 * The calling thread runs core's chain side unchanged: it reads each entry's
 * bytes, computes its leaf hash, and checks seq, link and format. A worker
 * thread runs the tree side (core's `VerifyTree`): it takes the leaf hashes in
 * batches (transferred ArrayBuffers, 32 bytes a leaf) with each checkpoint at
 * the position where the chain side found it due, keeps the Merkle frontier,
 * and checks every checkpoint's signature and root. The node hashes and the
 * signatures, a fifth of the single-thread work, leave the calling thread.
 *
 * Same report, whichever thread finds the problem: the chain side hands a
 * checkpoint over exactly where the single-thread verifier would judge it, and
 * every later step of the chain side comes after that point in the stream. So
 * a failure the worker reports always precedes any the calling thread finds
 * since, and wins. Where a verdict needs the tree (naming the culprit of an
 * anomaly, the end of input), the calling thread blocks until the worker has
 * judged everything sent, then runs core's own diagnosis on the tree it gets
 * back.
 *
 * The API is synchronous like `LedgerVerifier`: waits use `Atomics.wait` on a
 * small shared control block, replies come through `receiveMessageOnPort`.
 * The worker may lag `maxInFlight` batches at most, so memory stays bounded
 * whatever the two threads' speeds.
 */

export interface ThreadedVerifierOptions extends VerifierOptions {
  /** Leaf hashes per message to the worker. */
  readonly batchSize?: number;
  /** Batches the worker may lag behind before the calling thread waits for it. */
  readonly maxInFlight?: number;
}

export const THREADED_VERIFY_DEFAULTS = { batchSize: 4096, maxInFlight: 32 } as const;

const HASH_SIZE = 32;
/** Slots of the shared control block (handed to the worker, which closes over nothing). */
const SLOTS = {
  /** Batches the worker has taken in. */
  processed: 0,
  /** 1 once the worker found a failure: the calling thread stops early. */
  failed: 1,
  /** Bumped (and notified) on every step of the worker: a batch, a reply, its exit. */
  events: 2,
  /** 1 once the worker's thread is exiting. */
  exited: 3,
} as const;
const CONTROL_SLOTS = 4;
/** How long the calling thread waits without a sign of life from the worker before it fails closed. */
const STALL_MS = 60_000;

interface Judgement {
  /** Leaves of the batch that come before it. */
  readonly at: number;
  readonly note: string;
  readonly treeSize: number;
  /** The vkeys in force, or null when unchanged since the last judgement. */
  readonly keys: readonly string[] | null;
}

type Request = { readonly op: 'leaves'; readonly leaves: ArrayBuffer; readonly count: number; readonly judgements: readonly Judgement[] } | { readonly op: 'state' };

interface FailureData {
  readonly code: string;
  readonly message: string;
  readonly details: Record<string, unknown> | undefined;
}

type Reply = { readonly failure: FailureData } | { readonly state: TreeState };

type Outcome = { readonly failure: CountersignError } | { readonly state: TreeState };

interface ThreadData {
  readonly treeModule: string;
  readonly origin: string;
  readonly control: SharedArrayBuffer;
  readonly replies: MessagePort;
  readonly slots: typeof SLOTS;
}

/** The calling thread's end of the worker: a `TreeSink` that batches leaves and checkpoints for it. */
class TreeThread implements TreeSink {
  readonly #origin: string;
  readonly #treeModule: string;
  readonly #batchSize: number;
  readonly #maxInFlight: number;
  readonly #control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * Int32Array.BYTES_PER_ELEMENT));
  #worker: Worker | null = null;
  #replies: MessagePort | null = null;
  /** Leaf hashes of the batch in hand, binary strings back to back. */
  #leaves = '';
  #count = 0;
  #judgements: Judgement[] = [];
  #keysSent: readonly NoteVerifierKey[] | null = null;
  #sent = 0;
  #failure: CountersignError | null = null;
  #closed = false;

  constructor(origin: string, batchSize: number, maxInFlight: number, treeModule: string) {
    if (!Number.isSafeInteger(batchSize) || batchSize < 1 || !Number.isSafeInteger(maxInFlight) || maxInFlight < 1) {
      throw new CountersignError('INTERNAL', 'batch size and batches in flight must be positive integers');
    }
    this.#origin = origin;
    this.#batchSize = batchSize;
    this.#maxInFlight = maxInFlight;
    this.#treeModule = treeModule;
  }

  /** Start the worker; it loads the tree module while the calling thread reads its first batch. */
  start(): void {
    const { port1, port2 } = new MessageChannel();
    const data: ThreadData = { treeModule: this.#treeModule, origin: this.#origin, control: this.#control.buffer as SharedArrayBuffer, replies: port2, slots: SLOTS };
    // the worker runs the function's own compiled source: no separate file to locate from src or dist
    // The tree side keeps O(log n) hashes and a batch or two: a small heap is plenty,
    // and every megabyte a thread holds counts against the verifier's memory budget.
    const resourceLimits = { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32, stackSizeMb: 1 };
    const worker = new Worker(`(${treeThread.toString()})()`, { eval: true, workerData: data, transferList: [port2], resourceLimits });
    // never keeps the process alive: every wait is synchronous, and the owner terminates it
    worker.unref();
    port1.unref();
    this.#worker = worker;
    this.#replies = port1;
  }

  push(leaf: string): void {
    // Joining strings costs next to nothing per leaf (V8 links them); the batch is
    // encoded to bytes once, at flush. Writing each leaf's 32 bytes as it comes costs
    // the calling thread, the one that sets the pace, about a tenth of its time.
    this.#leaves += leaf;
    this.#count += 1;
    if (this.#count === this.#batchSize) this.flush();
  }

  judge(cp: PendingCheckpoint, keys: readonly NoteVerifierKey[]): void {
    // the chain side replaces its key list on a rotation, so identity tells a change
    const sendKeys = keys !== this.#keysSent;
    this.#keysSent = keys;
    this.#judgements.push({ at: this.#count, note: cp.note, treeSize: cp.treeSize, keys: sendKeys ? keys.map((k) => k.text) : null });
  }

  /** Send the batch in hand; throws the worker's failure as soon as it has one, so a bad ledger stops early. */
  flush(): void {
    this.#post();
    if (Atomics.load(this.#control, SLOTS.failed) !== 0) throw this.#failureOf(this.outcome());
  }

  /** Everything sent so far judged: the worker's first failure, or its tree. Blocks until the worker answers. */
  outcome(): Outcome {
    if (this.#failure !== null) return { failure: this.#failure };
    this.#post();
    this.#request({ op: 'state' });
    let reply: Reply | undefined;
    const replies = this.#replies as MessagePort;
    this.#wait(() => (reply = receiveMessageOnPort(replies)?.message as Reply | undefined) !== undefined);
    const answer = reply as Reply;
    if ('state' in answer) return answer;
    this.#failure = new CountersignError(answer.failure.code as CoreErrorCode, answer.failure.message, answer.failure.details);
    return { failure: this.#failure };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#replies?.close();
    await this.#worker?.terminate();
  }

  #failureOf(outcome: Outcome): CountersignError {
    return 'failure' in outcome ? outcome.failure : new CountersignError('INTERNAL', 'the verifier thread flagged a failure it does not report');
  }

  #post(): void {
    if (this.#count === 0 && this.#judgements.length === 0) return;
    // a buffer of its own (not a slice of Node's pool), so it can be transferred
    const bytes = Buffer.allocUnsafeSlow(this.#count * HASH_SIZE);
    bytes.write(this.#leaves, 'latin1');
    const leaves = bytes.buffer as ArrayBuffer;
    this.#request({ op: 'leaves', leaves, count: this.#count, judgements: this.#judgements }, [leaves]);
    this.#leaves = '';
    this.#count = 0;
    this.#judgements = [];
    this.#sent += 1;
    // bounded memory: never more than maxInFlight batches queued for the worker
    const behind = (): boolean => this.#sent - Atomics.load(this.#control, SLOTS.processed) <= this.#maxInFlight;
    if (!behind()) this.#wait(behind);
  }

  #request(request: Request, transfer: ArrayBuffer[] = []): void {
    if (this.#closed || this.#worker === null) throw new CountersignError('INTERNAL', 'the verifier thread is not running');
    this.#worker.postMessage(request, transfer);
  }

  /** Block until `done()`, waking on each step of the worker; fail closed if it dies or stalls. */
  #wait(done: () => boolean): void {
    const control = this.#control;
    let quietSince = performance.now();
    for (;;) {
      const seen = Atomics.load(control, SLOTS.events);
      if (done()) return;
      if (Atomics.load(control, SLOTS.exited) !== 0) throw new CountersignError('INTERNAL', 'the verifier thread stopped');
      if (Atomics.wait(control, SLOTS.events, seen, 1000) !== 'timed-out') quietSince = performance.now();
      else if (performance.now() - quietSince > STALL_MS) throw new CountersignError('INTERNAL', 'the verifier thread does not answer');
    }
  }
}

/** Where the worker loads core's tree side from: that module alone loads in a quarter of the time all of core takes. */
function treeModuleUrl(): string {
  const core = createRequire(import.meta.url).resolve('@countersign/core');
  return new URL('./ledger/verify-tree.js', pathToFileURL(core)).href;
}

/** A `LedgerVerifier` whose tree side runs on a worker thread; see the module comment. */
export class ThreadedVerifier implements LedgerVerifier {
  readonly #origin: string;
  readonly #thread: TreeThread;
  readonly #chain: ChainVerifier;

  private constructor(origin: string, thread: TreeThread, chain: ChainVerifier) {
    this.#origin = origin;
    this.#thread = thread;
    this.#chain = chain;
  }

  /** Start the worker. `treeModule` is for tests (a module that fails to load). */
  static start(options: ThreadedVerifierOptions & { readonly treeModule?: string }): ThreadedVerifier {
    const { batchSize = THREADED_VERIFY_DEFAULTS.batchSize, maxInFlight = THREADED_VERIFY_DEFAULTS.maxInFlight } = options;
    const thread = new TreeThread(options.origin, batchSize, maxInFlight, options.treeModule ?? treeModuleUrl());
    // the chain side checks the options (keys) before any thread starts
    const verifier = new ThreadedVerifier(options.origin, thread, createChainVerifier(options, thread));
    thread.start();
    return verifier;
  }

  get size(): number {
    return this.#chain.size;
  }

  entry(seq: number | null, bytes: Uint8Array): void {
    try {
      if (!this.#chain.entry(seq, bytes)) this.#chain.settle(this.#tree());
    } catch (err) {
      throw this.#stop(err);
    }
  }

  checkpoint(note: string): void {
    try {
      this.#chain.checkpoint(note);
    } catch (err) {
      throw this.#stop(err);
    }
  }

  finish(options?: { readonly expectedSize?: number }): VerifyResult {
    let result: VerifyResult;
    try {
      result = this.#chain.finish(this.#tree(), options);
    } catch (err) {
      throw this.#stop(err);
    }
    void this.close();
    return result;
  }

  /**
   * What to report when the caller meets `err` at this point of the input (a
   * line that is not an item, a read that fails): a failure the worker found
   * comes earlier in the stream, and wins. Blocks until the worker answers.
   */
  firstFailure(err: unknown): unknown {
    try {
      const outcome = this.#thread.outcome();
      return 'failure' in outcome ? outcome.failure : err;
    } catch {
      // the worker is closed or gone: nothing it found can be told
      return err;
    }
  }

  /** Stop the worker; `finish` and every failure do. */
  close(): Promise<void> {
    return this.#thread.close();
  }

  /** The worker's tree over everything accepted, or its failure, thrown. */
  #tree(): VerifyTree {
    const outcome = this.#thread.outcome();
    if ('failure' in outcome) throw outcome.failure;
    return VerifyTree.fromState(this.#origin, outcome.state);
  }

  #stop(err: unknown): unknown {
    const first = this.firstFailure(err);
    void this.close();
    return first;
  }
}

/**
 * The worker's whole program. It runs from its own source text in a fresh
 * thread, so it closes over nothing: `require`, the worker data and the tree
 * module it loads.
 */
function treeThread(): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- the worker is evaluated as CommonJS source */
  const { parentPort, workerData } = require('node:worker_threads') as typeof WorkerThreads;
  /* eslint-enable @typescript-eslint/no-require-imports */
  type TreeModule = { VerifyTree: typeof VerifyTree; toVerifierKeys: (keys: readonly string[]) => NoteVerifierKey[] };
  const data = workerData as ThreadData;
  const port = parentPort!;
  const control = new Int32Array(data.control);
  const { processed: PROCESSED, failed: FAILED, events: EVENTS, exited: EXITED } = data.slots;
  const signal = (): void => {
    Atomics.add(control, EVENTS, 1);
    Atomics.notify(control, EVENTS);
  };
  process.on('exit', () => {
    Atomics.store(control, EXITED, 1);
    signal();
  });

  let tree: VerifyTree | null = null;
  let toKeys: TreeModule['toVerifierKeys'] | null = null;
  let keys: NoteVerifierKey[] = [];
  let failure: FailureData | null = null;
  let ready = false;
  const held: Request[] = [];

  const fail = (err: unknown): void => {
    const e = err as { name?: unknown; code?: unknown; message?: unknown; details?: Record<string, unknown> };
    const known = e.name === 'CountersignError' && typeof e.code === 'string';
    failure ??= { code: known ? (e.code as string) : 'INTERNAL', message: String(e.message ?? err), details: known ? e.details : undefined };
    Atomics.store(control, FAILED, 1);
  };

  const take = (request: Request & { op: 'leaves' }): void => {
    if (tree === null || toKeys === null) return;
    const leaves = Buffer.from(request.leaves, 0, request.count * 32);
    let i = 0;
    const pushTo = (end: number): void => {
      for (; i < end; i += 1) tree!.push(leaves.toString('latin1', i * 32, i * 32 + 32));
    };
    for (const j of request.judgements) {
      pushTo(j.at);
      if (j.keys !== null) keys = toKeys(j.keys);
      tree.judge({ note: j.note, treeSize: j.treeSize }, keys);
    }
    pushTo(request.count);
  };

  const handle = (request: Request): void => {
    try {
      if (request.op === 'state') data.replies.postMessage(failure !== null ? { failure } : { state: tree!.state() });
      // after a failure the rest only counts: the verdict is the first failure
      else if (failure === null) take(request);
    } catch (err) {
      fail(err);
      if (request.op === 'state') data.replies.postMessage({ failure });
    } finally {
      if (request.op === 'leaves') Atomics.add(control, PROCESSED, 1);
      signal();
    }
  };

  port.on('message', (request: Request) => (ready ? handle(request) : held.push(request)));
  // import() as source text: a test runner that rewrites this module's imports leaves the worker's alone
  const load = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<TreeModule>;
  load(data.treeModule)
    .then(
      (module) => {
        tree = new module.VerifyTree(data.origin);
        toKeys = module.toVerifierKeys;
      },
      (err: unknown) => fail(new Error(`the verifier thread cannot load the tree module: ${String((err as Error).message ?? err)}`)),
    )
    .finally(() => {
      ready = true;
      for (const request of held.splice(0)) handle(request);
    });
}
