import { parseCheckpoint } from '../ledger/checkpoint.js';
import { CountersignError } from '../errors.js';
import { merkleRoot } from '../ledger/merkle.js';
import { inclusionProof, inclusionProofToJson, verifyInclusion } from '../ledger/proof.js';
import type { Trace } from './trace.js';

/**
 * `trace --prove`: an RFC 9162 inclusion proof for every line of a trace
 * against one signed checkpoint, so each claim of the chain can be checked
 * offline with the gateway's public key (verifyCheckpoint, then
 * verifyInclusion). The checkpoint's signature is not checked here: the
 * reader checks it with the key they trust, and a proof is only as good as
 * that check.
 */

export interface TraceLineProof {
  readonly seq: number;
  /** Standard base64, as in checkpoints. */
  readonly leaf_hash: string;
  readonly leaf_index: number;
  readonly tree_size: number;
  readonly path: readonly string[];
}

export interface TraceProofs {
  readonly checkpoint: string;
  readonly tree_size: number;
  readonly root: string;
  readonly proofs: readonly TraceLineProof[];
  /** Lines written after the checkpoint: provable after the next one. */
  readonly unproven: readonly number[];
}

/**
 * `leaves[i]` is the RFC 6962 leaf hash of the entry at seq i. Throws
 * LEDGER_VERIFY_FAILED when the leaves do not hash to the checkpoint's root:
 * a proof from a ledger that disagrees with its own checkpoint proves nothing.
 */
export function proveTrace(trace: Trace, leaves: readonly Uint8Array[], checkpointNote: string): TraceProofs {
  const checkpoint = parseCheckpoint(checkpointNote);
  const size = checkpoint.treeSize;
  if (size > leaves.length) {
    throw new CountersignError('LEDGER_VERIFY_FAILED', `the checkpoint commits to ${size} entries but the ledger holds ${leaves.length}`);
  }
  const tree = leaves.slice(0, size);
  const root = merkleRoot(tree);
  if (Buffer.compare(Buffer.from(root), Buffer.from(checkpoint.rootHash)) !== 0) {
    throw new CountersignError('LEDGER_VERIFY_FAILED', `the entries do not hash to the root of the checkpoint of ${size} entries`);
  }
  const proofs: TraceLineProof[] = [];
  const unproven: number[] = [];
  for (const line of trace.lines) {
    const leaf = tree[line.seq];
    if (leaf === undefined) {
      unproven.push(line.seq);
      continue;
    }
    const proof = inclusionProof(tree, line.seq, size);
    verifyInclusion(proof, leaf, root);
    proofs.push({ seq: line.seq, leaf_hash: Buffer.from(leaf).toString('base64'), ...inclusionProofToJson(proof) });
  }
  return { checkpoint: checkpointNote, tree_size: size, root: Buffer.from(root).toString('base64'), proofs, unproven };
}
