import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CountersignError,
  createVerifier,
  ed25519Signer,
  leafHash,
  newEd25519KeyPair,
  sealEntry,
  signerVerifierKey,
  verifyCheckpoint,
  type AppendBuilder,
  type AppendWithResult,
  type EntryDraft,
  type LedgerHead,
  type SealedEntry,
  type StoredCheckpoint,
  type TransactionalLedgerStore,
} from '@countersign/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GatewayError } from '../errors.js';
import { SqliteLedgerStore } from '../store/sqlite.js';
import { signedCheckpoints } from '../ledger/checkpoint-scheduler.js';
import { checkpointAsOnlyWriter } from '../store/checkpoint.js';
import type { SequencerObserver } from '../ledger/observer.js';
import { Sequencer } from './plain-sequencer.js';

/** An in-memory store: all or nothing per append, with a gate to hold a transaction open and a fault switch. */
class MemoryStore implements TransactionalLedgerStore {
  readonly kind = 'memory';
  pipelines = false;
  readonly entries: SealedEntry[] = [];
  readonly stored: StoredCheckpoint[] = [];
  readonly calls: number[] = [];
  gate: Promise<void> | null = null;
  failNext: Error | null = null;

  /**
   * Builds under its "lock" (after the gate, with nothing awaited before the
   * insert), on the head as it is then, as the real stores do. `calls`
   * records each transaction's size when it is issued, from a first build
   * that is thrown away.
   */
  async appendWith(knownSize: number, build: AppendBuilder): Promise<AppendWithResult> {
    this.calls.push(build([], this.#head()).sealed.length);
    if (this.gate) await this.gate;
    if (this.failNext) {
      const err = this.failNext;
      this.failNext = null;
      throw err;
    }
    // as the real stores: a writer that counts more than the ledger holds is stale, and nothing is written
    if (knownSize > this.entries.length) throw new GatewayError('STORE_STALE', `the ledger has ${this.entries.length} entries, not ${knownSize}`);
    const caughtUp = this.entries.slice(knownSize);
    const plan = build(caughtUp, this.#head());
    this.entries.push(...plan.sealed);
    return { caughtUp, sealed: plan.sealed };
  }
  #head(): LedgerHead {
    return { size: this.entries.length, lastHash: this.entries.at(-1)?.hash ?? null };
  }
  async probeWrite(): Promise<void> {}
  async follow(): Promise<() => Promise<void>> {
    return async () => undefined;
  }
  async *readProjections(): AsyncIterable<never> {}
  /** Another writer on the same chain (a second replica). */
  appendElsewhere(n: number): void {
    for (let i = 0; i < n; i++) {
      this.entries.push(sealEntry(draft(`elsewhere-${i}`), this.entries.length, this.entries.at(-1)?.hash ?? null));
    }
  }
  async head(): Promise<LedgerHead> {
    return this.#head();
  }
  async *read(from: number, to?: number): AsyncIterable<SealedEntry> {
    yield* this.entries.slice(from, to);
  }
  async putCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    this.stored.push(checkpoint);
  }
  checkpointWith(treeSize: number, sign: (latest: number) => string | null): Promise<number> {
    return checkpointAsOnlyWriter(this, treeSize, sign);
  }
  async latestCheckpoint(): Promise<StoredCheckpoint | null> {
    return this.stored.at(-1) ?? null;
  }
  async *checkpoints(): AsyncIterable<StoredCheckpoint> {
    yield* this.stored;
  }
  async close(): Promise<void> {}
}

function draft(id: string, payload: EntryDraft['payload'] = {}): EntryDraft {
  return { at: '2025-01-01T00:00:00.000Z', type: 'test.appended', actor: null, surface: null, bundle_id: null, subjects: { request: id }, payload };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const ticks = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

/** RFC 6962 §2.1 Merkle Tree Hash, written out recursively as the reference. */
function referenceRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return createHash('sha256').update(Uint8Array.of(1)).update(referenceRoot(leaves.slice(0, k))).update(referenceRoot(leaves.slice(k))).digest();
}

const fakeSign = (treeSize: number, root: Uint8Array): string => `test\n${treeSize}\n${Buffer.from(root).toString('base64')}\n`;

describe('Sequencer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('batches concurrent appends into few transactions, in call order, with contiguous seqs', async () => {
    const store = new MemoryStore();
    const seq = await Sequencer.open(store, { maxBatch: 256 });
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => seq.append(draft(`r${i}`))));
    expect(results.map((e) => e.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    // all 1000 are queued in one turn, before the first batch is cut: only maxBatch cuts them, however fast the machine
    expect(store.calls).toEqual([256, 256, 256, 232]);
    results.forEach((e, i) => expect(Buffer.from(e.bytes).toString()).toContain(`"r${i}"`));
  });

  it('flushes a lone append at once when idle, without waiting for maxDelayMs', async () => {
    const store = new MemoryStore();
    const seq = await Sequencer.open(store, { maxDelayMs: 3_600_000 });
    const entry = await seq.append(draft('only'));
    expect(entry.seq).toBe(0);
    const second = await seq.append(draft('again'));
    expect(second.seq).toBe(1);
    expect(store.calls).toEqual([1, 1]);
  });

  it('resolves only after the commit and queues appends for the next transaction while one is in flight', async () => {
    const store = new MemoryStore();
    const gate = deferred();
    store.gate = gate.promise;
    const seq = await Sequencer.open(store, { maxDelayMs: 0 });
    let aDone = false;
    const a = seq.append(draft('a')).then((e) => ((aDone = true), e));
    await ticks();
    expect(store.calls).toEqual([1]);
    const b = seq.append(draft('b'));
    const c = seq.append(draft('c'));
    await ticks();
    expect(aDone).toBe(false);
    expect(store.calls).toEqual([1]);
    expect(store.entries).toHaveLength(0);
    store.gate = null;
    gate.resolve();
    expect((await a).seq).toBe(0);
    expect([(await b).seq, (await c).seq]).toEqual([1, 2]);
    expect(store.calls).toEqual([1, 2]);
  });

  it('keeps a second batch in flight behind the first on a store that pipelines, and one otherwise', async () => {
    for (const pipelines of [true, false]) {
      const store = new MemoryStore();
      store.pipelines = pipelines;
      const gate = deferred();
      store.gate = gate.promise;
      const seq = await Sequencer.open(store, { maxBatch: 4 });
      const appends = Array.from({ length: 12 }, (_, i) => seq.append(draft(`r${i}`)));
      await ticks();
      expect(store.calls).toEqual(pipelines ? [4, 4] : [4]);
      gate.resolve();
      const entries = await Promise.all(appends);
      expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 12 }, (_, i) => i));
      expect(store.calls).toEqual([4, 4, 4]);
      await seq.close();
    }
  });

  it('cuts batches at maxBatch', async () => {
    const store = new MemoryStore();
    const gate = deferred();
    store.gate = gate.promise;
    const seq = await Sequencer.open(store, { maxBatch: 2, maxDelayMs: 0 });
    const all = [seq.append(draft('a'))];
    await ticks();
    all.push(seq.append(draft('b')), seq.append(draft('c')), seq.append(draft('d')));
    store.gate = null;
    gate.resolve();
    await Promise.all(all);
    expect(store.calls).toEqual([1, 2, 1]);
  });

  it('waits up to maxDelayMs for companions only while the store is busy', async () => {
    // the sequencer's clock and its timer are the test's: the deadline is checked to the millisecond, not raced
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    let now = 0;
    const store = new MemoryStore();
    const gate = deferred();
    store.gate = gate.promise;
    const seq = await Sequencer.open(store, { maxBatch: 100, maxDelayMs: 40, now: () => now });
    const first = seq.append(draft('a'));
    await ticks();
    now = 5;
    const second = seq.append(draft('b'));
    now = 10;
    store.gate = null;
    gate.resolve();
    await first;
    // b arrived during the first transaction; the next batch waits for b's deadline, 5 + 40
    const third = seq.append(draft('c'));
    await ticks();
    now = 44;
    vi.advanceTimersByTime(34);
    await ticks();
    expect(store.calls).toEqual([1]);
    now = 45;
    vi.advanceTimersByTime(1);
    expect(store.calls).toEqual([1, 2]);
    expect([(await second).seq, (await third).seq]).toEqual([1, 2]);
  });

  it('rejects exactly the callers of a failed transaction and leaves nothing of it', async () => {
    const store = new MemoryStore();
    const gate = deferred();
    store.gate = gate.promise;
    const seq = await Sequencer.open(store, { maxDelayMs: 0 });
    const a = seq.append(draft('a'));
    await ticks();
    const b = seq.append(draft('b'));
    const c = seq.append(draft('c'));
    store.gate = null;
    gate.resolve();
    expect((await a).seq).toBe(0);
    // b and c are now the queued batch; fail its transaction
    store.failNext = new Error('disk full');
    const settled = await Promise.allSettled([b, c]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect(store.entries.map((e) => e.seq)).toEqual([0]);
    const d = await seq.append(draft('d'));
    expect(d.seq).toBe(1);
    expect(Buffer.from(d.bytes).toString()).toContain(`"prev_hash":"${Buffer.from(store.entries[0]!.hash).toString('hex')}"`);
  });

  it('on a store that pipelines, a batch sent behind one that failed is sealed again on the head as it is', async () => {
    const store = new MemoryStore();
    store.pipelines = true;
    const gate = deferred();
    store.gate = gate.promise;
    const seq = await Sequencer.open(store, { maxBatch: 2 });
    const first = [seq.append(draft('a')), seq.append(draft('b'))];
    const second = [seq.append(draft('c')), seq.append(draft('d'))];
    await ticks();
    // both batches are in flight: the second was sent counting the first as written
    expect(store.calls).toEqual([2, 2]);
    store.failNext = new Error('disk full');
    store.gate = null;
    gate.resolve();
    const settled = await Promise.allSettled([...first, ...second]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
    // the second found the head short (STORE_STALE), was sealed again at 0, and nothing of the first is stored
    expect(settled.slice(2).map((s) => (s as PromiseFulfilledResult<SealedEntry>).value.seq)).toEqual([0, 1]);
    expect(store.calls).toEqual([2, 2, 2]);
    expect(store.entries.map((e) => e.seq)).toEqual([0, 1]);
    await seq.close();
  });

  it('rejects an invalid draft alone, not the rest of its batch', async () => {
    const store = new MemoryStore();
    const seq = await Sequencer.open(store);
    const results = await Promise.allSettled([
      seq.append(draft('ok-1')),
      seq.append({ ...draft('bad'), payload: { amount: 1.5 } }),
      seq.append({ ...draft('bad-type'), type: 'NoDots' }),
      seq.append(draft('ok-2')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(CountersignError);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'NOT_CANONICALIZABLE' });
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'LEDGER_ENTRY_INVALID' });
    expect(store.entries).toHaveLength(2);
  });

  it('flush() drains, close() drains and then refuses new appends', async () => {
    const store = new MemoryStore();
    const seq = await Sequencer.open(store, { maxBatch: 3 });
    const pending = Array.from({ length: 10 }, (_, i) => seq.append(draft(`r${i}`)));
    await seq.flush();
    expect(store.entries).toHaveLength(10);
    await Promise.all(pending);
    const late = seq.append(draft('late'));
    const closing = seq.close();
    await closing;
    expect((await late).seq).toBe(10);
    await expect(seq.append(draft('after'))).rejects.toMatchObject({ code: 'SEQUENCER_CLOSED' });
  });

  it('reports every append and batch to the observer', async () => {
    const store = new MemoryStore();
    const appends: boolean[] = [];
    const batches: number[] = [];
    const observer: SequencerObserver = {
      append: (e) => appends.push(e.ok && e.latencyMs >= 0),
      batch: (e) => batches.push(e.size),
    };
    const seq = await Sequencer.open(store, { observer });
    await Promise.all(Array.from({ length: 20 }, (_, i) => seq.append(draft(`r${i}`))));
    store.failNext = new Error('boom');
    await expect(seq.append(draft('x'))).rejects.toThrow('boom');
    expect(appends).toEqual([...Array<boolean>(20).fill(true), false]);
    expect(batches.reduce((a, b) => a + b, 0)).toBe(21);
  });

  describe('checkpoints', () => {
    it('signs the RFC 6962 root every N entries and on close', async () => {
      const store = new MemoryStore();
      const seq = await Sequencer.open(store, { maxBatch: 4, checkpoints: { every: 10, intervalMs: 3_600_000, sign: fakeSign } });
      for (let i = 0; i < 25; i++) await seq.append(draft(`r${i}`));
      await seq.flush();
      expect(store.stored.map((c) => c.treeSize)).toEqual([10, 20]);
      await seq.close();
      expect(store.stored.map((c) => c.treeSize)).toEqual([10, 20, 25]);
      for (const c of store.stored) {
        const root = referenceRoot(store.entries.slice(0, c.treeSize).map((e) => leafHash(e.bytes)));
        expect(c.note).toBe(fakeSign(c.treeSize, root));
      }
    });

    it('writes a checkpoint after T ms when entries are uncovered, even with no further appends', async () => {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      let now = 0;
      const store = new MemoryStore();
      const seq = await Sequencer.open(store, { checkpoints: { every: 1000, intervalMs: 30, sign: fakeSign }, now: () => now });
      await Promise.all([seq.append(draft('a')), seq.append(draft('b')), seq.append(draft('c'))]);
      // the cycle ends by arming the timer, at 0
      await seq.flush();
      now = 29;
      vi.advanceTimersByTime(29);
      await seq.flush();
      expect(store.stored).toHaveLength(0);
      now = 30;
      vi.advanceTimersByTime(1);
      // the timer started a cycle, and nothing else did: flush waits for it
      await seq.flush();
      expect(store.stored.map((c) => c.treeSize)).toEqual([3]);
      await seq.close();
      expect(store.stored.map((c) => c.treeSize)).toEqual([3]);
    });

    it('rebuilds the frontier on open and catches up with entries another writer appended', async () => {
      const store = new MemoryStore();
      store.appendElsewhere(7);
      const seq = await Sequencer.open(store, { checkpoints: { every: 5, sign: fakeSign } });
      expect(seq.size).toBe(7);
      await seq.append(draft('mine-1'));
      store.appendElsewhere(3);
      await seq.append(draft('mine-2'));
      await seq.flush();
      expect(seq.size).toBe(12);
      await seq.close();
      const last = store.stored.at(-1)!;
      expect(last.treeSize).toBe(12);
      expect(last.note).toBe(fakeSign(12, referenceRoot(store.entries.map((e) => leafHash(e.bytes)))));
    });

    it('signs C2SP checkpoints with the gateway key that verify offline', async () => {
      const store = new MemoryStore();
      const signer = ed25519Signer('countersign.dev/ledger/test', newEd25519KeyPair().privateKey);
      const seq = await Sequencer.open(store, { checkpoints: signedCheckpoints('countersign.dev/ledger/test', signer, { every: 3 }) });
      for (let i = 0; i < 7; i++) await seq.append(draft(`r${i}`));
      await seq.close();
      expect(store.stored.map((c) => c.treeSize)).toEqual([3, 6, 7]);
      const vkey = signerVerifierKey(signer);
      for (const c of store.stored) {
        const verified = verifyCheckpoint(c.note, [vkey], { origin: 'countersign.dev/ledger/test' });
        expect(verified.treeSize).toBe(c.treeSize);
        expect(Buffer.from(verified.rootHash)).toEqual(Buffer.from(referenceRoot(store.entries.slice(0, c.treeSize).map((e) => leafHash(e.bytes)))));
        expect(verified.keyId).toBe(vkey.keyId);
      }
    });

    it('keeps one verifiable chain when two sequencers share a SQLite file', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'countersign-sequencer-'));
      try {
        const path = join(dir, 'ledger.db');
        const signer = ed25519Signer('countersign.dev/ledger/test', newEd25519KeyPair().privateKey);
        const options = { checkpoints: signedCheckpoints('countersign.dev/ledger/test', signer, { every: 7 }) };
        const [a, b] = [SqliteLedgerStore.open(path), SqliteLedgerStore.open(path)];
        const [one, two] = [await Sequencer.open(a, options), await Sequencer.open(b, options)];
        for (let i = 0; i < 20; i++) {
          await Promise.all([one.append(draft(`a${i}`)), one.append(draft(`a${i}'`)), two.append(draft(`b${i}`))]);
        }
        await Promise.all([one.close(), two.close()]);
        const verifier = createVerifier({ origin: 'countersign.dev/ledger/test', trustedKeys: [signerVerifierKey(signer)] });
        for await (const c of a.checkpoints()) verifier.checkpoint(c.note);
        for await (const e of a.read(0)) verifier.entry(e.seq, e.bytes);
        const result = verifier.finish();
        expect(result.size).toBe(60);
        // each sequencer checkpointed the entries the other wrote too: their roots verified
        expect(result.checkpoints).toBeGreaterThanOrEqual(8);
        expect(result.checkpointedSize).toBe(60);
        await Promise.all([a.close(), b.close()]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('keeps entries durable and reports when storing a checkpoint fails', async () => {
      const store = new MemoryStore();
      const errors: unknown[] = [];
      store.putCheckpoint = async () => {
        throw new Error('checkpoint table locked');
      };
      const seq = await Sequencer.open(store, { checkpoints: { every: 1, sign: fakeSign }, observer: { error: (e) => errors.push(e) } });
      const entry = await seq.append(draft('a'));
      await seq.flush();
      expect(entry.seq).toBe(0);
      expect(errors).toHaveLength(1);
    });

    it('after a failed checkpoint, waits a full interval before trying again', async () => {
      const store = new MemoryStore();
      const put = store.putCheckpoint.bind(store);
      let failures = 1;
      store.putCheckpoint = async (c) => {
        if (failures-- > 0) throw new Error('checkpoint table locked');
        await put(c);
      };
      let now = 0;
      const errors: unknown[] = [];
      const seq = await Sequencer.open(store, {
        checkpoints: { every: 1000, intervalMs: 100_000, sign: fakeSign },
        observer: { error: (e) => errors.push(e) },
        now: () => now,
      });
      // flush: a cycle checks for a checkpoint after its callers are resolved
      const append = async (id: string): Promise<void> => {
        await seq.append(draft(id));
        await seq.flush();
      };
      await append('a');
      now = 100_000;
      await append('b');
      expect(errors).toHaveLength(1);
      now = 199_999;
      await append('c');
      expect(store.stored).toEqual([]);
      now = 200_000;
      await append('d');
      expect(store.stored.map((c) => c.treeSize)).toEqual([4]);
      await seq.close();
      expect(errors).toHaveLength(1);
    });

    it('rejects a schedule that is not positive integers', async () => {
      for (const schedule of [{ every: 0 }, { intervalMs: 2.5 }]) {
        await expect(Sequencer.open(new MemoryStore(), { checkpoints: { ...schedule, sign: fakeSign } })).rejects.toMatchObject({ code: 'USAGE' });
      }
    });
  });
});
