import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppendPlan, EntryDraft, LedgerStore, TransactionalLedgerStore } from '@countersign/core';
import { SCHEMA_VERSION } from './migrations.js';
import type { SqliteWriterThread } from './sqlite-writer.js';
import { SqliteLedgerStore } from './sqlite.js';
import { draft, runStoreContract } from './store.contract.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'countersign-sqlite-'));
}

runStoreContract({
  name: 'sqlite',
  newStore: async () => {
    const dir = tempDir();
    const path = join(dir, 'ledger.db');
    const opened: TransactionalLedgerStore[] = [SqliteLedgerStore.open(path)];
    return {
      store: opened[0]!,
      openAnother: async () => {
        const store = SqliteLedgerStore.open(path);
        opened.push(store);
        return store;
      },
      dispose: async () => {
        for (const store of opened) await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

runStoreContract({
  name: 'sqlite, writes inline',
  newStore: async () => {
    const dir = tempDir();
    const path = join(dir, 'ledger.db');
    const opened: TransactionalLedgerStore[] = [SqliteLedgerStore.open(path, { writer: 'inline' })];
    return {
      store: opened[0]!,
      openAnother: async () => {
        const store = SqliteLedgerStore.open(path, { writer: 'inline' });
        opened.push(store);
        return store;
      },
      dispose: async () => {
        for (const store of opened) await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

describe('SqliteLedgerStore', () => {
  const dirs: string[] = [];
  const fresh = (): string => {
    const dir = tempDir();
    dirs.push(dir);
    return join(dir, 'ledger.db');
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('uses WAL with synchronous=FULL by default', async () => {
    const path = fresh();
    const store = SqliteLedgerStore.open(path);
    await store.close();
    const db = new Database(path);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    // synchronous is per connection: check what the store set on its own
    const probe = SqliteLedgerStore.open(path) as unknown as { db: Database.Database };
    expect(probe.db.pragma('synchronous', { simple: true })).toBe(2);
    await (probe as unknown as LedgerStore).close();
    const normal = SqliteLedgerStore.open(path, { synchronous: 'NORMAL' }) as unknown as { db: Database.Database };
    expect(normal.db.pragma('synchronous', { simple: true })).toBe(1);
    await (normal as unknown as LedgerStore).close();
  });

  it('commits on a writer thread whose own connection is synchronous=FULL, unless told otherwise', async () => {
    const path = fresh();
    const store = SqliteLedgerStore.open(path) as unknown as { writer: SqliteWriterThread | null } & LedgerStore;
    expect(store.writer).not.toBeNull();
    expect(await store.writer!.synchronous()).toBe(2);
    await store.close();
    const normal = SqliteLedgerStore.open(path, { synchronous: 'NORMAL' }) as unknown as { writer: SqliteWriterThread } & LedgerStore;
    expect(await normal.writer.synchronous()).toBe(1);
    await normal.close();
    const inline = SqliteLedgerStore.open(path, { writer: 'inline' }) as unknown as { writer: SqliteWriterThread | null } & LedgerStore;
    expect(inline.writer).toBeNull();
    await inline.close();
  });

  it('fails every write, closed, once its writer thread is gone, and acknowledges nothing it did not commit', async () => {
    const path = fresh();
    const store = SqliteLedgerStore.open(path);
    await store.append([draft(0)]);
    await (store as unknown as { writer: SqliteWriterThread }).writer.abort();
    await expect(store.append([draft(1)])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(store.appendWith(1, () => ({ drafts: [draft(1)], uniqueKeys: [null], projections: [] }))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect((await store.head()).size).toBe(1);
    await store.close();
  });

  it('records the schema version and migrates idempotently', async () => {
    const path = fresh();
    await SqliteLedgerStore.open(path).close();
    await SqliteLedgerStore.open(path).close();
    const db = new Database(path);
    expect(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all()).toEqual(
      Array.from({ length: SCHEMA_VERSION }, (_, i) => ({ version: i + 1 })),
    );
    db.close();
  });

  it('refuses a database whose schema is newer than the code', async () => {
    const path = fresh();
    await SqliteLedgerStore.open(path).close();
    const db = new Database(path);
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 'x')").run(SCHEMA_VERSION + 1);
    db.close();
    expect(() => SqliteLedgerStore.open(path)).toThrow(expect.objectContaining({ code: 'MIGRATION_FAILED', message: expect.stringContaining('newer') }));
    expect(() => SqliteLedgerStore.open(path, { readonly: true })).toThrow(expect.objectContaining({ code: 'MIGRATION_FAILED' }));
  });

  it('opens read-only without creating or writing', async () => {
    const missing = fresh();
    expect(() => SqliteLedgerStore.open(missing, { readonly: true })).toThrow(expect.objectContaining({ code: 'FILE_NOT_FOUND' }));
    const path = fresh();
    const writer = SqliteLedgerStore.open(path);
    await writer.append([draft(0), draft(1)]);
    await writer.close();
    const reader = SqliteLedgerStore.open(path, { readonly: true });
    expect((await reader.head()).size).toBe(2);
    await expect(reader.append([draft(2)])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await reader.close();
  });

  it('reports a file that is not a database as STORE_CORRUPT', () => {
    const path = fresh();
    writeFileSync(path, 'this is not a sqlite database, just some text that is long enough to fill a header page'.repeat(10));
    expect(() => SqliteLedgerStore.open(path)).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT' }));
  });

  it('rejects an unknown synchronous mode', () => {
    expect(() => SqliteLedgerStore.open(fresh(), { synchronous: 'LAZY' as 'FULL' })).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it('streams leaf hashes without the entry bytes', async () => {
    const store = SqliteLedgerStore.open(fresh());
    const sealed = await store.append(Array.from({ length: 5 }, (_, i) => draft(i)));
    const hashes: string[] = [];
    for await (const hash of store.readLeafHashes(1, 4)) hashes.push(Buffer.from(hash).toString('hex'));
    expect(hashes).toEqual(sealed.slice(1, 4).map((e) => Buffer.from(e.hash).toString('hex')));
    await store.close();
  });

  describe('appends sent ahead (pipelining)', () => {
    const plan = (drafts: readonly EntryDraft[], keys: readonly (string | null)[] = drafts.map(() => null)): AppendPlan => ({ drafts, uniqueKeys: keys, projections: [] });

    it('builds and sends the next append before the previous one committed; the thread commits them in order', async () => {
      const store = SqliteLedgerStore.open(fresh());
      expect(store.pipelines).toBe(true);
      const built: number[] = [];
      const first = store.appendWith(0, (_c, head) => (built.push(head.size), plan([draft(0), draft(1)])), { ahead: true });
      const second = store.appendWith(2, (_c, head) => (built.push(head.size), plan([draft(2)])), { ahead: true });
      // both plans were built at once, on the heads the appends before them will leave
      expect(built).toEqual([0, 2]);
      const [a, b] = await Promise.all([first, second]);
      expect(a.sealed.map((e) => e.seq)).toEqual([0, 1]);
      expect(b.sealed.map((e) => e.seq)).toEqual([2]);
      const stored = [];
      for await (const entry of store.read(0)) stored.push(entry);
      expect(stored.map((e) => Buffer.from(e.hash).toString('hex'))).toEqual([...a.sealed, ...b.sealed].map((e) => Buffer.from(e.hash).toString('hex')));
      await store.close();
    });

    it('refuses as STORE_STALE, writing nothing, an append sent ahead behind one that failed; a plain append is sealed again', async () => {
      const store = SqliteLedgerStore.open(fresh());
      await store.appendWith(0, () => plan([draft(0)], ['once']));
      const failing = store.appendWith(1, () => plan([draft(1)], ['once']), { ahead: true });
      const behind = store.appendWith(2, () => plan([draft(2)]), { ahead: true });
      const plain = store.append([draft(3)]);
      await expect(failing).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      await expect(behind).rejects.toMatchObject({ code: 'STORE_STALE' });
      // sealed on head 3 when sent, committed at seq 1 after the two before it wrote nothing
      expect((await plain).map((e) => e.seq)).toEqual([1]);
      expect((await store.head()).size).toBe(2);
      await store.close();
    });

    it('calls a caller stale, not corrupt, when it built on an append sent ahead that failed', async () => {
      const store = SqliteLedgerStore.open(fresh());
      await store.appendWith(0, () => plan([draft(0)], ['once']));
      await expect(store.appendWith(1, () => plan([draft(1)], ['once']), { ahead: true })).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      // the caller counts the failed append (known size 2); the tip is gone, so the store locks and finds 1
      await expect(store.appendWith(2, () => plan([draft(2)]), { ahead: true })).rejects.toMatchObject({ code: 'STORE_STALE' });
      // without `ahead` the same known size is a writer that read another ledger
      await expect(store.appendWith(2, () => plan([draft(2)]))).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
      expect((await store.head()).size).toBe(1);
      await store.close();
    });

    it('finds an append of another connection in between: STORE_STALE, then a locked append catches up', async () => {
      const path = fresh();
      const a = SqliteLedgerStore.open(path);
      const b = SqliteLedgerStore.open(path);
      await a.append([draft(0)]);
      // b still believes the ledger is empty: its append is sent ahead, found stale, sealed again under the lock
      expect((await b.append([draft(1)])).map((e) => e.seq)).toEqual([1]);
      await expect(a.appendWith(1, () => plan([draft(2)]), { ahead: true })).rejects.toMatchObject({ code: 'STORE_STALE' });
      expect((await a.head()).size).toBe(2);
      const caught = await a.appendWith(1, (caughtUp) => plan([draft(2 + caughtUp.length)]));
      expect(caught.caughtUp.map((e) => e.seq)).toEqual([1]);
      expect(caught.sealed.map((e) => e.seq)).toEqual([2]);
      await a.close();
      await b.close();
    });

    it('does not pipeline when it writes inline', async () => {
      const store = SqliteLedgerStore.open(fresh(), { writer: 'inline' });
      expect(store.pipelines).toBe(false);
      await store.close();
    });
  });
});
