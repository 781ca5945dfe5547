import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStore } from './open.js';
import { dropTestSchema, reachableTestPostgres, testSchemaName } from './pg-test-url.js';
import { PostgresLedgerStore } from './postgres.js';
import { SqliteLedgerStore } from './sqlite.js';
import { draft } from './store.contract.js';
import { appendDrafts } from '../testing/plain-append.js';

const url = await reachableTestPostgres();

describe('openStore', () => {
  it('opens a SQLite file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-open-'));
    try {
      const store = await openStore({ sqlite: join(dir, 'ledger.db') });
      expect(store).toBeInstanceOf(SqliteLedgerStore);
      expect((await appendDrafts(store, [draft(0)]))[0]!.seq).toBe(0);
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(url === null)('opens a PostgreSQL schema', async () => {
    const schema = testSchemaName();
    try {
      const store = await openStore({ postgres: url!, schema });
      expect(store).toBeInstanceOf(PostgresLedgerStore);
      expect((await appendDrafts(store, [draft(0)]))[0]!.seq).toBe(0);
      await store.close();
    } finally {
      await dropTestSchema(url!, schema);
    }
  });
});
