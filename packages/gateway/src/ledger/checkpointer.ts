import {
  CountersignError,
  inclusionProof,
  inclusionProofToJson,
  leafHash,
  MerkleFrontier,
  parseCheckpoint,
  type InclusionProofJson,
  type LedgerStore,
} from '@countersign/core';
import { GatewayError } from '../errors.js';
import type { CheckpointTree } from './checkpoint-scheduler.js';

/**
 * The ledger as the one writer knows it, for the one checkpointer
 * (`CheckpointScheduler`, driven by the command sequencer) and for inclusion
 * proofs: a Merkle frontier for roots (O(log n)) and the flat array of leaf
 * hashes (32 bytes an entry) a proof's path is computed from. Fed only with
 * entries the sequencer committed or its follower applied, hashed from their
 * bytes: the store is never read back to learn what it holds, except by a
 * rebuild, which fills a new tree.
 */
export class LeafTree implements CheckpointTree {
  readonly #frontier = MerkleFrontier.empty();
  #leaves = Buffer.alloc(32 * 1024);

  get size(): number {
    return this.#frontier.size;
  }

  root(): Uint8Array {
    return this.#frontier.root();
  }

  /** RFC 6962 §2.1: `hash` is the leaf hash (0x00 prefix) of entry `size`. */
  push(hash: Uint8Array): void {
    const at = this.#frontier.size * 32;
    if (at + 32 > this.#leaves.length) {
      const grown = Buffer.alloc(this.#leaves.length * 2);
      this.#leaves.copy(grown);
      this.#leaves = grown;
    }
    this.#leaves.set(hash, at);
    this.#frontier.push(hash);
  }

  /** The leaf hash of entry `i` (< size). */
  leaf(i: number): Uint8Array {
    return this.#leaves.subarray(i * 32, i * 32 + 32);
  }
}

export interface EntryProof extends InclusionProofJson {
  readonly seq: number;
  /** The entry's stored bytes, base64. */
  readonly entry: string;
  readonly leaf_hash: string;
  readonly root: string;
  readonly checkpoint: string;
}

/**
 * RFC 9162 §2.1.3 inclusion proof of entry `seq` against the latest stored
 * checkpoint, in the JSON of `countersign ledger prove`. `tree` must already
 * hold the checkpoint's tree (the caller catches up first). Refuses with
 * GatewayError `NO_CHECKPOINT` (none stored yet) or `NOT_CHECKPOINTED` (`seq`
 * lies past it); a store whose bytes disagree with the tree is
 * `LEDGER_VERIFY_FAILED`.
 */
export async function proveEntry(store: Pick<LedgerStore, 'latestCheckpoint' | 'read'>, tree: LeafTree, seq: number): Promise<EntryProof> {
  const stored = await store.latestCheckpoint();
  if (stored === null) throw new GatewayError('NO_CHECKPOINT', 'the ledger has no signed checkpoint yet');
  const { treeSize, rootHash } = parseCheckpoint(stored.note);
  if (seq >= treeSize) {
    throw new GatewayError('NOT_CHECKPOINTED', `entry ${seq} is not in the checkpointed tree of ${treeSize} entries; try again after the next checkpoint`, { tree_size: treeSize });
  }
  if (tree.size < treeSize) throw new CountersignError('LEDGER_VERIFY_FAILED', 'the store holds fewer entries than its latest checkpoint');
  const proof = inclusionProof((i) => tree.leaf(i), seq, treeSize);
  let bytes: Uint8Array | null = null;
  for await (const entry of store.read(seq, seq + 1)) bytes = entry.bytes;
  if (bytes === null || !Buffer.from(leafHash(bytes)).equals(tree.leaf(seq))) {
    throw new CountersignError('LEDGER_VERIFY_FAILED', `stored entry ${seq} does not match its leaf`);
  }
  return {
    seq,
    entry: Buffer.from(bytes).toString('base64'),
    leaf_hash: Buffer.from(tree.leaf(seq)).toString('base64'),
    ...inclusionProofToJson(proof),
    root: Buffer.from(rootHash).toString('base64'),
    checkpoint: stored.note,
  };
}
