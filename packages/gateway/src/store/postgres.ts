import pg from 'pg';
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
import { migratePostgres, quoteIdent } from './migrations.js';
import { assertExtends, assertKnownSize, assertWithinHead, checkPlan, latestProjections, planOnExpected, sameHead, staleAppend } from './plan.js';
import { assertReadRange, assertTreeSize, READ_PAGE_SIZE } from './range.js';
import { describeUrl } from './describe-url.js';

export interface PostgresStoreOptions {
  /** Schema holding the ledger tables; created if missing. Tests use one per run. */
  readonly schema?: string;
  readonly poolSize?: number;
  readonly connectTimeoutMs?: number;
}

// Advisory lock namespace ('CSLG'): the sequencer lock, keyed per schema.
const SEQUENCER_LOCK_CLASS = 0x43534c47;
// 4 parameters a row; PostgreSQL allows 65535 parameters a statement
const INSERT_CHUNK_ROWS = 1000;
// rows a projection statement sends as arrays: `pg` writes each array as one string, and one commit of a bundle
// activation holds three rows a live grant (a string past V8's limit at a few hundred thousand)
const PROJECTION_CHUNK_ROWS = 10_000;

/** `items` in consecutive slices of at most `size`, each with the index it starts at. */
function* chunked<T>(items: readonly T[], size: number): Generator<{ readonly start: number; readonly chunk: readonly T[] }> {
  for (let start = 0; start < items.length; start += size) yield { start, chunk: items.slice(start, start + size) };
}

interface EntryRow {
  readonly seq: string;
  readonly hash: Buffer;
  readonly bytes: Buffer;
}

/**
 * The scale-out ledger store: several gateway replicas share one chain.
 *
 * INVARIANT: one sequencer at a time. Every append transaction first takes a
 * transaction-scoped advisory lock, then reads the head, compares it with the
 * head the entries were sealed on (by the writer, never here) and inserts.
 * `seq` is the primary key, so even a writer that skipped the lock (or a lock
 * lost with its session) cannot fork the chain: its insert fails on the unique
 * index and its whole append is rolled back.
 */
export class PostgresLedgerStore implements TransactionalLedgerStore {
  readonly kind = 'postgres';
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly where: string;
  private closed = false;

  private readonly beginAppend: string;
  private readonly beginLocked: string;
  /** The LISTEN/NOTIFY channel of this ledger: one per schema, at most 63 bytes as PostgreSQL truncates. */
  private readonly channel: string;
  /** A client of its own for LISTEN, outside the pool; never logged (it holds the URL's credentials). */
  private readonly listener: () => pg.Client;

  private constructor(pool: pg.Pool, schema: string, where: string, listener: () => pg.Client) {
    this.pool = pool;
    this.schema = schema;
    this.where = where;
    this.listener = listener;
    this.channel = `countersign_${schema}`.slice(0, 63);
    // schema is a checked lower-case identifier (quoteIdent), so it is safe as a literal here
    this.beginAppend = [
      'BEGIN',
      `SELECT pg_advisory_xact_lock(${SEQUENCER_LOCK_CLASS}, hashtext('${schema}'))`,
      'SELECT seq, hash FROM ledger_entries ORDER BY seq DESC LIMIT 1',
    ].join('; ');
    this.beginLocked = ['BEGIN', `SELECT pg_advisory_xact_lock(${SEQUENCER_LOCK_CLASS}, hashtext('${schema}'))`].join('; ');
  }

  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresLedgerStore> {
    const schema = options.schema ?? 'public';
    quoteIdent(schema);
    const where = describeUrl(url);
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      // every connection resolves unqualified table names in the ledger's schema, and a
      // COMMIT returns only once flushed: an acknowledged entry survives a crash even on a
      // server configured with synchronous_commit=off ('on' still waits for synchronous standbys)
      options: `-c search_path=${schema} -c synchronous_commit=on`,
      application_name: 'countersign',
    });
    // an idle client losing its connection must not crash the process; the next query reports it
    pool.on('error', () => undefined);
    const listener = (): pg.Client => new pg.Client({ connectionString: url, connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000, application_name: 'countersign-follow' });
    const store = new PostgresLedgerStore(pool, schema, where, listener);
    try {
      const client = await store.connect('open the ledger');
      try {
        await migratePostgres(client, schema);
      } finally {
        client.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw store.storeError(err, 'open the ledger');
    }
    return store;
  }

  async appendWith(knownSize: number, build: AppendBuilder, options: AppendOptions = {}): Promise<AppendWithResult> {
    if (options.expected !== undefined) {
      const expected = options.expected;
      // built before any IO; the builder's own failure passes through as it is
      const plan = planOnExpected(knownSize, build, expected);
      return this.transact(null, () => plan, expected);
    }
    assertKnownSize(knownSize);
    return this.transact(knownSize, build);
  }

  async *readProjections(): AsyncIterable<StoredProjection> {
    let after: readonly [string, string] = ['', ''];
    for (;;) {
      const rows = await this.query<StoredProjection>(
        'read projections',
        'SELECT kind, id, value FROM projections WHERE (kind, id) > ($1, $2) ORDER BY kind, id LIMIT $3',
        [after[0], after[1], READ_PAGE_SIZE],
      );
      for (const row of rows) yield { kind: row.kind, id: row.id, value: row.value };
      const last = rows[rows.length - 1];
      if (last === undefined || rows.length < READ_PAGE_SIZE) return;
      after = [last.kind, last.id];
    }
  }

  /**
   * INVARIANT: the head is read inside the transaction that inserts after it, under the
   * sequencer lock. Under READ COMMITTED each statement takes a fresh snapshot, so a head or
   * catch-up query issued after the lock statement sees every append committed before the
   * lock was granted (one statement with the lock in a subquery would not).
   */
  private async transact(knownSize: number | null, build: AppendBuilder, expected?: LedgerHead): Promise<AppendWithResult> {
    const client = await this.connect('append to the ledger');
    let broken = false;
    // the builder's own failure is the gateway's, not the store's: it passes through unwrapped
    let buildFailure: { readonly err: unknown } | null = null;
    try {
      try {
        let head: LedgerHead;
        let caughtUp: SealedEntry[] = [];
        if (knownSize === null) {
          // one round trip, three statements
          const results = (await client.query(this.beginAppend)) as unknown as pg.QueryResult<{ seq: string; hash: Buffer }>[];
          const last = results[2]?.rows[0];
          head = last === undefined ? { size: 0, lastHash: null } : { size: Number(last.seq) + 1, lastHash: last.hash };
          if (expected !== undefined && !sameHead(head, expected)) {
            throw staleAppend(`the ledger ends at ${head.size}, not at the head ${expected.size} the entries were sealed on`, head.size);
          }
        } else {
          await client.query(this.beginLocked);
          // the entry before `knownSize` too: its hash is the head when nothing is new
          const { rows } = await client.query<EntryRow>('SELECT seq, hash, bytes FROM ledger_entries WHERE seq >= $1 ORDER BY seq', [Math.max(knownSize - 1, 0)]);
          const last = rows[rows.length - 1];
          head = last === undefined ? { size: 0, lastHash: null } : { size: Number(last.seq) + 1, lastHash: last.hash };
          assertWithinHead(knownSize, head.size);
          caughtUp = rows.filter((row) => Number(row.seq) >= knownSize).map((row) => ({ seq: Number(row.seq), hash: row.hash, bytes: row.bytes }));
        }
        let plan: AppendPlan;
        try {
          plan = checkPlan(build(caughtUp, head));
        } catch (err) {
          buildFailure = { err };
          throw err;
        }
        // with `expected`, planOnExpected checked the plan against that head, and the head against this one
        if (expected === undefined) assertExtends(head, plan.sealed);
        const sealed = plan.sealed;
        await this.insert(client, plan, sealed);
        await this.writeProjections(client, plan);
        // delivered to every follower at COMMIT, never before, and never for a rollback
        if (sealed.length > 0) await client.query('SELECT pg_notify($1, $2)', [this.channel, String(head.size + sealed.length)]);
        await client.query('COMMIT');
        return { caughtUp, sealed };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {
          broken = true;
        });
        throw err;
      }
    } catch (err) {
      if (buildFailure !== null) throw (buildFailure as { readonly err: unknown }).err;
      throw this.storeError(err, 'append to the ledger');
    } finally {
      client.release(broken);
    }
  }

  private async insert(client: pg.PoolClient, plan: AppendPlan, sealed: readonly SealedEntry[]): Promise<void> {
    for (const { start, chunk } of chunked(sealed, INSERT_CHUNK_ROWS)) {
      const values = chunk.map((_, i) => `($${4 * i + 1}, $${4 * i + 2}, $${4 * i + 3}, $${4 * i + 4})`).join(', ');
      const params = chunk.flatMap((entry, i) => [entry.seq, toBuffer(entry.hash), toBuffer(entry.bytes), plan.uniqueKeys[start + i] ?? null]);
      await client.query(`INSERT INTO ledger_entries (seq, hash, bytes, unique_key) VALUES ${values}`, params);
    }
  }

  /** Upserts and deletes as statements of array parameters, PROJECTION_CHUNK_ROWS rows each. */
  private async writeProjections(client: pg.PoolClient, plan: AppendPlan): Promise<void> {
    const rows = latestProjections(plan.projections);
    const upserts = rows.filter((row) => row.value !== null);
    const deletes = rows.filter((row) => row.value === null);
    for (const { chunk } of chunked(upserts, PROJECTION_CHUNK_ROWS)) {
      await client.query(
        'INSERT INTO projections (kind, id, value) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT (kind, id) DO UPDATE SET value = EXCLUDED.value',
        [chunk.map((r) => r.kind), chunk.map((r) => r.id), chunk.map((r) => r.value)],
      );
    }
    for (const { chunk } of chunked(deletes, PROJECTION_CHUNK_ROWS)) {
      await client.query('DELETE FROM projections p USING unnest($1::text[], $2::text[]) AS d(kind, id) WHERE p.kind = d.kind AND p.id = d.id', [
        chunk.map((r) => r.kind),
        chunk.map((r) => r.id),
      ]);
    }
  }

  async head(): Promise<LedgerHead> {
    return this.withClient('read the ledger head', (client) => this.readHead(client));
  }

  async *read(from: number, to?: number): AsyncIterable<SealedEntry> {
    for await (const row of this.pages(from, to, 'seq, hash, bytes')) {
      yield { seq: Number(row.seq), hash: row.hash, bytes: row.bytes };
    }
  }

  /** Leaf hashes of `from <= seq < to`, without the entry bytes: enough for Merkle roots and proofs. */
  async *readLeafHashes(from: number, to?: number): AsyncIterable<Uint8Array> {
    for await (const row of this.pages(from, to, 'seq, hash')) yield row.hash;
  }

  async follow(onAppended: (size: number | null) => void): Promise<() => Promise<void>> {
    this.assertOpen('follow the ledger');
    let stopped = false;
    let client: pg.Client | null = null;
    let retry: NodeJS.Timeout | null = null;
    const connect = async (): Promise<void> => {
      const next = this.listener();
      // a lost connection: reconnect, and tell the follower it may have missed appends
      next.on('error', () => undefined);
      next.on('end', () => {
        if (stopped || client !== next) return;
        client = null;
        retry = setTimeout(() => void reconnect(), FOLLOW_RETRY_MS);
        retry.unref();
      });
      next.on('notification', (message) => {
        if (message.channel !== this.channel) return;
        const size = Number(message.payload);
        onAppended(Number.isSafeInteger(size) && size >= 0 ? size : null);
      });
      await next.connect();
      await next.query(`LISTEN ${quoteIdent(this.channel)}`);
      if (stopped) {
        await next.end().catch(() => undefined);
        return;
      }
      client = next;
    };
    const reconnect = async (): Promise<void> => {
      retry = null;
      if (stopped) return;
      try {
        await connect();
        onAppended(null);
      } catch {
        retry = setTimeout(() => void reconnect(), FOLLOW_RETRY_MS);
        retry.unref();
      }
    };
    try {
      await connect();
    } catch (err) {
      throw this.storeError(err, 'follow the ledger');
    }
    return async () => {
      stopped = true;
      if (retry !== null) clearTimeout(retry);
      const open = client;
      client = null;
      await open?.end().catch(() => undefined);
    };
  }

  async probeWrite(at: string): Promise<void> {
    await this.query('write to the database', 'INSERT INTO write_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at', [at]);
  }

  async putCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    assertTreeSize(checkpoint.treeSize);
    await this.checkpointTransaction('store a checkpoint', (client) => this.insertCheckpoint(client, checkpoint.treeSize, checkpoint.note));
  }

  async checkpointWith(treeSize: number, sign: (latest: number) => string | null): Promise<number> {
    assertTreeSize(treeSize);
    // the signer's own failure is not the database's: it reaches the caller as it was thrown
    const signFailure: { err?: unknown } = {};
    try {
      return await this.checkpointTransaction('sign a checkpoint', async (client) => {
        const result = await client.query<{ latest: string }>('SELECT coalesce(max(tree_size), 0) AS latest FROM checkpoints');
        const latest = Number(result.rows[0]?.latest ?? 0);
        // signed holding the lock: a replica that finds the checkpoint another one stored signs nothing
        let note: string | null;
        try {
          note = sign(latest);
        } catch (err) {
          signFailure.err = err;
          throw err;
        }
        if (note === null) return latest;
        await this.insertCheckpoint(client, treeSize, note);
        return Math.max(latest, treeSize);
      });
    } catch (err) {
      throw 'err' in signFailure ? signFailure.err : err;
    }
  }

  /** One transaction holding the sequencer lock, which also orders checkpoints against appends: the checks inside cannot go stale. */
  private async checkpointTransaction<T>(what: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.withClient(what, async (client) => {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SEQUENCER_LOCK_CLASS, this.schema]);
        const result = await work(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Under the lock: the same note at the same size is stored already (nothing to do); another note, or a size past the head, is STORE_CONFLICT. */
  private async insertCheckpoint(client: pg.PoolClient, treeSize: number, note: string): Promise<void> {
    const existing = await client.query<{ note: string }>('SELECT note FROM checkpoints WHERE tree_size = $1', [treeSize]);
    const found = existing.rows[0];
    if (found !== undefined) {
      if (found.note !== note) throw new GatewayError('STORE_CONFLICT', `a different checkpoint for tree size ${treeSize} is already stored`);
      return;
    }
    const { size } = await this.readHead(client);
    if (treeSize > size) throw new GatewayError('STORE_CONFLICT', `checkpoint tree size ${treeSize} is beyond the ledger size ${size}`);
    await client.query('INSERT INTO checkpoints (tree_size, note) VALUES ($1, $2)', [treeSize, note]);
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    const rows = await this.query<{ tree_size: string; note: string }>(
      'read the latest checkpoint',
      'SELECT tree_size, note FROM checkpoints ORDER BY tree_size DESC LIMIT 1',
      [],
    );
    const row = rows[0];
    return row === undefined ? null : { treeSize: Number(row.tree_size), note: row.note };
  }

  async *checkpoints(): AsyncIterable<StoredCheckpoint> {
    let after = -1;
    for (;;) {
      const rows = await this.query<{ tree_size: string; note: string }>(
        'read checkpoints',
        'SELECT tree_size, note FROM checkpoints WHERE tree_size > $1 ORDER BY tree_size LIMIT $2',
        [after, READ_PAGE_SIZE],
      );
      for (const row of rows) yield { treeSize: Number(row.tree_size), note: row.note };
      if (rows.length < READ_PAGE_SIZE) return;
      after = Number(rows[rows.length - 1]!.tree_size);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  private async readHead(client: pg.PoolClient): Promise<LedgerHead> {
    const { rows } = await client.query<{ seq: string; hash: Buffer }>('SELECT seq, hash FROM ledger_entries ORDER BY seq DESC LIMIT 1');
    const last = rows[0];
    return last === undefined ? { size: 0, lastHash: null } : { size: Number(last.seq) + 1, lastHash: last.hash };
  }

  /**
   * Keyset pagination: each page is one short query, so a read of any length
   * holds at most one page in memory and no transaction open between pages.
   * Without `to`, the read stops at the head as it was when reading began.
   */
  private async *pages(from: number, to: number | undefined, columns: string): AsyncIterable<EntryRow> {
    assertReadRange(from, to);
    const end = to ?? (await this.head()).size;
    let next = from;
    while (next < end) {
      const rows = await this.query<EntryRow>(
        'read the ledger',
        `SELECT ${columns} FROM ledger_entries WHERE seq >= $1 AND seq < $2 ORDER BY seq LIMIT $3`,
        [next, end, READ_PAGE_SIZE],
      );
      for (const row of rows) yield row;
      if (rows.length < READ_PAGE_SIZE) return;
      next = Number(rows[rows.length - 1]!.seq) + 1;
    }
  }

  private async query<Row extends pg.QueryResultRow>(what: string, text: string, params: unknown[]): Promise<Row[]> {
    this.assertOpen(what);
    try {
      return (await this.pool.query<Row>(text, params)).rows;
    } catch (err) {
      throw this.storeError(err, what);
    }
  }

  private async withClient<T>(what: string, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect(what);
    try {
      return await work(client);
    } catch (err) {
      throw this.storeError(err, what);
    } finally {
      client.release();
    }
  }

  private async connect(what: string): Promise<pg.PoolClient> {
    this.assertOpen(what);
    try {
      return await this.pool.connect();
    } catch (err) {
      throw this.storeError(err, what);
    }
  }

  private assertOpen(what: string): void {
    if (this.closed) throw new GatewayError('STORE_UNAVAILABLE', `cannot ${what}: the store is closed`);
  }

  /**
   * Core and gateway errors pass through; driver errors become gateway codes.
   * Messages name the server as host, port and database only: never the
   * password, and never the driver's own text, which may quote the URL.
   */
  private storeError(err: unknown, what: string): Error {
    if (err instanceof GatewayError || isCountersignError(err)) return err;
    const code = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
    const details = code === undefined ? { server: this.where } : { server: this.where, code };
    if (code === '23505' && typeof err === 'object' && err !== null && 'constraint' in err && err.constraint === 'ledger_entries_unique_key') {
      return new GatewayError('STORE_CONFLICT', `cannot ${what}: an entry that may happen only once is already recorded`, { ...details, constraint: 'unique_key' });
    }
    if (code === '23505') {
      return new GatewayError('STORE_CONFLICT', `cannot ${what}: another writer took the same sequence number`, details);
    }
    if (code === 'XX001' || code === 'XX002') {
      return new GatewayError('STORE_CORRUPT', `cannot ${what}: postgres at \`${this.where}\` reports corrupt data`, details);
    }
    return new GatewayError('STORE_UNAVAILABLE', `cannot ${what}: postgres at \`${this.where}\` failed${code === undefined ? '' : ` (${code})`}`, details);
  }
}

/** How long a follower waits before reconnecting its LISTEN client. */
const FOLLOW_RETRY_MS = 1_000;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
