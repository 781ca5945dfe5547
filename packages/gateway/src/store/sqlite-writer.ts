import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type * as WorkerThreads from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { LedgerHead, SealedEntry } from '@countersign/core';
import { GatewayError } from '../errors.js';

/**
 * The write connection of a SQLite ledger, on a thread of its own.
 *
 * better-sqlite3 is synchronous: with `synchronous=FULL` every COMMIT waits
 * for an fsync of the WAL, and on the event loop that wait stops every other
 * request for its whole length (milliseconds a batch on this hardware). Here
 * the same statements run on a worker thread; the durability contract is
 * unchanged (the worker's connection is `synchronous=FULL` too, and a caller
 * hears back only after its COMMIT returned), but the event loop keeps
 * parsing, authenticating and answering while the disk syncs.
 *
 * One transaction at a time: `begin` takes the write lock (`BEGIN IMMEDIATE`)
 * and reads the head and the entries appended since the caller last looked;
 * the caller builds its plan on the main thread; `commit` inserts it and
 * commits, or `rollback` abandons it. `append` is a whole transaction in one
 * message: compare the head, insert, commit. The store posts nothing while a
 * `begin` ... `commit` is open, so the worker never sees two transactions
 * interleaved. The thread never seals: it inserts the entries it is given.
 */
export interface WriterOptions {
  readonly path: string;
  readonly synchronous: string;
  readonly busyTimeoutMs: number;
}

/** Entries, their at-most-once keys and projection rows of one commit. */
export interface WriterCommit {
  readonly sealed: readonly SealedEntry[];
  readonly uniqueKeys: readonly (string | null)[];
  readonly projections: readonly { readonly kind: string; readonly id: string; readonly value: string | null }[];
}

export type CheckpointOutcome = { readonly kind: 'stored' | 'same' | 'different' } | { readonly kind: 'beyond'; readonly size: number };

/** A commit's rows, packed into transferable buffers: the structured clone of many small objects costs more than the copy. */
interface Packed {
  readonly hashes: ArrayBuffer;
  readonly bytes: ArrayBuffer;
  readonly ends: readonly number[];
  readonly seqs: readonly number[];
  readonly keys: readonly (string | null)[];
  /** Projection kind, id and value of each row, back to back in UTF-8; `texts[3i+2]` is -1 for a deletion. */
  readonly texts: ArrayBuffer;
  readonly textEnds: readonly number[];
}

type Request =
  | { readonly op: 'begin'; readonly knownSize: number }
  | ({ readonly op: 'commit' } & Packed)
  | ({ readonly op: 'append'; readonly expectSize: number; readonly expectHash: ArrayBuffer | null } & Packed)
  | { readonly op: 'rollback' }
  | { readonly op: 'synchronous' }
  | { readonly op: 'checkpoint'; readonly treeSize: number; readonly note: string }
  | { readonly op: 'probe'; readonly at: string }
  | { readonly op: 'close' };

type Reply = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly message: string; readonly code: string | null };

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

const HASH_SIZE = 32;

export class SqliteWriterThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  #failure: Error | null = null;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: Reply) => this.#settle(reply));
    worker.on('error', (err) => this.#fail(err));
    worker.on('exit', () => this.#fail(new Error('the sqlite writer thread exited')));
    // idle, the thread never keeps the process alive; a call in flight does (see #call)
    worker.unref();
  }

  /** Start the thread; it opens its connection on the first call, which reports any failure to. */
  static start(options: WriterOptions): SqliteWriterThread {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    // the worker runs the function's own compiled source: no separate file to locate from src or dist
    const worker = new Worker(`(${writerThread.toString()})()`, { eval: true, workerData: { ...options, driver } });
    return new SqliteWriterThread(worker);
  }

  /** `BEGIN IMMEDIATE`, then the head and every entry from `knownSize` on. */
  async begin(knownSize: number): Promise<{ readonly head: LedgerHead; readonly caughtUp: SealedEntry[] }> {
    const result = (await this.#call({ op: 'begin', knownSize })) as { size: number; lastHash: Uint8Array | null; caughtUp: SealedEntry[] };
    return { head: { size: result.size, lastHash: result.lastHash }, caughtUp: result.caughtUp };
  }

  /** Insert and COMMIT; the promise resolves once the commit (and its fsync) returned. */
  async commit(commit: WriterCommit): Promise<void> {
    const packed = pack(commit);
    await this.#call({ op: 'commit', ...packed }, transfers(packed));
  }

  /**
   * One message, one transaction, compare-and-append on a head the caller
   * only believes in: `BEGIN IMMEDIATE`, then insert and COMMIT only if the
   * ledger still ends at `expected` (size and last hash); otherwise roll
   * back, write nothing and resolve `stale`. Messages are handled in order,
   * so a caller may send the next append, sealed on the head this one will
   * leave, before this one committed: if this one fails, the next finds the
   * head it expected missing.
   */
  async append(expected: LedgerHead, commit: WriterCommit): Promise<'committed' | 'stale'> {
    const packed = pack(commit);
    const expectHash = expected.lastHash === null ? null : copyOf(expected.lastHash);
    const transfer = transfers(packed);
    if (expectHash !== null) transfer.push(expectHash);
    const stale = (await this.#call({ op: 'append', expectSize: expected.size, expectHash, ...packed }, transfer)) as boolean;
    return stale ? 'stale' : 'committed';
  }

  async rollback(): Promise<void> {
    await this.#call({ op: 'rollback' });
  }

  /** The writer connection's `synchronous` setting (2 is FULL): the one that decides what a commit survives. */
  async synchronous(): Promise<number> {
    return (await this.#call({ op: 'synchronous' })) as number;
  }

  async putCheckpoint(treeSize: number, note: string): Promise<CheckpointOutcome> {
    return (await this.#call({ op: 'checkpoint', treeSize, note })) as CheckpointOutcome;
  }

  /** One durable write outside the ledger, through this connection: the readiness probe. */
  async probeWrite(at: string): Promise<void> {
    await this.#call({ op: 'probe', at });
  }

  /** Stop the thread at once, as a crash would: an open transaction is never committed, and every later call fails. */
  async abort(): Promise<void> {
    await this.#worker.terminate();
  }

  async close(): Promise<void> {
    if (this.#failure !== null) return;
    await this.#call({ op: 'close' });
    await this.#worker.terminate();
  }

  #call(request: Request, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    const id = this.#next++;
    if (this.#pending.size === 0) this.#worker.ref();
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, ...request }, transfer);
    });
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(reply.code === null ? new Error(reply.message) : new Database.SqliteError(reply.message, reply.code));
  }

  /** A dead writer fails every call, now and later: nothing is acknowledged that was not committed. */
  #fail(err: unknown): void {
    this.#failure ??= new GatewayError('STORE_UNAVAILABLE', 'the ledger writer thread stopped', undefined, { cause: err });
    for (const pending of this.#pending.values()) pending.reject(this.#failure);
    this.#pending.clear();
  }
}

/** One contiguous copy each for hashes, bytes and projection texts, handed over without another copy. */
function pack(commit: WriterCommit): Packed {
  let total = 0;
  for (const entry of commit.sealed) total += entry.bytes.byteLength;
  const bytes = Buffer.allocUnsafeSlow(total);
  const hashes = Buffer.allocUnsafeSlow(commit.sealed.length * HASH_SIZE);
  const ends: number[] = [];
  let at = 0;
  commit.sealed.forEach((entry, i) => {
    if (entry.hash.byteLength !== HASH_SIZE) throw new GatewayError('STORE_CORRUPT', `entry ${entry.seq} has a hash of ${entry.hash.byteLength} bytes`);
    bytes.set(entry.bytes, at);
    at += entry.bytes.byteLength;
    ends.push(at);
    hashes.set(entry.hash, i * HASH_SIZE);
  });
  // projection values are long strings built by concatenation: the structured clone of such
  // strings costs several times their UTF-8 encoding, so they travel as one buffer
  const textEnds: number[] = [];
  let textBytes = 0;
  for (const row of commit.projections) {
    textBytes += Buffer.byteLength(row.kind) + Buffer.byteLength(row.id) + (row.value === null ? 0 : Buffer.byteLength(row.value));
  }
  const texts = Buffer.allocUnsafeSlow(textBytes);
  let written = 0;
  for (const row of commit.projections) {
    written += texts.write(row.kind, written);
    textEnds.push(written);
    written += texts.write(row.id, written);
    textEnds.push(written);
    if (row.value === null) textEnds.push(-1);
    else {
      written += texts.write(row.value, written);
      textEnds.push(written);
    }
  }
  return {
    hashes: hashes.buffer as ArrayBuffer,
    bytes: bytes.buffer as ArrayBuffer,
    ends,
    seqs: commit.sealed.map((entry) => entry.seq),
    keys: commit.uniqueKeys,
    texts: texts.buffer as ArrayBuffer,
    textEnds,
  };
}

function transfers(packed: Packed): ArrayBuffer[] {
  return [packed.hashes, packed.bytes, packed.texts];
}

function copyOf(bytes: Uint8Array): ArrayBuffer {
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return copy;
}

/**
 * The worker's whole program. It runs from its own source text in a fresh
 * thread, so it closes over nothing: `require` and the worker data only.
 */
function writerThread(): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- the worker is evaluated as CommonJS source */
  const { parentPort, workerData } = require('node:worker_threads') as typeof WorkerThreads;
  const data = workerData as WriterOptions & { readonly driver: string };
  const Sqlite = require(data.driver) as typeof Database;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const port = parentPort!;
  let db: Database.Database | null = null;
  let statements: Record<'begin' | 'commit' | 'rollback' | 'last' | 'since' | 'insert' | 'upsert' | 'remove' | 'checkpointAt' | 'insertCheckpoint' | 'probe', Database.Statement> | null = null;
  const open = (): NonNullable<typeof statements> => {
    if (statements !== null) return statements;
    const conn = new Sqlite(data.path, { fileMustExist: true });
    conn.pragma(`busy_timeout = ${data.busyTimeoutMs}`);
    // synchronous is per connection: this one commits, so this one must fsync every commit
    conn.pragma(`synchronous = ${data.synchronous}`);
    db = conn;
    statements = {
      begin: conn.prepare('BEGIN IMMEDIATE'),
      commit: conn.prepare('COMMIT'),
      rollback: conn.prepare('ROLLBACK'),
      last: conn.prepare('SELECT seq, hash FROM ledger_entries ORDER BY seq DESC LIMIT 1'),
      since: conn.prepare('SELECT seq, hash, bytes FROM ledger_entries WHERE seq >= ? ORDER BY seq'),
      insert: conn.prepare('INSERT INTO ledger_entries (seq, hash, bytes, unique_key) VALUES (?, ?, ?, ?)'),
      upsert: conn.prepare('INSERT INTO projections (kind, id, value) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value'),
      remove: conn.prepare('DELETE FROM projections WHERE kind = ? AND id = ?'),
      checkpointAt: conn.prepare('SELECT note FROM checkpoints WHERE tree_size = ?'),
      insertCheckpoint: conn.prepare('INSERT INTO checkpoints (tree_size, note) VALUES (?, ?)'),
      probe: conn.prepare('INSERT INTO write_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at'),
    };
    return statements;
  };
  const head = (s: NonNullable<typeof statements>): { size: number; lastHash: Buffer | null } => {
    const last = s.last.get() as { seq: number; hash: Buffer } | undefined;
    return last === undefined ? { size: 0, lastHash: null } : { size: last.seq + 1, lastHash: last.hash };
  };
  const insert = (s: NonNullable<typeof statements>, request: Packed): void => {
    const bytes = Buffer.from(request.bytes);
    const hashes = Buffer.from(request.hashes);
    let start = 0;
    request.seqs.forEach((seq, i) => {
      const end = request.ends[i]!;
      s.insert.run(seq, hashes.subarray(i * 32, i * 32 + 32), bytes.subarray(start, end), request.keys[i] ?? null);
      start = end;
    });
    const texts = Buffer.from(request.texts);
    let from = 0;
    for (let i = 0; i < request.textEnds.length; i += 3) {
      const kindEnd = request.textEnds[i]!;
      const idEnd = request.textEnds[i + 1]!;
      const valueEnd = request.textEnds[i + 2]!;
      const kind = texts.toString('utf8', from, kindEnd);
      const id = texts.toString('utf8', kindEnd, idEnd);
      if (valueEnd < 0) {
        s.remove.run(kind, id);
        from = idEnd;
      } else {
        s.upsert.run(kind, id, texts.toString('utf8', idEnd, valueEnd));
        from = valueEnd;
      }
    }
  };
  const handle = (request: Request & { id: number }): unknown => {
    if (request.op === 'close') {
      db?.close();
      return null;
    }
    const s = open();
    switch (request.op) {
      case 'begin': {
        s.begin.run();
        const top = head(s);
        const caughtUp = request.knownSize < top.size ? s.since.all(request.knownSize) : [];
        return { ...top, caughtUp };
      }
      case 'commit':
        insert(s, request);
        s.commit.run();
        return null;
      case 'append': {
        s.begin.run();
        const top = head(s);
        const expected = request.expectHash === null ? null : Buffer.from(request.expectHash);
        if (top.size !== request.expectSize || (top.lastHash === null ? expected !== null : expected === null || !top.lastHash.equals(expected))) {
          s.rollback.run();
          return true;
        }
        insert(s, request);
        s.commit.run();
        return false;
      }
      case 'rollback':
        if (db?.inTransaction) s.rollback.run();
        return null;
      case 'synchronous':
        return db?.pragma('synchronous', { simple: true }) ?? null;
      case 'probe':
        s.begin.run();
        s.probe.run(request.at);
        s.commit.run();
        return null;
      case 'checkpoint': {
        s.begin.run();
        try {
          const existing = s.checkpointAt.get(request.treeSize) as { note: string } | undefined;
          let outcome: CheckpointOutcome;
          if (existing !== undefined) outcome = { kind: existing.note === request.note ? 'same' : 'different' };
          else {
            const { size } = head(s);
            if (request.treeSize > size) outcome = { kind: 'beyond', size };
            else {
              s.insertCheckpoint.run(request.treeSize, request.note);
              outcome = { kind: 'stored' };
            }
          }
          s.commit.run();
          return outcome;
        } finally {
          if (db?.inTransaction) s.rollback.run();
        }
      }
    }
  };
  port.on('message', (request: Request & { id: number }) => {
    let reply: Reply;
    try {
      reply = { id: request.id, ok: true, result: handle(request) };
    } catch (err) {
      // a failed statement leaves no half transaction behind: the caller gets the error, the lock is released
      try {
        if (db?.inTransaction) db.exec('ROLLBACK');
      } catch {
        // the connection is gone; the next call reports it
      }
      const e = err as { message?: unknown; code?: unknown };
      reply = { id: request.id, ok: false, message: String(e.message ?? err), code: typeof e.code === 'string' ? e.code : null };
    }
    port.postMessage(reply);
  });
}
