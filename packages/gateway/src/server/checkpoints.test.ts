import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ed25519Signer,
  leafHash,
  merkleRoot,
  newEd25519KeyPair,
  parseCheckpoint,
  signCheckpoint,
  signerVerifierKey,
  verifyCheckpoint,
  type EntryDraft,
  type LedgerStore,
  type SealedEntry,
} from '@countersign/core';
import { SqliteLedgerStore } from '../store/sqlite.js';
import { CheckpointWriter, type CheckpointWriterOptions } from './checkpoints.js';

const ORIGIN = 'countersign.dev/ledger/test';

function draft(n: number): EntryDraft {
  return { at: '2025-01-01T00:00:00.000Z', type: 'test.appended', actor: null, surface: null, bundle_id: null, subjects: { request: `r-${n}` }, payload: { n } };
}

/** Make `store.putCheckpoint` throw `err` while `failing.on`. */
function failingCheckpoints(store: SqliteLedgerStore, err: Error): { on: boolean } {
  const failing = { on: true };
  const put = store.putCheckpoint.bind(store);
  store.putCheckpoint = async (checkpoint) => {
    if (failing.on) throw err;
    return put(checkpoint);
  };
  return failing;
}

/** A store whose reads are recorded: where each catch-up started reading. */
function recorded(store: SqliteLedgerStore): { store: SqliteLedgerStore; reads: number[] } {
  const reads: number[] = [];
  const read = store.read.bind(store);
  store.read = (from: number, to?: number) => {
    reads.push(from);
    return read(from, to);
  };
  return { store, reads };
}

describe('CheckpointWriter', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const open = (): SqliteLedgerStore => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-checkpoints-'));
    dirs.push(dir);
    return SqliteLedgerStore.open(join(dir, 'ledger.db'));
  };

  it('takes the entries the sequencer hands over, reads back only what it did not see, and signs the root of the bytes', async () => {
    const { store, reads } = recorded(open());
    const key = newEd25519KeyPair().privateKey;
    await store.append([draft(0), draft(1), draft(2)]);
    const writer = await CheckpointWriter.open(store, { origin: ORIGIN, key, intervalMs: 60_000 });
    expect(writer.size).toBe(3);

    const mine: SealedEntry[] = [...(await store.append([draft(3), draft(4)]))];
    writer.observe(mine);
    reads.length = 0;
    await writer.flush();
    // the handed-over entries were taken: the store is read from 5 on, not from 3
    expect(reads).toEqual([5]);
    expect(writer.size).toBe(5);

    // another writer's entry in between: the batch after it does not extend the frontier, so both are read back
    await store.append([draft(5)]);
    writer.observe(await store.append([draft(6)]));
    reads.length = 0;
    const latest = await writer.flush();
    expect(reads).toEqual([5]);
    expect(writer.size).toBe(7);

    const leaves: Uint8Array[] = [];
    for await (const entry of store.read(0)) leaves.push(leafHash(entry.bytes));
    const checkpoint = parseCheckpoint(latest!.note);
    expect(checkpoint.treeSize).toBe(7);
    expect(Buffer.from(checkpoint.rootHash).equals(Buffer.from(merkleRoot(leaves)))).toBe(true);
    expect(() => verifyCheckpoint(latest!.note, [signerVerifierKey(ed25519Signer(ORIGIN, key))], { origin: ORIGIN })).not.toThrow();
    const proof = await writer.prove(4);
    expect(proof.leaf_hash).toBe(Buffer.from(leaves[4]!).toString('base64'));

    await writer.close();
    await store.close();
  });

  it('skips a handed-over batch it already read from the store', async () => {
    const store = open();
    const key = newEd25519KeyPair().privateKey;
    const early = await store.append([draft(0), draft(1)]);
    const writer = await CheckpointWriter.open(store, { origin: ORIGIN, key, intervalMs: 60_000 });
    // committed before the writer opened, so read at open; handed over late, it must not be pushed twice
    writer.observe(early);
    const latest = await writer.flush();
    expect(writer.size).toBe(2);
    expect(parseCheckpoint(latest!.note).treeSize).toBe(2);
    await writer.close();
    await store.close();
  });

  it('rejects an `every` or `intervalMs` that is not a positive integer before reading the store', async () => {
    const key = newEd25519KeyPair().privateKey;
    // any store call would fail with a TypeError, not USAGE
    const nothing = {} as LedgerStore;
    await expect(CheckpointWriter.open(nothing, { origin: ORIGIN, key, every: 0 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(CheckpointWriter.open(nothing, { origin: ORIGIN, key, intervalMs: -1 })).rejects.toMatchObject({ code: 'USAGE' });
  });

  /** A writer on a new store with a new key, its `onCheckpoint` sizes and `onError` failures recorded. */
  const writerOn = async (options: Partial<CheckpointWriterOptions> = {}) => {
    const store = open();
    const checkpoints: number[] = [];
    const errors: unknown[] = [];
    const key = newEd25519KeyPair().privateKey;
    const writer = await CheckpointWriter.open(store, {
      origin: ORIGIN,
      key,
      intervalMs: 60_000,
      onCheckpoint: (size) => checkpoints.push(size),
      onError: (err) => errors.push(err),
      ...options,
    });
    return { store, writer, checkpoints, errors };
  };

  it('writes on a tick once `every` entries are uncovered, not before, and reports each checkpoint', async () => {
    const { store, writer, checkpoints } = await writerOn({ every: 3 });
    await store.append([draft(0), draft(1)]);
    await writer.tick();
    expect(await store.latestCheckpoint()).toBeNull();
    await store.append([draft(2)]);
    await writer.tick();
    expect((await store.latestCheckpoint())?.treeSize).toBe(3);
    expect(checkpoints).toEqual([3]);
    // flush covers the rest whether due or not; close has nothing left to write
    await store.append([draft(3)]);
    await writer.flush();
    await writer.close();
    expect(checkpoints).toEqual([3, 4]);
    await store.close();
  });

  it('rejects flush with the store’s failure, reporting it nowhere else, and writes on the next flush', async () => {
    const { store, writer, errors } = await writerOn();
    await store.append([draft(0), draft(1)]);
    const failure = new Error('disk full');
    const failing = failingCheckpoints(store, failure);
    await expect(writer.flush()).rejects.toBe(failure);
    await expect(writer.close()).rejects.toBe(failure);
    expect(errors).toEqual([]);
    failing.on = false;
    expect((await writer.flush())?.treeSize).toBe(2);
    await store.close();
  });

  it('resolves flush with the stored checkpoint when onCheckpoint throws: it was written, not failed', async () => {
    const { store, writer } = await writerOn({
      onCheckpoint: () => {
        throw new Error('the metric broke');
      },
    });
    await store.append([draft(0), draft(1)]);
    expect((await writer.flush())?.treeSize).toBe(2);
    await writer.close();
    await store.close();
  });

  it('lets another replica’s checkpoint of the same size stand, and counts it as written', async () => {
    const { store, writer, checkpoints } = await writerOn();
    const entries = await store.append([draft(0), draft(1)]);
    // a replica with another key signs the same tree differently, and stores first
    const other = ed25519Signer(ORIGIN, newEd25519KeyPair().privateKey);
    const theirs = signCheckpoint({ origin: ORIGIN, treeSize: 2, rootHash: merkleRoot(entries.map((e) => e.hash)) }, other);
    await store.putCheckpoint({ treeSize: 2, note: theirs });
    expect((await writer.flush())?.note).toBe(theirs);
    expect(checkpoints).toEqual([2]);
    // covered: close writes nothing more
    await writer.close();
    expect(checkpoints).toEqual([2]);
    await store.close();
  });

  it('polls the store on its timer: covers entries it was never handed, and reports a failed write to onError', async () => {
    const { store, writer, errors } = await writerOn({ intervalMs: 10 });
    const failure = new Error('checkpoint table locked');
    const failing = failingCheckpoints(store, failure);
    // another replica's entries, after open: only reading the store finds them
    await store.append([draft(0), draft(1), draft(2)]);
    await vi.waitFor(() => expect(errors).toContain(failure), { timeout: 5_000 });
    failing.on = false;
    await vi.waitFor(async () => expect((await store.latestCheckpoint())?.treeSize).toBe(3), { timeout: 5_000 });
    expect(writer.size).toBe(3);
    await writer.close();
    await store.close();
  });

  it('keeps its timer going when onError itself throws, without an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      let reported = 0;
      const { store, writer } = await writerOn({
        intervalMs: 10,
        onError: () => {
          reported += 1;
          throw new Error('the reporter broke');
        },
      });
      const failing = failingCheckpoints(store, new Error('checkpoint table locked'));
      await store.append([draft(0)]);
      // a second report means the timer was armed again after the first one threw
      await vi.waitFor(() => expect(reported).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
      failing.on = false;
      await vi.waitFor(async () => expect((await store.latestCheckpoint())?.treeSize).toBe(1), { timeout: 5_000 });
      await writer.close();
      await store.close();
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });
});
