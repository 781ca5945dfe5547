import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import type { TransactionalLedgerStore } from '@countersign/core';
import { SCHEMA_VERSION } from './migrations.js';
import { dropTestSchema, reachableTestPostgres, testSchemaName } from './pg-test-url.js';
import { PostgresLedgerStore } from './postgres.js';
import { draft, runStoreContract } from './store.contract.js';
import { appendDrafts } from '../testing/plain-append.js';

const url = await reachableTestPostgres();

describe.skipIf(url === null)('PostgresLedgerStore on the real server', () => {
  const pgUrl = url!;

  runStoreContract({
    name: 'postgres',
    newStore: async () => {
      const schema = testSchemaName();
      const opened: TransactionalLedgerStore[] = [await PostgresLedgerStore.open(pgUrl, { schema })];
      return {
        store: opened[0]!,
        openAnother: async () => {
          const store = await PostgresLedgerStore.open(pgUrl, { schema });
          opened.push(store);
          return store;
        },
        dispose: async () => {
          for (const store of opened) await store.close();
          await dropTestSchema(pgUrl, schema);
        },
      };
    },
  });

  describe('PostgresLedgerStore', () => {
    const schemas: string[] = [];
    const fresh = (): string => {
      const schema = testSchemaName();
      schemas.push(schema);
      return schema;
    };
    const admin = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      try {
        return await work(client);
      } finally {
        await client.end();
      }
    };
    afterAll(async () => {
      for (const schema of schemas) await dropTestSchema(pgUrl, schema);
    });

    it('migrates once, idempotently, in its own schema', async () => {
      const schema = fresh();
      const [a, b] = await Promise.all([PostgresLedgerStore.open(pgUrl, { schema }), PostgresLedgerStore.open(pgUrl, { schema })]);
      await a.close();
      await b.close();
      await (await PostgresLedgerStore.open(pgUrl, { schema })).close();
      const versions = await admin(async (client) => (await client.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`)).rows);
      expect(versions).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })));
    });

    it('refuses a database whose schema is newer than the code', async () => {
      const schema = fresh();
      await (await PostgresLedgerStore.open(pgUrl, { schema })).close();
      await admin((client) => client.query(`INSERT INTO "${schema}".schema_migrations (version, name) VALUES ($1, 'future')`, [SCHEMA_VERSION + 1]));
      await expect(PostgresLedgerStore.open(pgUrl, { schema })).rejects.toMatchObject({ code: 'MIGRATION_FAILED', message: expect.stringContaining('newer') });
    });

    it('rejects a schema name that is not a plain identifier', async () => {
      await expect(PostgresLedgerStore.open(pgUrl, { schema: 'x"; DROP TABLE y; --' })).rejects.toMatchObject({ code: 'USAGE' });
    });

    it('rejects, whole, an append whose sequence number another writer took, even one that skipped the lock', async () => {
      const schema = fresh();
      const store = await PostgresLedgerStore.open(pgUrl, { schema });
      await appendDrafts(store, [draft(0)]);
      const rogue = new pg.Client({ connectionString: pgUrl });
      await rogue.connect();
      try {
        // a second "leader" that never takes the sequencer lock inserts seq 1 and holds its transaction open
        await rogue.query('BEGIN');
        await rogue.query(`INSERT INTO "${schema}".ledger_entries (seq, hash, bytes) VALUES (1, $1, $2)`, [Buffer.alloc(32), Buffer.from('{}')]);
        const roguePid = (await rogue.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
        // the expectation is attached before the COMMIT: the append may reject before the COMMIT's own answer arrives
        const rejected = expect(appendDrafts(store, [draft(1), draft(2), draft(3)])).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
        // the COMMIT only once the append waits on the rogue's row (bounded): committed earlier, the append would read
        // a head that already holds seq 1 and append after it, and the conflict under test would not happen
        const blocked = async (): Promise<boolean> =>
          admin(async (client) => (await client.query<{ n: number }>('SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [roguePid])).rows[0]!.n > 0);
        for (let i = 0; i < 200 && !(await blocked()); i++) await new Promise((resolve) => setTimeout(resolve, 25));
        await rogue.query('COMMIT');
        await rejected;
      } finally {
        await rogue.end();
      }
      const rows = await admin(async (client) => (await client.query(`SELECT seq FROM "${schema}".ledger_entries ORDER BY seq`)).rows);
      expect(rows).toEqual([{ seq: '0' }, { seq: '1' }]);
      await store.close();
    });

    it('reports an unreachable server as STORE_UNAVAILABLE without the password', async () => {
      const secret = 'hunter2-Sup3rSecret';
      const err = await PostgresLedgerStore.open(`postgres://postgres:${secret}@127.0.0.1:1/test`, { connectTimeoutMs: 2000 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      const seen = `${String((err as Error).message)} ${JSON.stringify((err as { details?: unknown }).details)} ${String((err as Error).stack)}`;
      expect(seen).toContain('127.0.0.1:1/test');
      expect(seen).not.toContain(secret);
      expect((err as Error).cause).toBeUndefined();
    });

    it('streams leaf hashes without the entry bytes', async () => {
      const store = await PostgresLedgerStore.open(pgUrl, { schema: fresh() });
      const sealed = await appendDrafts(store, Array.from({ length: 5 }, (_, i) => draft(i)));
      const hashes: string[] = [];
      for await (const hash of store.readLeafHashes(1, 4)) hashes.push(Buffer.from(hash).toString('hex'));
      expect(hashes).toEqual(sealed.slice(1, 4).map((e) => Buffer.from(e.hash).toString('hex')));
      await store.close();
    });

    it('inserts a batch larger than one statement can carry', async () => {
      const store = await PostgresLedgerStore.open(pgUrl, { schema: fresh() });
      const sealed = await appendDrafts(store, Array.from({ length: 2500 }, (_, i) => draft(i)));
      expect(sealed.length).toBe(2500);
      expect((await store.head()).size).toBe(2500);
      await store.close();
    });
  });
});
