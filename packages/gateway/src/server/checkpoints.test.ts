import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ed25519Signer, leafHash, merkleRoot, parseCheckpoint, signerVerifierKey, verifyCheckpoint, type EntryDraft, type SealedEntry } from '@countersign/core';
import { SqliteLedgerStore } from '../store/sqlite.js';
import { CheckpointWriter } from './checkpoints.js';

const ORIGIN = 'countersign.dev/ledger/test';

function draft(n: number): EntryDraft {
  return { at: '2025-01-01T00:00:00.000Z', type: 'test.appended', actor: null, surface: null, bundle_id: null, subjects: { request: `r-${n}` }, payload: { n } };
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
    const key = generateKeyPairSync('ed25519').privateKey;
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
    const key = generateKeyPairSync('ed25519').privateKey;
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
});
