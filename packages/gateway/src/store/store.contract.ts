import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decodeEntry,
  GENESIS_PREV_HASH,
  leafHash,
  sealEntry,
  type EntryDraft,
  type LedgerStore,
  type SealedEntry,
} from '@countersign/core';

/** One empty storage location (a file, a schema) and the store opened on it. */
export interface StoreUnderTest {
  readonly store: LedgerStore;
  /** Open another, independent connection to the same storage. */
  openAnother(): Promise<LedgerStore>;
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
    let store: LedgerStore;

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
      expect(await store.append([])).toEqual([]);
      expect((await store.head()).size).toBe(0);
    });

    it('round-trips exact bytes and hashes, sealed as sealEntry would seal them', async () => {
      const drafts = [draft(0), draft(1, { note: 'ünïcödé ✓' }), draft(2)];
      const sealed = await store.append(drafts);
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
      const first = await store.append([draft(0), draft(1)]);
      const second = await store.append([draft(2)]);
      const third = await store.append([draft(3), draft(4), draft(5)]);
      expect([...first, ...second, ...third].map((e) => e.seq)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(decodeEntry(second[0]!.bytes).prev_hash).toBe(hex(first[1]!.hash));
      expect(decodeEntry(third[0]!.bytes).prev_hash).toBe(hex(second[0]!.hash));
      const entries = await assertLinearChain(store);
      expect(decodeEntry(entries[0]!.bytes).prev_hash).toBe(GENESIS_PREV_HASH);
    });

    it('appends all or nothing: one invalid draft rejects the whole batch', async () => {
      await store.append([draft(0), draft(1)]);
      const before = await store.head();
      const invalid: EntryDraft = { ...draft(99), type: 'Not A Type' };
      await expect(store.append([draft(2), draft(3), invalid, draft(4)])).rejects.toMatchObject({ code: 'LEDGER_ENTRY_INVALID' });
      const floaty: EntryDraft = { ...draft(98), payload: { ratio: 0.5 } };
      await expect(store.append([draft(2), floaty])).rejects.toMatchObject({ code: 'NOT_CANONICALIZABLE' });
      const after = await store.head();
      expect(after.size).toBe(before.size);
      expect(hex(after.lastHash!)).toBe(hex(before.lastHash!));
      expect((await collect(store.read(0))).length).toBe(2);
      const next = await store.append([draft(2)]);
      expect(next[0]!.seq).toBe(2);
      await assertLinearChain(store);
    });

    it('reads half-open ranges', async () => {
      await store.append(Array.from({ length: 10 }, (_, i) => draft(i)));
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
      await store.append(Array.from({ length: 2500 }, (_, i) => draft(i)));
      const seen: number[] = [];
      for await (const entry of store.read(999, 2001)) {
        seen.push(entry.seq);
        if (entry.seq === 1000) await store.append([draft(2500)]);
      }
      expect(seen).toEqual(Array.from({ length: 1002 }, (_, i) => 999 + i));
      // without `to`, a read stops at the head as it was when the read began
      const tail: number[] = [];
      for await (const entry of store.read(2490)) {
        tail.push(entry.seq);
        if (tail.length === 1) await store.append([draft(2501)]);
      }
      expect(tail).toEqual(Array.from({ length: 11 }, (_, i) => 2490 + i));
      expect((await store.head()).size).toBe(2502);
    });

    it('reads 50,000 entries in bounded memory', async () => {
      const total = 50_000;
      const filler = 'x'.repeat(1000);
      for (let start = 0; start < total; start += 2000) {
        await store.append(Array.from({ length: 2000 }, (_, i) => draft(start + i, { filler })));
      }
      const gc = exposeGc();
      const used = (): number => {
        gc();
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers;
      };
      const baseline = used();
      let midway = 0;
      let count = 0;
      let prev = GENESIS_PREV_HASH;
      for await (const entry of store.read(0)) {
        expect(entry.seq).toBe(count);
        if (count % 5000 === 0) expect(decodeEntry(entry.bytes).prev_hash).toBe(prev);
        prev = hex(entry.hash);
        count += 1;
        if (count === total / 2) midway = used() - baseline;
      }
      expect(count).toBe(total);
      // materialising the ledger would hold over 25 MB of the 50 MB here at the midpoint
      expect(midway).toBeLessThan(12 * 1024 * 1024);
    }, 120_000);

    it('stores checkpoints and lists them by tree size', async () => {
      await store.append(Array.from({ length: 10 }, (_, i) => draft(i)));
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

    it('persists across close and reopen, and continues the chain', async () => {
      const sealed = await store.append([draft(0), draft(1), draft(2)]);
      await store.putCheckpoint({ treeSize: 3, note: 'three\n' });
      await store.close();
      await expect(store.append([draft(3)])).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      const reopened = await sut.openAnother();
      const read = await collect(reopened.read(0));
      expect(read.map((e) => hex(e.bytes))).toEqual(sealed.map((e) => hex(e.bytes)));
      expect(await reopened.latestCheckpoint()).toEqual({ treeSize: 3, note: 'three\n' });
      const more = await reopened.append([draft(3)]);
      expect(more[0]!.seq).toBe(3);
      await assertLinearChain(reopened);
    });

    it('orders concurrent appends from many callers into one linear chain', async () => {
      const callers = 40;
      const results = await Promise.all(
        Array.from({ length: callers }, (_, c) => store.append(Array.from({ length: 1 + (c % 5) }, (_, i) => draft(c * 100 + i)))),
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
      await store.append([draft(0)]);
      await other.append([draft(1)]);
      await store.append([draft(2), draft(3)]);
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : other).append([draft(10 + i), draft(100 + i)])));
      const entries = await assertLinearChain(store);
      expect(entries.length).toBe(44);
      expect((await other.head()).size).toBe(44);
      expect(hex((await other.head()).lastHash!)).toBe(hex(entries[43]!.hash));
    });
  });
}
