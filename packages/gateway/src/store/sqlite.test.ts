import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { LedgerHead, LedgerStore, TransactionalLedgerStore } from '@countersign/core';
import { SCHEMA_VERSION } from './migrations.js';
import type { SqliteWriterThread } from './sqlite-writer.js';
import { SqliteLedgerStore } from './sqlite.js';
import { assertLinearChain, draft, plan, runStoreContract } from './store.contract.js';
import { appendDrafts } from '../testing/plain-append.js';

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
    await appendDrafts(store, [draft(0)]);
    await (store as unknown as { writer: SqliteWriterThread }).writer.abort();
    await expect(appendDrafts(store, [draft(1)])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(store.appendWith(1, (_caughtUp, head) => plan(head, [draft(1)]))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    const head = await store.head();
    await expect(store.appendWith(1, (_caughtUp, at) => plan(at, [draft(1)]), { expected: head })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
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
    await appendDrafts(writer, [draft(0), draft(1)]);
    await writer.close();
    const reader = SqliteLedgerStore.open(path, { readonly: true });
    expect((await reader.head()).size).toBe(2);
    await expect(appendDrafts(reader, [draft(2)])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
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

  it('reads one projection row now, with the ledger size it is current at (ADR 006: records read back)', async () => {
    const store = SqliteLedgerStore.open(fresh());
    const genesis: LedgerHead = { size: 0, lastHash: null };
    expect(store.readRowNow('step', 'step-1')).toBeNull();
    const first = plan(genesis, [draft(0), draft(1)], [], [{ kind: 'step', id: 'step-1', value: '{"id":"step-1","n":1}' }]);
    await store.appendWith(0, () => first, { expected: genesis });
    expect(store.readRowNow('step', 'step-1')).toEqual({ value: '{"id":"step-1","n":1}', size: 2 });
    const tip: LedgerHead = { size: 2, lastHash: first.sealed[1]!.hash };
    await store.appendWith(2, () => plan(tip, [draft(2)], [], [{ kind: 'step', id: 'step-1', value: '{"id":"step-1","n":2}' }]), { expected: tip });
    expect(store.readRowNow('step', 'step-1')).toEqual({ value: '{"id":"step-1","n":2}', size: 3 });
    expect(store.readRowNow('grant', 'step-1')).toBeNull();
    await store.close();
    expect(() => store.readRowNow('step', 'step-1')).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE' }) as Error);
  });

  it('streams leaf hashes without the entry bytes', async () => {
    const store = SqliteLedgerStore.open(fresh());
    const sealed = await appendDrafts(store, Array.from({ length: 5 }, (_, i) => draft(i)));
    const hashes: string[] = [];
    for await (const hash of store.readLeafHashes(1, 4)) hashes.push(Buffer.from(hash).toString('hex'));
    expect(hashes).toEqual(sealed.slice(1, 4).map((e) => Buffer.from(e.hash).toString('hex')));
    await store.close();
  });

  describe('appends with an expected head, posted without waiting (the sequencer pipelines)', () => {
    const genesis: LedgerHead = { size: 0, lastHash: null };

    it('posts the next append before the previous one committed; the thread commits them in order', async () => {
      const store = SqliteLedgerStore.open(fresh());
      expect(store.pipelines).toBe(true);
      const built: number[] = [];
      const firstPlan = plan(genesis, [draft(0), draft(1)]);
      const first = store.appendWith(0, (_c, head) => (built.push(head.size), firstPlan), { expected: genesis });
      // the caller, not the store, knows the head the first append will leave
      const tip: LedgerHead = { size: 2, lastHash: firstPlan.sealed[1]!.hash };
      const second = store.appendWith(2, (_c, head) => (built.push(head.size), plan(head, [draft(2)])), { expected: tip });
      // both plans were built at once, on the heads the caller gave
      expect(built).toEqual([0, 2]);
      const [a, b] = await Promise.all([first, second]);
      expect(a.sealed.map((e) => e.seq)).toEqual([0, 1]);
      expect(b.sealed.map((e) => e.seq)).toEqual([2]);
      const stored = [];
      for await (const entry of store.read(0)) stored.push(entry);
      expect(stored.map((e) => Buffer.from(e.hash).toString('hex'))).toEqual([...a.sealed, ...b.sealed].map((e) => Buffer.from(e.hash).toString('hex')));
      await store.close();
    });

    it('refuses as STORE_STALE, writing nothing, an append posted behind one that failed; the store seals nothing again', async () => {
      const store = SqliteLedgerStore.open(fresh());
      const [zero] = (await store.appendWith(0, (_c, head) => plan(head, [draft(0)], ['once']))).sealed;
      const head: LedgerHead = { size: 1, lastHash: zero!.hash };
      const failingPlan = plan(head, [draft(1)], ['once']);
      const failing = store.appendWith(1, () => failingPlan, { expected: head });
      const behind = store.appendWith(2, (_c, at) => plan(at, [draft(2)]), { expected: { size: 2, lastHash: failingPlan.sealed[0]!.hash } });
      const plain = appendDrafts(store, [draft(3)]);
      await expect(failing).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      await expect(behind).rejects.toMatchObject({ code: 'STORE_STALE' });
      // a plain append seals on the head it reads under the lock: after the two that wrote nothing
      expect((await plain).map((e) => e.seq)).toEqual([1]);
      expect((await store.head()).size).toBe(2);
      await store.close();
    });

    it('keeps a locked append and appends posted around it apart on the one connection', async () => {
      const store = SqliteLedgerStore.open(fresh());
      const firstPlan = plan(genesis, [draft(0)]);
      const first = store.appendWith(0, () => firstPlan, { expected: genesis });
      const locked = store.appendWith(1, (_caughtUp, head) => plan(head, [draft(1)]));
      const after = store.appendWith(1, (_c, head) => plan(head, [draft(9)]), { expected: { size: 1, lastHash: firstPlan.sealed[0]!.hash } });
      await first;
      expect((await locked).sealed.map((e) => e.seq)).toEqual([1]);
      // posted once the locked append ended, which moved the head it expected
      await expect(after).rejects.toMatchObject({ code: 'STORE_STALE' });
      await assertLinearChain(store);
      await store.close();
    });

    it('finds an append of another connection in between: STORE_STALE, then a locked append catches up', async () => {
      const path = fresh();
      const a = SqliteLedgerStore.open(path);
      const b = SqliteLedgerStore.open(path);
      const [zero] = await appendDrafts(a, [draft(0)]);
      expect((await appendDrafts(b, [draft(1)])).map((e) => e.seq)).toEqual([1]);
      const believed: LedgerHead = { size: 1, lastHash: zero!.hash };
      await expect(a.appendWith(1, (_c, head) => plan(head, [draft(2)]), { expected: believed })).rejects.toMatchObject({ code: 'STORE_STALE' });
      expect((await a.head()).size).toBe(2);
      const caught = await a.appendWith(1, (caughtUp, head) => plan(head, [draft(2 + caughtUp.length)]));
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
