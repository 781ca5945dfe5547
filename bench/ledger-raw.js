// Raw store ceilings for issue 3's Measure: batched inserts of rows shaped and
// sized like ledger entries, with the same durability, into the same tables,
// without sealing, hashing or the sequencer. The ledger bench divides its
// append rates by these. Functions return figures; the caller prints the table.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { SqliteLedgerStore } from '../packages/gateway/dist/store/sqlite.js';
import { PostgresLedgerStore } from '../packages/gateway/dist/store/postgres.js';

function makeRows(rows, rowBytes) {
  return Array.from({ length: rows }, (_, seq) => ({ seq, hash: randomBytes(32), bytes: randomBytes(rowBytes) }));
}

function result(engine, options, seconds) {
  return { engine, ...options, seconds, rowsPerSecond: options.rows / seconds };
}

/**
 * Rows/s of raw inserts into a fresh SQLite ledger file (WAL, `synchronous`
 * FULL by default), `batchSize` rows per transaction, one prepared insert.
 */
export async function measureSqliteRawInserts({ rows = 100_000, rowBytes = 300, batchSize = 100, synchronous = 'FULL' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-bench-raw-'));
  try {
    const path = join(dir, 'raw.db');
    // the store's own migrations create the table, so the schema is the ledger's
    await SqliteLedgerStore.open(path).close();
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${synchronous}`);
    const insert = db.prepare('INSERT INTO ledger_entries (seq, hash, bytes) VALUES (?, ?, ?)');
    const batch = db.transaction((slice) => {
      for (const row of slice) insert.run(row.seq, row.hash, row.bytes);
    });
    const data = makeRows(rows, rowBytes);
    const started = process.hrtime.bigint();
    for (let i = 0; i < data.length; i += batchSize) batch.immediate(data.slice(i, i + batchSize));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    db.close();
    return result('sqlite', { rows, rowBytes, batchSize, synchronous }, seconds);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Rows/s of raw inserts into a fresh PostgreSQL ledger schema: one multi-row
 * INSERT of `batchSize` rows per transaction (committed durably,
 * synchronous_commit=on as the store sets it), `connections` transactions in flight.
 */
export async function measurePostgresRawInserts({ url, rows = 20_000, rowBytes = 300, batchSize = 100, connections = 1 } = {}) {
  if (!url) throw new Error('measurePostgresRawInserts needs `url`');
  const schema = `cs_bench_${randomBytes(6).toString('hex')}`;
  await (await PostgresLedgerStore.open(url, { schema })).close();
  const pool = new pg.Pool({ connectionString: url, max: connections, options: `-c search_path=${schema} -c synchronous_commit=on` });
  try {
    const data = makeRows(rows, rowBytes);
    const values = Array.from({ length: batchSize }, (_, i) => `($${3 * i + 1}, $${3 * i + 2}, $${3 * i + 3})`);
    let next = 0;
    const worker = async () => {
      const client = await pool.connect();
      try {
        while (next < data.length) {
          const slice = data.slice(next, next + batchSize);
          next += slice.length;
          // a single statement outside BEGIN is its own transaction: one commit per batch
          await client.query(
            `INSERT INTO ledger_entries (seq, hash, bytes) VALUES ${values.slice(0, slice.length).join(', ')}`,
            slice.flatMap((row) => [row.seq, row.hash, row.bytes]),
          );
        }
      } finally {
        client.release();
      }
    };
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: connections }, worker));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return result('postgres', { rows, rowBytes, batchSize, connections }, seconds);
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await pool.end();
  }
}

// `node bench/ledger-raw.js [postgres-url]` prints the figures as JSON lines
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(JSON.stringify(await measureSqliteRawInserts()));
  const url = process.argv[2] ?? process.env.COUNTERSIGN_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  console.log(JSON.stringify(await measurePostgresRawInserts({ url })));
}
