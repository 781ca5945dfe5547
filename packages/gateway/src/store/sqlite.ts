import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import {
  isCountersignError,
  type AppendBuilder,
  type AppendOptions,
  type AppendPlan,
  type AppendWithResult,
  type LedgerHead,
  type SealedEntry,
  type StoredCheckpoint,
  type StoredProjection,
  type TransactionalLedgerStore,
} from '@countersign/core';
import { GatewayError } from '../errors.js';
import { migrateSqlite, pendingMigrations, sqliteSchemaVersion } from './migrations.js';
import { SqliteWriterThread } from './sqlite-writer.js';
import { assertReadRange, assertTreeSize, READ_PAGE_SIZE } from './range.js';
import { checkpointAsOnlyWriter } from './checkpoint.js';
import { assertExtends, assertKnownSize, assertWithinHead, checkPlan, latestProjections, planOnExpected, sameHead, staleAppend } from './plan.js';

export type SqliteSynchronous = 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA';

export interface SqliteStoreOptions {
  /**
   * `FULL` (the default) fsyncs the WAL on every commit: an acknowledged entry
   * survives power loss. `NORMAL` survives a process crash only.
   */
  readonly synchronous?: SqliteSynchronous;
  /** How long a write waits for another connection's transaction, in ms. */
  readonly busyTimeoutMs?: number;
  /** Open an existing file without writing to it (no migrations); for `ledger verify` and `export`. */
  readonly readonly?: boolean;
  /**
   * Where writes run: `thread` (the default for a file) commits on a worker
   * thread so that waiting for the fsync never blocks the event loop;
   * `inline` commits on the caller's thread. Same statements, same
   * durability; an in-memory database is always inline.
   */
  readonly writer?: 'thread' | 'inline';
}

interface EntryRow {
  readonly seq: number;
  readonly hash: Buffer;
  readonly bytes: Buffer;
}

interface CheckpointRow {
  readonly tree_size: number;
  readonly note: string;
}

const SYNCHRONOUS: readonly SqliteSynchronous[] = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];

/**
 * The embedded ledger store: one SQLite file in WAL mode.
 *
 * better-sqlite3 is synchronous, so one append is one uninterrupted
 * transaction on this connection; `BEGIN IMMEDIATE` takes the write lock before
 * the head is read, so another connection (or process) on the same file cannot
 * slip an entry in between reading the head and inserting after it.
 */
export class SqliteLedgerStore implements TransactionalLedgerStore {
  readonly kind = 'sqlite';
  readonly path: string;
  private readonly db: Database.Database;
  private closed = false;
  private readonly statements: {
    readonly last: Database.Statement<[], EntryRow>;
    readonly insert: Database.Statement<[number, Uint8Array, Uint8Array, string | null]>;
    readonly since: Database.Statement<[number], EntryRow>;
    readonly upsertProjection: Database.Statement<[string, string, string]>;
    readonly deleteProjection: Database.Statement<[string, string]>;
    readonly projectionPage: Database.Statement<[string, string, number], StoredProjection>;
    readonly rowNow: Database.Statement<[string, string], { value: string; last: number | null }>;
    readonly page: Database.Statement<[number, number, number], EntryRow>;
    readonly hashPage: Database.Statement<[number, number, number], { seq: number; hash: Buffer }>;
    readonly checkpointAt: Database.Statement<[number], CheckpointRow>;
    readonly insertCheckpoint: Database.Statement<[number, string]>;
    readonly latestCheckpoint: Database.Statement<[], CheckpointRow>;
    readonly checkpointPage: Database.Statement<[number, number], CheckpointRow>;
  };
  private readonly appendTx: (knownSize: number, build: AppendBuilder) => AppendWithResult;
  private readonly compareTx: (expected: LedgerHead, plan: AppendPlan) => void;
  /** Writes on a worker thread, or null to write inline on this connection. */
  private readonly writer: SqliteWriterThread | null;
  /** Settles once every write issued so far settled: what a locked transaction, a checkpoint or `close` waits for. */
  private writes: Promise<unknown> = Promise.resolve();
  /**
   * Resolves once no transaction spanning several messages (a locked append)
   * is open or queued before: an append with an expected head is posted to
   * the thread after it. Mutual exclusion on the connection, not a head: the
   * store keeps no view of the ledger of its own.
   */
  private posting: Promise<unknown> = Promise.resolve();

  /**
   * True when appends pipeline: with a writer thread, appends with an
   * expected head are posted as they come and committed in that order, each
   * only if the ledger still ends at its expected head (ADR 002 §3). The
   * sequencer may then seal a second batch on the head the first will leave.
   */
  get pipelines(): boolean {
    return this.writer !== null;
  }

  private constructor(path: string, db: Database.Database, writer: SqliteWriterThread | null) {
    this.path = path;
    this.db = db;
    this.writer = writer;
    this.statements = {
      last: db.prepare('SELECT seq, hash, bytes FROM ledger_entries ORDER BY seq DESC LIMIT 1'),
      insert: db.prepare('INSERT INTO ledger_entries (seq, hash, bytes, unique_key) VALUES (?, ?, ?, ?)'),
      since: db.prepare('SELECT seq, hash, bytes FROM ledger_entries WHERE seq >= ? ORDER BY seq'),
      upsertProjection: db.prepare('INSERT INTO projections (kind, id, value) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET value = excluded.value'),
      deleteProjection: db.prepare('DELETE FROM projections WHERE kind = ? AND id = ?'),
      projectionPage: db.prepare('SELECT kind, id, value FROM projections WHERE (kind, id) > (?, ?) ORDER BY kind, id LIMIT ?'),
      // one statement, one snapshot: the row and the head it is current at
      rowNow: db.prepare('SELECT value, (SELECT max(seq) FROM ledger_entries) AS last FROM projections WHERE kind = ? AND id = ?'),
      page: db.prepare('SELECT seq, hash, bytes FROM ledger_entries WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?'),
      hashPage: db.prepare('SELECT seq, hash FROM ledger_entries WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?'),
      checkpointAt: db.prepare('SELECT tree_size, note FROM checkpoints WHERE tree_size = ?'),
      insertCheckpoint: db.prepare('INSERT INTO checkpoints (tree_size, note) VALUES (?, ?)'),
      latestCheckpoint: db.prepare('SELECT tree_size, note FROM checkpoints ORDER BY tree_size DESC LIMIT 1'),
      checkpointPage: db.prepare('SELECT tree_size, note FROM checkpoints WHERE tree_size > ? ORDER BY tree_size LIMIT ?'),
    };
    const transaction = db.transaction((knownSize: number, build: AppendBuilder): AppendWithResult => {
      // INVARIANT: the head is read inside the write transaction that inserts after it
      const head = this.readHead();
      assertWithinHead(knownSize, head.size);
      const caughtUp: SealedEntry[] = this.statements.since.all(knownSize);
      const plan = checkPlan(build(caughtUp, head));
      assertExtends(head, plan.sealed);
      this.insertPlan(plan);
      return { caughtUp, sealed: plan.sealed };
    });
    const compare = db.transaction((expected: LedgerHead, plan: AppendPlan): void => {
      const head = this.readHead();
      if (!sameHead(head, expected)) throw staleAppend(`the ledger ends at ${head.size}, not at the head ${expected.size} the entries were sealed on`, head.size);
      this.insertPlan(plan);
    });
    // BEGIN IMMEDIATE: the write lock is taken before the head is read (ADR 002 §3)
    this.appendTx = (knownSize, build) => transaction.immediate(knownSize, build);
    this.compareTx = (expected, plan) => compare.immediate(expected, plan);
  }

  private insertPlan(plan: AppendPlan): void {
    plan.sealed.forEach((entry, index) => this.statements.insert.run(entry.seq, entry.hash, entry.bytes, plan.uniqueKeys[index] ?? null));
    for (const row of latestProjections(plan.projections)) {
      if (row.value === null) this.statements.deleteProjection.run(row.kind, row.id);
      else this.statements.upsertProjection.run(row.kind, row.id, row.value);
    }
  }

  static open(path: string, options: SqliteStoreOptions = {}): SqliteLedgerStore {
    const synchronous = options.synchronous ?? 'FULL';
    if (!SYNCHRONOUS.includes(synchronous)) {
      throw new GatewayError('USAGE', `sqlite synchronous mode \`${String(synchronous)}\` is not one of ${SYNCHRONOUS.join(', ')}`);
    }
    const readonly = options.readonly ?? false;
    if (readonly && path !== ':memory:' && !existsSync(path)) {
      throw new GatewayError('FILE_NOT_FOUND', `ledger database \`${path}\` does not exist`);
    }
    let db: Database.Database;
    try {
      db = new Database(path, { readonly, fileMustExist: readonly });
    } catch (err) {
      throw storeError(err, `cannot open ledger database \`${path}\``);
    }
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
      if (readonly) {
        const version = sqliteSchemaVersion(db);
        if (pendingMigrations(version).length > 0) {
          throw new GatewayError('MIGRATION_FAILED', `ledger database \`${path}\` is at schema version ${version}: open it once read-write to migrate it`);
        }
      } else {
        const mode = db.pragma('journal_mode = WAL', { simple: true });
        if (mode !== 'wal' && path !== ':memory:' && path !== '') {
          throw new GatewayError('STORE_UNAVAILABLE', `ledger database \`${path}\` cannot use WAL journaling (got \`${String(mode)}\`)`);
        }
        db.pragma(`synchronous = ${synchronous}`);
        migrateSqlite(db);
      }
      const inMemory = path === ':memory:' || path === '';
      const threaded = !readonly && !inMemory && (options.writer ?? 'thread') === 'thread';
      const busyTimeoutMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000));
      return new SqliteLedgerStore(path, db, threaded ? SqliteWriterThread.start({ path, synchronous, busyTimeoutMs }) : null);
    } catch (err) {
      db.close();
      throw storeError(err, `cannot open ledger database \`${path}\``);
    }
  }

  appendWith(knownSize: number, build: AppendBuilder, options: AppendOptions = {}): Promise<AppendWithResult> {
    return this.announced(this.appendBuilt(knownSize, build, options));
  }

  /** Every commit is announced to the followers of this file. */
  private announced(appended: Promise<AppendWithResult>): Promise<AppendWithResult> {
    return appended.then((result) => {
      announce(this.path, result.sealed);
      return result;
    });
  }

  async follow(onAppended: (size: number | null) => void): Promise<() => Promise<void>> {
    const inMemory = this.path === ':memory:' || this.path === '';
    if (inMemory) return async () => undefined;
    let set = followers.get(this.path);
    if (set === undefined) followers.set(this.path, (set = new Set()));
    // a listener of its own: the same function followed twice is two followers
    const listener = (size: number | null): void => onAppended(size);
    set.add(listener);
    return async () => {
      set.delete(listener);
      if (set.size === 0) followers.delete(this.path);
    };
  }

  private appendBuilt(knownSize: number, build: AppendBuilder, options: AppendOptions): Promise<AppendWithResult> {
    const expected = options.expected;
    if (expected !== undefined) {
      let plan: AppendPlan;
      try {
        plan = planOnExpected(knownSize, build, expected);
      } catch (err) {
        // the builder's own failure is the gateway's, not the store's: it passes through unwrapped
        return Promise.reject(err);
      }
      return this.compareAndAppend(expected, plan).then(() => ({ caughtUp: [], sealed: plan.sealed }));
    }
    if (this.writer !== null && !this.closed) {
      try {
        assertKnownSize(knownSize);
      } catch (err) {
        return Promise.reject(err);
      }
      return this.threadAppend(knownSize, build);
    }
    // the builder's own failure is the gateway's, not the store's: it passes through unwrapped
    let failure: { readonly err: unknown } | null = null;
    const guarded: AppendBuilder = (caughtUp, head) => {
      try {
        return build(caughtUp, head);
      } catch (err) {
        failure = { err };
        throw err;
      }
    };
    return this.run(() => {
      assertKnownSize(knownSize);
      return this.appendTx(knownSize, guarded);
    }, 'append to the ledger').catch((err: unknown) => {
      throw failure === null ? err : failure.err;
    });
  }

  /**
   * Insert `plan` only if the ledger still ends at `expected`, in one
   * transaction; otherwise write nothing and reject with STORE_STALE. On the
   * writer thread this is one message, posted at once (after any locked
   * transaction before it): the thread answers in order, so a caller may
   * post the next one, sealed on the head this one leaves, before this one
   * committed. If this one fails, the next finds its expected head missing.
   */
  private compareAndAppend(expected: LedgerHead, plan: AppendPlan): Promise<void> {
    const writer = this.writer;
    if (writer === null || this.closed) return this.run(() => this.compareTx(expected, plan), 'append to the ledger');
    const commit = { sealed: plan.sealed, uniqueKeys: plan.uniqueKeys, projections: latestProjections(plan.projections) };
    const reply = this.posting.then(() => writer.append(expected, commit)).then(
      (outcome) => {
        if (outcome === 'stale') throw staleAppend(`the ledger no longer ends at the head ${expected.size} the entries were sealed on`, expected.size);
      },
      (err: unknown) => {
        throw storeError(err, 'cannot append to the ledger');
      },
    );
    const settled = reply.catch(() => undefined);
    this.writes = Promise.all([this.writes, settled]);
    return reply;
  }

  async *readProjections(): AsyncIterable<StoredProjection> {
    let after: readonly [string, string] = ['', ''];
    for (;;) {
      const rows = await this.run(() => this.statements.projectionPage.all(after[0], after[1], READ_PAGE_SIZE), 'read projections');
      for (const row of rows) yield row;
      const last = rows[rows.length - 1];
      if (last === undefined || rows.length < READ_PAGE_SIZE) return;
      after = [last.kind, last.id];
    }
  }

  readRowNow(kind: string, id: string): { readonly value: string; readonly size: number } | null {
    if (this.closed) throw new GatewayError('STORE_UNAVAILABLE', 'cannot read a projection row: the store is closed');
    let row: { value: string; last: number | null } | undefined;
    try {
      row = this.statements.rowNow.get(kind, id);
    } catch (err) {
      throw storeError(err, 'cannot read a projection row');
    }
    return row === undefined ? null : { value: row.value, size: row.last === null ? 0 : row.last + 1 };
  }

  head(): Promise<LedgerHead> {
    return this.run(() => this.readHead(), 'read the ledger head');
  }

  async *read(from: number, to?: number): AsyncIterable<SealedEntry> {
    for await (const row of this.pages(from, to, this.statements.page)) yield row;
  }

  /** Leaf hashes of `from <= seq < to`, without the entry bytes: enough for Merkle roots and proofs. */
  async *readLeafHashes(from: number, to?: number): AsyncIterable<Uint8Array> {
    for await (const row of this.pages(from, to, this.statements.hashPage)) yield row.hash;
  }

  probeWrite(at: string): Promise<void> {
    const writer = this.writer;
    if (writer !== null && !this.closed) return this.serialWrite(() => writer.probeWrite(at), 'write to the database');
    return this.run(() => {
      // prepared here, not at open: a store opened read-only on an older schema never needs it
      const probe = this.db.prepare('INSERT INTO write_probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at');
      this.db.transaction(() => probe.run(at)).immediate();
    }, 'write to the database');
  }

  putCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    const writer = this.writer;
    if (writer !== null && !this.closed) {
      return this.serialWrite(async () => {
        assertTreeSize(checkpoint.treeSize);
        const outcome = await writer.putCheckpoint(checkpoint.treeSize, checkpoint.note);
        if (outcome.kind === 'different') throw new GatewayError('STORE_CONFLICT', `a different checkpoint for tree size ${checkpoint.treeSize} is already stored`);
        if (outcome.kind === 'beyond') throw new GatewayError('STORE_CONFLICT', `checkpoint tree size ${checkpoint.treeSize} is beyond the ledger size ${outcome.size}`);
      }, 'store a checkpoint');
    }
    return this.run(() => {
      assertTreeSize(checkpoint.treeSize);
      const put = this.db.transaction(() => {
        const existing = this.statements.checkpointAt.get(checkpoint.treeSize);
        if (existing !== undefined) {
          if (existing.note === checkpoint.note) return;
          throw new GatewayError('STORE_CONFLICT', `a different checkpoint for tree size ${checkpoint.treeSize} is already stored`);
        }
        const { size } = this.readHead();
        if (checkpoint.treeSize > size) {
          throw new GatewayError('STORE_CONFLICT', `checkpoint tree size ${checkpoint.treeSize} is beyond the ledger size ${size}`);
        }
        this.statements.insertCheckpoint.run(checkpoint.treeSize, checkpoint.note);
      });
      put.immediate();
    }, 'store a checkpoint');
  }

  /** A SQLite ledger has one writing process (ADR 002), whose checkpoints are written one at a time: it signs as the lock holder. */
  async checkpointWith(treeSize: number, sign: (latest: number) => string | null): Promise<number> {
    assertTreeSize(treeSize);
    return checkpointAsOnlyWriter(this, treeSize, sign);
  }

  latestCheckpoint(): Promise<StoredCheckpoint | null> {
    return this.run(() => {
      const row = this.statements.latestCheckpoint.get();
      return row === undefined ? null : { treeSize: row.tree_size, note: row.note };
    }, 'read the latest checkpoint');
  }

  async *checkpoints(): AsyncIterable<StoredCheckpoint> {
    let after = -1;
    for (;;) {
      const rows = await this.run(() => this.statements.checkpointPage.all(after, READ_PAGE_SIZE), 'read checkpoints');
      for (const row of rows) yield { treeSize: row.tree_size, note: row.note };
      if (rows.length < READ_PAGE_SIZE) return;
      after = rows[rows.length - 1]!.tree_size;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // writes already queued finish (or fail) first: nothing acknowledged is cut short
    await this.writes;
    try {
      await this.writer?.close();
    } finally {
      this.db.close();
    }
  }

  /**
   * appendWith on the writer thread: the lock is taken there, the plan is
   * built here on the head it read, compared with it, and committed there.
   * The builder stays synchronous: between the head it is given and the
   * commit, the write lock is held, so no other writer can append in between.
   */
  private threadAppend(knownSize: number, build: AppendBuilder): Promise<AppendWithResult> {
    const writer = this.writer!;
    // the builder's own failure is the gateway's, not the store's: it passes through unwrapped
    let failure: { readonly err: unknown } | null = null;
    return this.serialWrite(async () => {
      const { head, caughtUp } = await writer.begin(knownSize);
      let plan: AppendPlan;
      try {
        assertWithinHead(knownSize, head.size);
        try {
          plan = checkPlan(build(caughtUp, head));
        } catch (err) {
          failure = { err };
          throw err;
        }
        assertExtends(head, plan.sealed);
      } catch (err) {
        await writer.rollback().catch(() => undefined);
        throw err;
      }
      await writer.commit({ sealed: plan.sealed, uniqueKeys: plan.uniqueKeys, projections: latestProjections(plan.projections) });
      return { caughtUp, sealed: plan.sealed };
    }, 'append to the ledger').catch((err: unknown) => {
      throw failure === null ? err : failure.err;
    });
  }

  private serialWrite<T>(work: () => Promise<T>, what: string): Promise<T> {
    if (this.closed) return Promise.reject(new GatewayError('STORE_UNAVAILABLE', `cannot ${what}: the store is closed`));
    const run = this.writes.then(work).catch((err: unknown) => {
      throw storeError(err, `cannot ${what}`);
    });
    // its messages may span awaits (BEGIN ... COMMIT): nothing is posted before it settled
    this.writes = run.catch(() => undefined);
    this.posting = this.writes;
    return run;
  }

  private readHead(): LedgerHead {
    const last = this.statements.last.get();
    return last === undefined ? { size: 0, lastHash: null } : { size: last.seq + 1, lastHash: last.hash };
  }

  /**
   * Keyset pages rather than one `.iterate()` cursor: an open better-sqlite3
   * iterator keeps the connection busy, so an append (or a verify) interleaved
   * with a long read would fail. Each page is fetched whole, then released.
   * Without `to`, the read stops at the head as it was when reading began.
   */
  private async *pages<Row extends { seq: number }>(
    from: number,
    to: number | undefined,
    statement: Database.Statement<[number, number, number], Row>,
  ): AsyncIterable<Row> {
    assertReadRange(from, to);
    const end = to ?? (await this.head()).size;
    let next = from;
    while (next < end) {
      const rows = await this.run(() => statement.all(next, end, READ_PAGE_SIZE), 'read the ledger');
      for (const row of rows) yield row;
      if (rows.length < READ_PAGE_SIZE) return;
      next = rows[rows.length - 1]!.seq + 1;
    }
  }

  private run<T>(work: () => T, what: string): Promise<T> {
    if (this.closed) return Promise.reject(new GatewayError('STORE_UNAVAILABLE', `cannot ${what}: the store is closed`));
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(storeError(err, `cannot ${what}`));
    }
  }
}

/**
 * In-process followers of each SQLite file (ADR 002, the follower): every
 * store instance on one path announces its commits to every follower of
 * that path. A SQLite ledger has one writing process; other processes (the
 * CLI) only read it.
 */
const followers = new Map<string, Set<(size: number | null) => void>>();

function announce(path: string, sealed: readonly SealedEntry[]): void {
  const last = sealed.at(-1);
  const set = followers.get(path);
  if (last === undefined || set === undefined) return;
  for (const listener of set) listener(last.seq + 1);
}

/** Core and gateway errors pass through; SQLite's become gateway codes. */
function storeError(err: unknown, message: string): Error {
  if (err instanceof GatewayError || isCountersignError(err)) return err;
  const code = err instanceof Database.SqliteError ? err.code : undefined;
  if (code === undefined) return new GatewayError('STORE_UNAVAILABLE', message, undefined, { cause: err });
  if (code.startsWith('SQLITE_CONSTRAINT') && err instanceof Error && err.message.includes('unique_key')) {
    return new GatewayError('STORE_CONFLICT', `${message}: an entry that may happen only once is already recorded`, { sqlite: code, constraint: 'unique_key' }, { cause: err });
  }
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    return new GatewayError('STORE_CONFLICT', `${message}: another writer took the same sequence number`, { sqlite: code }, { cause: err });
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT_')) {
    return new GatewayError('STORE_CORRUPT', `${message}: the file is not a valid ledger database`, { sqlite: code }, { cause: err });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new GatewayError('STORE_UNAVAILABLE', `${message}: the database is locked by another writer`, { sqlite: code }, { cause: err });
  }
  return new GatewayError('STORE_UNAVAILABLE', message, { sqlite: code }, { cause: err });
}

