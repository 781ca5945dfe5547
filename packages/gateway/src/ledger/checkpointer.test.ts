import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ed25519Signer,
  inclusionProofFromJson,
  leafHash,
  merkleRoot,
  newEd25519KeyPair,
  signCheckpoint,
  verifyInclusion,
  type EntryDraft,
  type TransactionalLedgerStore,
} from '@countersign/core';
import { CommandSequencer, type CommandJob } from '../service/command-sequencer.js';
import { randomIds } from '../service/ids.js';
import { dropTestSchema, reachableTestPostgres, testSchemaName } from '../store/pg-test-url.js';
import { PostgresLedgerStore } from '../store/postgres.js';
import { SqliteLedgerStore } from '../store/sqlite.js';
import { CheckpointScheduler, signedCheckpoints } from './checkpoint-scheduler.js';
import { checkpointAsOnlyWriter } from '../store/checkpoint.js';
import { LeafTree, proveEntry } from './checkpointer.js';
import { appendDrafts } from '../testing/plain-append.js';

const ORIGIN = 'countersign.dev/ledger/test';

function draft(n: number): EntryDraft {
  return { at: '2025-01-01T00:00:00.000Z', type: 'test.appended', actor: null, surface: null, bundle_id: null, subjects: { request: `r-${n}` }, payload: { n } };
}

// the checkpoint bound runs on PostgreSQL too; unreachable fails under CI=true
const pgUrl = await reachableTestPostgres();

describe('LeafTree and proveEntry', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const open = (): SqliteLedgerStore => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-checkpointer-'));
    dirs.push(dir);
    return SqliteLedgerStore.open(join(dir, 'ledger.db'));
  };

  it('keeps every leaf past a growth of its buffer, and its root is the RFC 6962 root of the bytes', () => {
    const tree = new LeafTree();
    const leaves = Array.from({ length: 1500 }, (_, i) => leafHash(new TextEncoder().encode(`entry ${i}`)));
    for (const leaf of leaves) tree.push(leaf);
    expect(tree.size).toBe(1500);
    expect(Buffer.from(tree.leaf(1234)).equals(Buffer.from(leaves[1234]!))).toBe(true);
    expect(Buffer.from(tree.root())).toEqual(Buffer.from(merkleRoot(leaves)));
  });

  it('proves an entry against the latest checkpoint, and refuses with codes before one covers it', async () => {
    const store = open();
    try {
      const sealed = await appendDrafts(store, Array.from({ length: 10 }, (_, i) => draft(i)));
      const tree = new LeafTree();
      for (const entry of sealed) tree.push(leafHash(entry.bytes));
      await expect(proveEntry(store, tree, 3)).rejects.toMatchObject({ code: 'NO_CHECKPOINT' });

      const signer = ed25519Signer(ORIGIN, newEd25519KeyPair().privateKey);
      await store.putCheckpoint({ treeSize: 8, note: signCheckpoint({ origin: ORIGIN, treeSize: 8, rootHash: merkleRoot(sealed.slice(0, 8).map((e) => leafHash(e.bytes))) }, signer) });
      await expect(proveEntry(store, tree, 8)).rejects.toMatchObject({ code: 'NOT_CHECKPOINTED', details: { tree_size: 8 } });

      const proof = await proveEntry(store, tree, 3);
      expect(proof.tree_size).toBe(8);
      const root = Buffer.from(proof.root, 'base64');
      verifyInclusion(inclusionProofFromJson(proof), Buffer.from(proof.leaf_hash, 'base64'), root);
      expect(Buffer.from(proof.entry, 'base64')).toEqual(Buffer.from(sealed[3]!.bytes));

      // a tree that does not hold the checkpoint's entries, or whose leaf is not the stored bytes', proves nothing
      const short = new LeafTree();
      short.push(leafHash(sealed[0]!.bytes));
      await expect(proveEntry(store, short, 0)).rejects.toMatchObject({ code: 'LEDGER_VERIFY_FAILED' });
      const wrong = new LeafTree();
      for (const entry of sealed) wrong.push(leafHash(entry.bytes.subarray(1)));
      await expect(proveEntry(store, wrong, 3)).rejects.toMatchObject({ code: 'LEDGER_VERIFY_FAILED' });
    } finally {
      await store.close();
    }
  });
});

describe('the one checkpointer, fed by the command sequencer', () => {
  const dirs: string[] = [];
  const schemas: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    for (const schema of schemas.splice(0)) await dropTestSchema(pgUrl!, schema);
  });

  const EVERY = 50;
  const MAX_BATCH = 8;
  const appended: CommandJob = {
    withoutPolicy: true,
    evaluate: (_state, _policy, ctx, seq) => ({ entries: [{ ...draft(seq), at: new Date(ctx.now).toISOString() }], result: seq }),
  };

  // the bound on both stores: SQLite pipelines (a batch sent behind the one in flight), PostgreSQL does not
  const stores: { name: string; open(): Promise<TransactionalLedgerStore>; depth: number }[] = [
    {
      name: 'SQLite',
      depth: 2,
      open: async () => {
        const dir = mkdtempSync(join(tmpdir(), 'countersign-checkpointer-'));
        dirs.push(dir);
        return SqliteLedgerStore.open(join(dir, 'ledger.db'));
      },
    },
    ...(pgUrl === null
      ? []
      : [
          {
            name: 'PostgreSQL',
            depth: 1,
            open: async () => {
              const schema = testSchemaName('cs_cpbound');
              schemas.push(schema);
              return PostgresLedgerStore.open(pgUrl, { schema });
            },
          },
        ]),
  ];

  it.each(stores)('$name: checkpoints as soon as a batch leaves `every` uncovered: never more than every - 1 + one batch past the last one stored', async ({ open, depth }) => {
    const store = await open();
    // the pipeline is kept: batches are still sent behind one in flight between checkpoints
    let inFlight = 0;
    let deepest = 0;
    const appendWith = store.appendWith.bind(store);
    store.appendWith = (...args) => {
      deepest = Math.max(deepest, ++inFlight);
      return appendWith(...args).finally(() => (inFlight -= 1));
    };
    let durable = 0;
    let worst = 0;
    const signer = ed25519Signer(ORIGIN, newEd25519KeyPair().privateKey);
    const sequencer = await CommandSequencer.open(store, {
      clock: () => Date.parse('2025-01-01T00:00:00.000Z'),
      ids: randomIds(),
      policies: [],
      maxBatch: MAX_BATCH,
      // the interval never fires in this test: only `every` brings checkpoints
      checkpoints: signedCheckpoints(ORIGIN, signer, { every: EVERY, intervalMs: 2 ** 31 - 1 }),
      observer: {
        // told once the checkpoint is stored
        checkpoint: ({ treeSize }) => {
          durable = Math.max(durable, treeSize);
        },
        committed: (entries) => {
          worst = Math.max(worst, entries.at(-1)!.seq + 1 - durable);
        },
      },
    });
    try {
      for (let wave = 0; wave < 20; wave++) await Promise.all(Array.from({ length: 37 }, () => sequencer.submit(appended)));
      expect(sequencer.size).toBe(740);
      expect(durable).toBeGreaterThanOrEqual(740 - EVERY);
      // one entry a command here, so a batch is at most MAX_BATCH entries; the batch in flight
      // that reaches `every` is the last one sent before its checkpoint is stored
      expect(worst).toBeLessThanOrEqual(EVERY - 1 + MAX_BATCH);
      expect(deepest).toBe(depth);
    } finally {
      await sequencer.close();
      await store.close();
    }
    expect(durable).toBe(740);
  });

  it('counts entries its follower applied: a replica that only follows checkpoints them and proves against its own leaves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-checkpointer-'));
    dirs.push(dir);
    const path = join(dir, 'ledger.db');
    const writerStore = SqliteLedgerStore.open(path);
    const followerStore = SqliteLedgerStore.open(path);
    const signer = ed25519Signer(ORIGIN, newEd25519KeyPair().privateKey);
    const options = { clock: () => Date.parse('2025-01-01T00:00:00.000Z'), ids: randomIds(), policies: [] };
    // the writer signs nothing: whatever is checkpointed, the follower signed
    const writer = await CommandSequencer.open(writerStore, options);
    await Promise.all(Array.from({ length: 3 }, () => writer.submit(appended)));
    const checkpoints: number[] = [];
    // a replica that follows another writer keeps its records, as on PostgreSQL (a SQLite writer that meets another one
    // turns to that once, with a rebuild: see command-sequencer.test.ts)
    const follower = await CommandSequencer.open(followerStore, {
      ...options,
      keepRecords: true,
      checkpoints: signedCheckpoints(ORIGIN, signer, { every: EVERY, intervalMs: 2 ** 31 - 1 }),
      observer: { checkpoint: (e) => checkpoints.push(e.treeSize) },
    });
    await follower.follow();
    // the follower reads the store only to follow, never to learn what a checkpoint covers
    const reads: number[] = [];
    const read = followerStore.read.bind(followerStore);
    followerStore.read = (from: number, to?: number) => {
      reads.push(from);
      return read(from, to);
    };
    try {
      await Promise.all(Array.from({ length: EVERY + 2 }, () => writer.submit(appended)));
      const deadline = Date.now() + 5_000;
      while (checkpoints.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(checkpoints[0]).toBeGreaterThanOrEqual(EVERY);
      const proof = await follower.prove(7);
      verifyInclusion(inclusionProofFromJson(proof), Buffer.from(proof.leaf_hash, 'base64'), Buffer.from(proof.root, 'base64'));
      // follower reads start where the last one ended (at 3 or later, never the whole ledger again); a proof reads the one entry it proves
      expect(reads.filter((from) => from < 3 && from !== 7)).toEqual([]);
    } finally {
      await follower.close();
      await writer.close();
      await followerStore.close();
      await writerStore.close();
    }
  });
});

describe('CheckpointScheduler against another replica', () => {
  it('signs nothing when, under the write lock, another replica\'s checkpoint already covers the tree', async () => {
    const other = { treeSize: 5, note: 'theirs' };
    const signed: number[] = [];
    const store = {
      putCheckpoint: async () => {
        throw new Error('nothing should be stored: the tree is covered');
      },
      latestCheckpoint: async () => other,
      checkpointWith: (treeSize: number, sign: (latest: number) => string | null) => checkpointAsOnlyWriter(store, treeSize, sign),
    };
    const errors: unknown[] = [];
    const scheduler = new CheckpointScheduler(store, { every: 5, intervalMs: 60_000, sign: (treeSize) => (signed.push(treeSize), 'ours') }, {
      observer: { error: (err) => errors.push(err) },
      now: () => 0,
      onInterval: () => undefined,
    });
    const tree = { size: 5, root: () => new Uint8Array(32) };
    expect(scheduler.due(tree)).toBe(true);
    await scheduler.write(tree, 'now');
    expect(errors).toEqual([]);
    expect(signed).toEqual([]);
    expect(scheduler.due(tree)).toBe(false);
    await scheduler.close(tree);
    expect(signed).toEqual([]);
  });
});
