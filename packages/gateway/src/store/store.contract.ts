import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decodeEntry,
  GENESIS_PREV_HASH,
  leafHash,
  sealEntry,
  type AppendPlan,
  type EntryDraft,
  type LedgerHead,
  type LedgerStore,
  type ProjectionWrite,
  type SealedEntry,
  type StoredProjection,
  type TransactionalLedgerStore,
} from '@countersign/core';
import { appendDrafts } from '../testing/plain-append.js';

/** One empty storage location (a file, a schema) and the store opened on it. */
export interface StoreUnderTest {
  readonly store: TransactionalLedgerStore;
  /** Open another, independent connection to the same storage. */
  openAnother(): Promise<TransactionalLedgerStore>;
  /** Close every store opened here and remove the storage. */
  dispose(): Promise<void>;
}

export interface StoreContractOptions {
  readonly name: string;
  readonly newStore: () => Promise<StoreUnderTest>;
}

export function draft(n: number, extra: Record<string, string> = {}): EntryDraft {
  return {
    at: '2025-01-01T00:00:00.000Z',
    type: 'test.appended',
    actor: 'alice',
    surface: 'signed-cli',
    bundle_id: null,
    subjects: { test: `t-${n}` },
    payload: { n, ...extra },
  };
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** The drafts sealed after `head`, as a writer seals them: `sealEntry` for each, chained. */
export function sealAfter(head: LedgerHead, drafts: readonly EntryDraft[]): SealedEntry[] {
  let prev = head.lastHash;
  return drafts.map((d, i) => {
    const entry = sealEntry(d, head.size + i, prev);
    prev = entry.hash;
    return entry;
  });
}

/** A plan as a writer builds it: the drafts sealed after `head` (the store never seals), their keys and rows. */
export function plan(head: LedgerHead, drafts: readonly EntryDraft[], keys: readonly (string | null)[] = [], projections: readonly ProjectionWrite[] = []): AppendPlan {
  return { drafts, sealed: sealAfter(head, drafts), uniqueKeys: drafts.map((_, i) => keys[i] ?? null), projections };
}

async function projections(store: TransactionalLedgerStore): Promise<StoredProjection[]> {
  return collect(store.readProjections());
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Walk the whole ledger and check it is one chain: seq 0..n-1, stored hash = leaf hash of the bytes, prev_hash links. */
export async function assertLinearChain(store: LedgerStore): Promise<SealedEntry[]> {
  const entries = await collect(store.read(0));
  let prev = GENESIS_PREV_HASH;
  entries.forEach((entry, index) => {
    expect(entry.seq).toBe(index);
    expect(hex(entry.hash)).toBe(hex(leafHash(entry.bytes)));
    const decoded = decodeEntry(entry.bytes);
    expect(decoded.seq).toBe(index);
    expect(decoded.prev_hash).toBe(prev);
    prev = hex(entry.hash);
  });
  const head = await store.head();
  expect(head.size).toBe(entries.length);
  expect(head.lastHash === null ? null : hex(head.lastHash)).toBe(entries.length === 0 ? null : prev);
  return entries;
}

function exposeGc(): () => void {
  // vitest gives us no --expose-gc; the flag can still be set at run time
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/**
 * The one conformance suite every `LedgerStore` adapter runs (as hono's
 * routers run `runTest({ newRouter })`).
 */
export function runStoreContract({ name, newStore }: StoreContractOptions): void {
  describe(`LedgerStore contract: ${name}`, () => {
    let sut: StoreUnderTest;
    let store: TransactionalLedgerStore;

    beforeEach(async () => {
      sut = await newStore();
      store = sut.store;
    });
    afterEach(async () => {
      await sut.dispose();
    });

    it('starts empty', async () => {
      expect(await store.head()).toEqual({ size: 0, lastHash: null });
      expect(await collect(store.read(0))).toEqual([]);
      expect(await store.latestCheckpoint()).toBeNull();
      expect(await collect(store.checkpoints())).toEqual([]);
      // an empty plan commits and leaves the ledger as it was
      expect((await store.appendWith(0, () => ({ drafts: [], sealed: [], uniqueKeys: [], projections: [] }))).sealed).toEqual([]);
      expect((await store.head()).size).toBe(0);
    });

    it('round-trips exact bytes and hashes, sealed as sealEntry would seal them', async () => {
      const drafts = [draft(0), draft(1, { note: 'ünïcödé ✓' }), draft(2)];
      const sealed = await appendDrafts(store, drafts);
      let prev: Uint8Array | null = null;
      const expected = drafts.map((d, i) => {
        const entry = sealEntry(d, i, prev);
        prev = entry.hash;
        return entry;
      });
      expect(sealed.map((e) => [e.seq, hex(e.hash), hex(e.bytes)])).toEqual(expected.map((e) => [e.seq, hex(e.hash), hex(e.bytes)]));
      const read = await collect(store.read(0));
      expect(read.map((e) => [e.seq, hex(e.hash), hex(e.bytes)])).toEqual(expected.map((e) => [e.seq, hex(e.hash), hex(e.bytes)]));
      expect(decodeEntry(read[1]!.bytes).payload).toEqual({ n: 1, note: 'ünïcödé ✓' });
      const head = await store.head();
      expect(head.size).toBe(3);
      expect(hex(head.lastHash!)).toBe(hex(expected[2]!.hash));
    });

    it('continues the sequence and the hash chain across separate appends', async () => {
      const first = await appendDrafts(store, [draft(0), draft(1)]);
      const second = await appendDrafts(store, [draft(2)]);
      const third = await appendDrafts(store, [draft(3), draft(4), draft(5)]);
      expect([...first, ...second, ...third].map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(decodeEntry(second[0]!.bytes).prev_hash).toBe(hex(first[1]!.hash));
      expect(decodeEntry(third[0]!.bytes).prev_hash).toBe(hex(second[0]!.hash));
      const entries = await assertLinearChain(store);
      expect(decodeEntry(entries[0]!.bytes).prev_hash).toBe(GENESIS_PREV_HASH);
    });

    it('appends all or nothing: one invalid draft rejects the whole batch', async () => {
      await appendDrafts(store, [draft(0), draft(1)]);
      const before = await store.head();
      const invalid: EntryDraft = { ...draft(99), type: 'Not A Type' };
      await expect(appendDrafts(store, [draft(2), draft(3), invalid, draft(4)])).rejects.toMatchObject({ code: 'LEDGER_ENTRY_INVALID' });
      const floaty: EntryDraft = { ...draft(98), payload: { ratio: 0.5 } };
      await expect(appendDrafts(store, [draft(2), floaty])).rejects.toMatchObject({ code: 'NOT_CANONICALIZABLE' });
      const after = await store.head();
      expect(after.size).toBe(before.size);
      expect(hex(after.lastHash!)).toBe(hex(before.lastHash!));
      expect((await collect(store.read(0))).length).toBe(2);
      const next = await appendDrafts(store, [draft(2)]);
      expect(next[0]!.seq).toBe(2);
      await assertLinearChain(store);
    });

    it('reads half-open ranges', async () => {
      await appendDrafts(store, Array.from({ length: 10 }, (_, i) => draft(i)));
      const seqs = async (from: number, to?: number): Promise<number[]> => (await collect(store.read(from, to))).map((e) => e.seq);
      expect(await seqs(3, 7)).toEqual([3, 4, 5, 6]);
      expect(await seqs(8)).toEqual([8, 9]);
      expect(await seqs(0, 1)).toEqual([0]);
      expect(await seqs(5, 5)).toEqual([]);
      expect(await seqs(7, 3)).toEqual([]);
      expect(await seqs(10)).toEqual([]);
      expect(await seqs(20, 30)).toEqual([]);
      expect(await seqs(6, 1000)).toEqual([6, 7, 8, 9]);
      await expect(collect(store.read(-1))).rejects.toMatchObject({ code: 'USAGE' });
      await expect(collect(store.read(1.5))).rejects.toMatchObject({ code: 'USAGE' });
    });

    it('reads across page boundaries and lets appends run while a read is open', async () => {
      await appendDrafts(store, Array.from({ length: 2500 }, (_, i) => draft(i)));
      const seen: number[] = [];
      for await (const entry of store.read(999, 2001)) {
        seen.push(entry.seq);
        if (entry.seq === 1000) await appendDrafts(store, [draft(2500)]);
      }
      expect(seen).toEqual(Array.from({ length: 1002 }, (_, i) => 999 + i));
      // without `to`, a read stops at the head as it was when the read began
      const tail: number[] = [];
      for await (const entry of store.read(2490)) {
        tail.push(entry.seq);
        if (tail.length === 1) await appendDrafts(store, [draft(2501)]);
      }
      expect(tail).toEqual(Array.from({ length: 11 }, (_, i) => 2490 + i));
      expect((await store.head()).size).toBe(2502);
    });

    it('reads 50,000 entries in bounded memory', async () => {
      const total = 50_000;
      const filler = 'x'.repeat(1000);
      for (let start = 0; start < total; start += 2000) {
        await appendDrafts(store, Array.from({ length: 2000 }, (_, i) => draft(start + i, { filler })));
      }
      const gc = exposeGc();
      // V8 frees ArrayBuffer memory on a background sweeper after a GC: on a loaded machine the
      // count lags, so collect, give the sweeper a moment, and collect again before reading it
      const used = async (): Promise<number> => {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 25));
        gc();
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const baseline = await used();
      let midway = 0;
      let count = 0;
      let prev = GENESIS_PREV_HASH;
      for await (const entry of store.read(0)) {
        expect(entry.seq).toBe(count);
        if (count % 5000 === 0) expect(decodeEntry(entry.bytes).prev_hash).toBe(prev);
        prev = hex(entry.hash);
        count += 1;
        if (count === total / 2) midway = (await used()) - baseline;
      }
      expect(count).toBe(total);
      // materialising the ledger would hold over 25 MB of the 50 MB here at the midpoint
      expect(midway).toBeLessThan(12 * 1024 * 1024);
    }, 120_000);

    it('stores checkpoints and lists them by tree size', async () => {
      await appendDrafts(store, Array.from({ length: 10 }, (_, i) => draft(i)));
      await store.putCheckpoint({ treeSize: 5, note: 'note five\n' });
      await store.putCheckpoint({ treeSize: 2, note: 'note two\n' });
      await store.putCheckpoint({ treeSize: 10, note: 'note ten\n' });
      expect(await collect(store.checkpoints())).toEqual([
        { treeSize: 2, note: 'note two\n' },
        { treeSize: 5, note: 'note five\n' },
        { treeSize: 10, note: 'note ten\n' },
      ]);
      expect(await store.latestCheckpoint()).toEqual({ treeSize: 10, note: 'note ten\n' });
      // the same checkpoint again is a no-op; a different one for the same size is a conflict
      await store.putCheckpoint({ treeSize: 5, note: 'note five\n' });
      await expect(store.putCheckpoint({ treeSize: 5, note: 'another\n' })).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      await expect(store.putCheckpoint({ treeSize: 11, note: 'ahead\n' })).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      await expect(store.putCheckpoint({ treeSize: -1, note: 'bad\n' })).rejects.toMatchObject({ code: 'USAGE' });
      expect((await collect(store.checkpoints())).map((c) => c.treeSize)).toEqual([2, 5, 10]);
    });

    it('checkpointWith hands the signer the latest stored size and stores its note, or nothing when it declines', async () => {
      await appendDrafts(store, Array.from({ length: 10 }, (_, i) => draft(i)));
      const seen: number[] = [];
      expect(await store.checkpointWith(4, (latest) => (seen.push(latest), 'note four\n'))).toBe(4);
      expect(await store.checkpointWith(6, (latest) => (seen.push(latest), null))).toBe(4);
      expect(await store.checkpointWith(10, (latest) => (seen.push(latest), 'note ten\n'))).toBe(10);
      expect(seen).toEqual([0, 4, 4]);
      expect(await collect(store.checkpoints())).toEqual([
        { treeSize: 4, note: 'note four\n' },
        { treeSize: 10, note: 'note ten\n' },
      ]);
      await expect(store.checkpointWith(11, () => 'ahead\n')).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      await expect(store.checkpointWith(-1, () => 'bad\n')).rejects.toMatchObject({ code: 'USAGE' });
      await expect(
        store.checkpointWith(10, () => {
          throw new Error('the signer failed');
        }),
      ).rejects.toThrow('the signer failed');
      expect((await collect(store.checkpoints())).map((c) => c.treeSize)).toEqual([4, 10]);
    });

    it('persists across close and reopen, and continues the chain', async () => {
      const sealed = await appendDrafts(store, [draft(0), draft(1), draft(2)]);
      await store.putCheckpoint({ treeSize: 3, note: 'three\n' });
      await store.close();
      await expect(appendDrafts(store, [draft(3)])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      const reopened = await sut.openAnother();
      const read = await collect(reopened.read(0));
      expect(read.map((e) => hex(e.bytes))).toEqual(sealed.map((e) => hex(e.bytes)));
      expect(await reopened.latestCheckpoint()).toEqual({ treeSize: 3, note: 'three\n' });
      const more = await appendDrafts(reopened, [draft(3)]);
      expect(more[0]!.seq).toBe(3);
      await assertLinearChain(reopened);
    });

    it('orders concurrent appends from many callers into one linear chain', async () => {
      const callers = 40;
      const results = await Promise.all(
        Array.from({ length: callers }, (_, c) => appendDrafts(store, Array.from({ length: 1 + (c % 5) }, (_, i) => draft(c * 100 + i)))),
      );
      for (const batch of results) {
        batch.forEach((entry, i) => expect(entry.seq).toBe(batch[0]!.seq + i));
      }
      const entries = await assertLinearChain(store);
      const expected = Array.from({ length: callers }, (_, c) => Array.from({ length: 1 + (c % 5) }, (_, i) => c * 100 + i)).flat();
      expect(entries.map((e) => decodeEntry(e.bytes).payload['n']).sort((a, b) => Number(a) - Number(b))).toEqual(expected.sort((a, b) => a - b));
    });

    it('keeps one chain when two connections append to the same storage', async () => {
      const other = await sut.openAnother();
      await appendDrafts(store, [draft(0)]);
      await appendDrafts(other, [draft(1)]);
      await appendDrafts(store, [draft(2), draft(3)]);
      await Promise.all(Array.from({ length: 20 }, (_, i) => appendDrafts(i % 2 === 0 ? store : other, [draft(10 + i), draft(100 + i)])));
      const entries = await assertLinearChain(store);
      expect(entries.length).toBe(44);
      expect((await other.head()).size).toBe(44);
      expect(hex((await other.head()).lastHash!)).toBe(hex(entries[43]!.hash));
    });

    it('appendWith appends a plan sealed after the head it was given and stores its projection rows', async () => {
      await appendDrafts(store, [draft(0)]);
      const seen: { caughtUp: number[]; size: number }[] = [];
      const result = await store.appendWith(1, (caughtUp, head) => {
        seen.push({ caughtUp: caughtUp.map((e) => e.seq), size: head.size });
        return plan(head, [draft(1), draft(2)], ['k-1', null], [
          { kind: 'grant', id: 'g-1', value: '{"status":"issued"}' },
          { kind: 'bundle', id: 'active', value: '{"bundle_id":"b"}' },
        ]);
      });
      expect(seen).toEqual([{ caughtUp: [], size: 1 }]);
      expect(result.caughtUp).toEqual([]);
      expect(result.sealed.map((e) => e.seq)).toEqual([1, 2]);
      expect(decodeEntry(result.sealed[0]!.bytes).prev_hash).toBe(hex((await collect(store.read(0, 1)))[0]!.hash));
      await assertLinearChain(store);
      expect(await projections(store)).toEqual([
        { kind: 'bundle', id: 'active', value: '{"bundle_id":"b"}' },
        { kind: 'grant', id: 'g-1', value: '{"status":"issued"}' },
      ]);
      // later writes replace a row; a null value deletes it; the last write of a plan wins
      await store.appendWith(3, (_caughtUp, head) =>
        plan(head, [draft(3)], [], [
          { kind: 'grant', id: 'g-1', value: '{"status":"used"}' },
          { kind: 'grant', id: 'g-1', value: '{"status":"consumed"}' },
          { kind: 'bundle', id: 'active', value: null },
          { kind: 'hold', id: 'h-1', value: null },
        ]),
      );
      expect(await projections(store)).toEqual([{ kind: 'grant', id: 'g-1', value: '{"status":"consumed"}' }]);
    });

    it('stores and deletes the projection rows of one very large commit, whatever the store sends them in', async () => {
      // more rows than PostgreSQL sends in one statement (PROJECTION_CHUNK_ROWS), and not a multiple of it
      const n = 25_003;
      const rows = Array.from({ length: n }, (_, i) => ({ kind: 'grant', id: `g-${String(i).padStart(6, '0')}`, value: `{"n":${i}}` }));
      await store.appendWith(0, (_caughtUp, head) => plan(head, [draft(0)], [], rows));
      const stored = await projections(store);
      expect(stored).toHaveLength(n);
      expect([stored[0], stored[10_000], stored[n - 1]]).toEqual([rows[0], rows[10_000], rows[n - 1]]);
      // all but the first and last deleted in one commit
      await store.appendWith(1, (_caughtUp, head) => plan(head, [draft(1)], [], rows.slice(1, -1).map((r) => ({ ...r, value: null }))));
      expect(await projections(store)).toEqual([rows[0], rows[n - 1]]);
    }, 60_000);

    it('appendWith catches up on what another connection appended, inside the same transaction', async () => {
      const other = await sut.openAnother();
      await store.appendWith(0, (_caughtUp, head) => plan(head, [draft(0)]));
      await appendDrafts(other, [draft(1), draft(2)]);
      await other.appendWith(3, (_caughtUp, head) => plan(head, [draft(3)], [], [{ kind: 'step', id: 's', value: '1' }]));
      let caught: SealedEntry[] = [];
      const result = await store.appendWith(1, (caughtUp, head) => {
        caught = [...caughtUp];
        expect(head.size).toBe(4);
        expect(hex(head.lastHash!)).toBe(hex(caughtUp[2]!.hash));
        return plan(head, [draft(4)]);
      });
      expect(caught.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(result.caughtUp.map((e) => decodeEntry(e.bytes).payload['n'])).toEqual([1, 2, 3]);
      expect(result.sealed[0]!.seq).toBe(4);
      expect(decodeEntry(result.sealed[0]!.bytes).prev_hash).toBe(hex(caught[2]!.hash));
      await assertLinearChain(store);
      expect(await projections(store)).toEqual([{ kind: 'step', id: 's', value: '1' }]);
    });

    it('serialises concurrent appendWith calls from two connections: each build sees every entry before its own', async () => {
      const other = await sut.openAnother();
      const writers = [store, other];
      await appendDrafts(other, Array.from({ length: 5 }, (_, i) => draft(100 + i)));
      const sizes: number[] = [];
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => {
          const known = i % 3 === 0 ? 5 : 0;
          return writers[i % 2]!.appendWith(known, (caughtUp, head) => {
            expect(caughtUp.map((e) => e.seq)).toEqual(Array.from({ length: head.size - known }, (_, j) => known + j));
            sizes.push(head.size);
            return plan(head, [draft(i)], [`k-${i}`], [{ kind: 'count', id: 'n', value: String(head.size + 1) }]);
          });
        }),
      );
      expect(sizes).toEqual(Array.from({ length: 30 }, (_, i) => 5 + i));
      await assertLinearChain(store);
      expect(await projections(store)).toEqual([{ kind: 'count', id: 'n', value: '35' }]);
    });

    it('refuses a unique key already stored: the whole plan, entries and projection rows, is rolled back', async () => {
      await store.appendWith(0, (_caughtUp, head) => plan(head, [draft(0)], ['grant.consumed:g-1'], [{ kind: 'grant', id: 'g-1', value: '"consumed"' }]));
      const before = await store.head();
      const other = await sut.openAnother();
      await expect(
        other.appendWith(1, (_caughtUp, head) => plan(head, [draft(1), draft(2)], [null, 'grant.consumed:g-1'], [{ kind: 'grant', id: 'g-1', value: '"twice"' }, { kind: 'execution', id: 'e-2', value: '{}' }])),
      ).rejects.toMatchObject({ code: 'STORE_CONFLICT', details: expect.objectContaining({ constraint: 'unique_key' }) });
      // entries sealed at the head, from a state that never saw the key: refused all the same
      await expect(store.appendWith(1, (_caughtUp, head) => plan(head, [draft(3)], ['grant.consumed:g-1']))).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      // two equal keys in one plan
      await expect(store.appendWith(1, (_caughtUp, head) => plan(head, [draft(4), draft(5)], ['x', 'x']))).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      const after = await store.head();
      expect(after.size).toBe(before.size);
      expect(hex(after.lastHash!)).toBe(hex(before.lastHash!));
      expect(await projections(store)).toEqual([{ kind: 'grant', id: 'g-1', value: '"consumed"' }]);
      // other keys still go in, and the chain continues where it was
      const next = await store.appendWith(1, (_caughtUp, head) => plan(head, [draft(6)], ['grant.consumed:g-2']));
      expect(next.sealed[0]!.seq).toBe(1);
      await assertLinearChain(store);
    });

    it('derives unique keys for plain appends from the entry type', async () => {
      const consumed = (n: number): EntryDraft => ({ ...draft(n), type: 'grant.consumed', payload: { jti: 'g-7', step: 'proposal-7.0', n } });
      await appendDrafts(store, [consumed(0)]);
      await expect(appendDrafts(store, [consumed(1)])).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      await appendDrafts(store, [draft(2), draft(3)]);
      expect((await store.head()).size).toBe(3);
    });

    it('appendWith writes nothing when the build throws or a draft is invalid', async () => {
      await appendDrafts(store, [draft(0)]);
      const boom = new Error('build failed');
      await expect(store.appendWith(1, () => { throw boom; })).rejects.toBe(boom);
      await expect(
        store.appendWith(1, (_caughtUp, head) => plan(head, [draft(1), { ...draft(2), type: 'Bad Type' }], [], [{ kind: 'grant', id: 'g', value: '1' }])),
      ).rejects.toMatchObject({ code: 'LEDGER_ENTRY_INVALID' });
      await expect(store.appendWith(1, (_caughtUp, head) => ({ ...plan(head, [draft(1)]), uniqueKeys: [] }))).rejects.toMatchObject({ code: 'USAGE' });
      expect((await store.head()).size).toBe(1);
      expect(await projections(store)).toEqual([]);
    });

    it('appendWith refuses a known size beyond the head (a stale view, not corruption) or not a size at all', async () => {
      await appendDrafts(store, [draft(0)]);
      let called = false;
      const build = (_caughtUp: readonly SealedEntry[], head: LedgerHead): AppendPlan => {
        called = true;
        return plan(head, [draft(1)]);
      };
      await expect(store.appendWith(2, build)).rejects.toMatchObject({ code: 'STORE_STALE' });
      await expect(store.appendWith(-1, build)).rejects.toMatchObject({ code: 'USAGE' });
      expect(called).toBe(false);
      expect((await store.head()).size).toBe(1);
    });

    it('never seals: entries sealed on another head are refused as STORE_STALE, and nothing is written', async () => {
      const [first] = await appendDrafts(store, [draft(0)]);
      const genesis: LedgerHead = { size: 0, lastHash: null };
      const row = [{ kind: 'grant', id: 'g', value: '1' }];
      // sealed on the empty ledger, one entry too early
      await expect(store.appendWith(1, () => plan(genesis, [draft(1)], ['k'], row))).rejects.toMatchObject({ code: 'STORE_STALE' });
      // the right sequence number, but linked to another previous hash
      const elsewhere: LedgerHead = { size: 1, lastHash: new Uint8Array(32) };
      await expect(store.appendWith(1, () => plan(elsewhere, [draft(1)], ['k'], row))).rejects.toMatchObject({ code: 'STORE_STALE' });
      // the second entry of the plan does not follow the first
      await expect(
        store.appendWith(1, (_caughtUp, head) => {
          const good = plan(head, [draft(1), draft(2)]);
          return { ...good, sealed: [good.sealed[0]!, sealAfter(head, [draft(2)])[0]!] };
        }),
      ).rejects.toMatchObject({ code: 'STORE_STALE' });
      // a hash that is not the leaf hash of the bytes is the writer's bug
      await expect(
        store.appendWith(1, (_caughtUp, head) => {
          const good = plan(head, [draft(1)]);
          return { ...good, sealed: [{ ...good.sealed[0]!, hash: new Uint8Array(32) }] };
        }),
      ).rejects.toMatchObject({ code: 'USAGE' });
      const head = await store.head();
      expect(head.size).toBe(1);
      expect(hex(head.lastHash!)).toBe(hex(first!.hash));
      expect(await projections(store)).toEqual([]);
      // the key was not taken by any of them
      expect((await store.appendWith(1, (_caughtUp, at) => plan(at, [draft(1)], ['k'], row))).sealed[0]!.seq).toBe(1);
      await assertLinearChain(store);
    });

    it('appendWith with an expected head: built at once, committed only if the ledger still ends there', async () => {
      const [first] = await appendDrafts(store, [draft(0)]);
      const expected: LedgerHead = { size: 1, lastHash: first!.hash };
      const seen: { caughtUp: number; size: number }[] = [];
      const result = await store.appendWith(
        1,
        (caughtUp, head) => {
          seen.push({ caughtUp: caughtUp.length, size: head.size });
          return plan(head, [draft(1)], ['k-1'], [{ kind: 'grant', id: 'g', value: '1' }]);
        },
        { expected },
      );
      expect(seen).toEqual([{ caughtUp: 0, size: 1 }]);
      expect(result.caughtUp).toEqual([]);
      expect(result.sealed.map((e) => e.seq)).toEqual([1]);
      // another connection appends: the head this writer expects is gone
      const other = await sut.openAnother();
      const moved = await appendDrafts(other, [draft(2)]);
      const stale: LedgerHead = { size: 2, lastHash: result.sealed[0]!.hash };
      await expect(store.appendWith(2, (_caughtUp, head) => plan(head, [draft(3)], ['k-3'], [{ kind: 'grant', id: 'g', value: '3' }]), { expected: stale })).rejects.toMatchObject({
        code: 'STORE_STALE',
      });
      // a size that the expected head does not have is a usage error, refused before anything is built
      await expect(store.appendWith(1, (_caughtUp, head) => plan(head, [draft(3)]), { expected: stale })).rejects.toMatchObject({ code: 'USAGE' });
      const head = await store.head();
      expect(head.size).toBe(3);
      expect(hex(head.lastHash!)).toBe(hex(moved[0]!.hash));
      expect(await projections(store)).toEqual([{ kind: 'grant', id: 'g', value: '1' }]);
      // sealed again on the real head, it commits, and the key it carries was never taken
      const again = await store.appendWith(3, (_caughtUp, at) => plan(at, [draft(3)], ['k-3']), { expected: head });
      expect(again.sealed.map((e) => e.seq)).toEqual([3]);
      await assertLinearChain(store);
    });

    it('reads projection rows across pages', async () => {
      const rows = Array.from({ length: 2100 }, (_, i) => ({ kind: i % 2 === 0 ? 'grant' : 'step', id: `id-${String(i).padStart(5, '0')}`, value: String(i) }));
      await store.appendWith(0, (_caughtUp, head) => plan(head, [draft(0)], [], rows));
      const read = await projections(store);
      expect(read.length).toBe(2100);
      expect(read.map((r) => `${r.kind}/${r.id}`)).toEqual(rows.map((r) => `${r.kind}/${r.id}`).sort());
    });
  });
}
