import { CountersignError, isCountersignError } from '../errors.js';
import { verifyCheckpoint, type VerifiedCheckpoint } from './checkpoint.js';
import type { NoteVerifierKey } from './key.js';
import { fromBin, MerkleFrontier, toBin, type FrontierState } from './merkle.js';

// A thread that loads this module alone is sent vkeys as text.
export { toVerifierKeys } from './key.js';

/**
 * The Merkle side of ledger verification: the tree over the accepted entries
 * and the signed checkpoints judged against it. `createVerifier` keeps it on
 * the calling thread; the gateway's two-thread verifier keeps it on a worker
 * thread, which loads this module alone, so it imports only what checking a
 * checkpoint needs.
 */

export type VerifyFailureKind =
  /** The entry's bytes do not hash to what the next entry or a checkpoint commits to. */
  | 'hash_mismatch'
  /** The entry's `prev_hash` does not match the entry before it, which is itself vouched for. */
  | 'broken_chain'
  | 'bad_checkpoint_signature'
  /** A checkpoint's root differs from the tree recomputed at its size. */
  | 'root_mismatch'
  /** A sequence number is missing. */
  | 'gap'
  /** A sequence number repeats. */
  | 'duplicate'
  | 'out_of_order'
  /** The ledger ends before a checkpoint's tree size or before the expected size. */
  | 'truncation'
  | 'malformed';

/** The error every verification failure is: LEDGER_VERIFY_FAILED with `details: { seq, kind, ... }`. */
export function verifyFailure(
  kind: VerifyFailureKind,
  seq: number,
  message: string,
  extra: Record<string, unknown> = {},
): CountersignError {
  return new CountersignError('LEDGER_VERIFY_FAILED', `entry ${seq}: ${message}`, { seq, kind, ...extra });
}

/** @internal A signed checkpoint note and the tree size it claims, not yet judged. */
export interface PendingCheckpoint {
  readonly note: string;
  readonly treeSize: number;
}

/** @internal Check a checkpoint's signature with the keys in force; throws the verifier failure, named at its last entry. */
export function openCheckpoint(cp: PendingCheckpoint, keys: readonly NoteVerifierKey[], origin: string): VerifiedCheckpoint {
  try {
    return verifyCheckpoint(cp.note, keys, { origin });
  } catch (err) {
    const at = Math.max(0, cp.treeSize - 1);
    if (isCountersignError(err) && err.code === 'BAD_SIGNATURE') {
      throw verifyFailure('bad_checkpoint_signature', at, `checkpoint at tree size ${cp.treeSize} is not validly signed by the key in force`, {
        tree_size: cp.treeSize,
      });
    }
    throw verifyFailure('malformed', at, `checkpoint at tree size ${cp.treeSize} is malformed`, { tree_size: cp.treeSize });
  }
}

/** @internal A `VerifyTree` as it crosses a thread boundary: plain data. */
export interface TreeState {
  readonly size: number;
  /** Leaves [0, size - 1). */
  readonly frontier: FrontierState;
  /** Leaf size - 1 as a binary string, `null` when empty. */
  readonly last: string | null;
  readonly checkpointed: number;
  readonly checkpoints: number;
  readonly lastCheckpoint: VerifiedCheckpoint | null;
}

/**
 * @internal The tree over the accepted entries and the checkpoints verified
 * against it. Leaves and roots are binary strings (see merkle.ts).
 *
 * INVARIANT: the frontier holds leaves [0, size - 1) and `last` is leaf
 * size - 1: the last leaf stays out so that a diagnosis can swap it for what
 * its successor claims (`rootReplacingLast`).
 */
export class VerifyTree {
  readonly #origin: string;
  readonly #frontier: MerkleFrontier;
  #size = 0;
  #last = '';
  #checkpointed = 0;
  #checkpoints = 0;
  #lastCheckpoint: VerifiedCheckpoint | null = null;

  constructor(origin: string, frontier: MerkleFrontier = MerkleFrontier.empty()) {
    this.#origin = origin;
    this.#frontier = frontier;
  }

  /** Resume from `state()`, e.g. on the thread that asked another to build the tree. */
  static fromState(origin: string, state: TreeState): VerifyTree {
    const tree = new VerifyTree(origin, MerkleFrontier.fromJSON(state.frontier));
    tree.#size = state.size;
    tree.#last = state.last ?? '';
    tree.#checkpointed = state.checkpointed;
    tree.#checkpoints = state.checkpoints;
    tree.#lastCheckpoint = state.lastCheckpoint;
    return tree;
  }

  get size(): number {
    return this.#size;
  }

  /** Largest tree size a verified checkpoint covers. */
  get checkpointed(): number {
    return this.#checkpointed;
  }

  /** The next leaf. */
  push(leaf: string): void {
    if (this.#size > 0) this.#frontier.pushBin(this.#last);
    this.#last = leaf;
    this.#size += 1;
  }

  /**
   * Judge a checkpoint of exactly this tree's size: its signature by `keys`
   * (those in force now), then its root. Throws the verifier failure.
   */
  judge(cp: PendingCheckpoint, keys: readonly NoteVerifierKey[]): void {
    const size = this.#size;
    if (cp.treeSize !== size) throw new CountersignError('INTERNAL', `a checkpoint of tree size ${cp.treeSize} was judged at size ${size}`);
    const verified = openCheckpoint(cp, keys, this.#origin);
    if (this.rootWith() !== toBin(verified.rootHash)) {
      // Every entry below size - 1 is vouched for by its successor's link and entry
      // size - 1 by the entry after it when there is one: the tree itself differs.
      throw verifyFailure('root_mismatch', Math.max(0, size - 1), `checkpoint root at tree size ${size} differs from the recomputed tree`, {
        tree_size: size,
        from: this.#checkpointed,
      });
    }
    this.#checkpointed = size;
    this.#checkpoints += 1;
    this.#lastCheckpoint = verified;
  }

  /** Root over every leaf followed by `extra`. */
  rootWith(extra: readonly string[] = []): string {
    return this.rootReplacingLast(this.#size === 0 ? extra : [this.#last, ...extra]);
  }

  /** Root over every leaf but the last, followed by `leaves`. */
  rootReplacingLast(leaves: readonly string[]): string {
    return this.#frontier.rootBin(leaves);
  }

  /** What `VerifyResult` reports of the tree. */
  summary(): { rootHash: Uint8Array; lastHash: Uint8Array | null; checkpoints: number; checkpointedSize: number; lastCheckpoint: VerifiedCheckpoint | null } {
    return {
      rootHash: fromBin(this.rootWith()),
      lastHash: this.#size === 0 ? null : fromBin(this.#last),
      checkpoints: this.#checkpoints,
      checkpointedSize: this.#checkpointed,
      lastCheckpoint: this.#lastCheckpoint,
    };
  }

  state(): TreeState {
    return {
      size: this.#size,
      frontier: this.#frontier.toJSON(),
      last: this.#size === 0 ? null : this.#last,
      checkpointed: this.#checkpointed,
      checkpoints: this.#checkpoints,
      lastCheckpoint: this.#lastCheckpoint,
    };
  }
}
