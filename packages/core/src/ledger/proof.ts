import { CountersignError } from '../errors.js';
import {
  EMPTY_ROOT,
  fromBin,
  leafReader,
  nodeHashBin,
  rangeHashBin,
  splitPoint,
  toBin,
  type LeafSource,
} from './merkle.js';

/**
 * RFC 9162 §2.1.3 inclusion proofs and §2.1.4 consistency proofs.
 *
 * Generation reads leaf hashes through a `LeafSource` (an array or a function,
 * so a store can serve them) and keeps no tree: every sibling subtree hash is
 * recomputed from its leaves. Each leaf lies under exactly one sibling, so a
 * proof for a tree of n leaves costs at most n leaf reads and n node hashes,
 * and O(log n) memory. On these machines that is about a second per million
 * entries, which is fine for `ledger prove`; a caller that needs many proofs
 * should cache subtree hashes.
 */

export interface InclusionProof {
  readonly leafIndex: number;
  readonly treeSize: number;
  /** Sibling hashes from the leaf level up (RFC 9162 §2.1.3.1 order). */
  readonly path: readonly Uint8Array[];
}

export interface ConsistencyProof {
  readonly fromSize: number;
  readonly toSize: number;
  readonly path: readonly Uint8Array[];
}

function assertSize(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CountersignError('PROOF_INVALID', `${what} \`${String(value)}\` is not a non-negative integer`);
  }
}

/** RFC 9162 §2.1.3.1 PATH(m, D[n]). */
export function inclusionProof(source: LeafSource, leafIndex: number, treeSize: number): InclusionProof {
  assertSize(leafIndex, 'leaf index');
  assertSize(treeSize, 'tree size');
  if (leafIndex >= treeSize) {
    throw new CountersignError('PROOF_INVALID', `leaf index ${leafIndex} is not below tree size ${treeSize}`);
  }
  const read = leafReader(source);
  // Walk down from the root; each level contributes the hash of the subtree the leaf is not in.
  const topDown: string[] = [];
  let lo = 0;
  let hi = treeSize;
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo);
    if (leafIndex < lo + k) {
      topDown.push(rangeHashBin(read, lo + k, hi));
      hi = lo + k;
    } else {
      topDown.push(rangeHashBin(read, lo, lo + k));
      lo += k;
    }
  }
  return { leafIndex, treeSize, path: topDown.reverse().map(fromBin) };
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true). */
export function consistencyProof(source: LeafSource, fromSize: number, toSize: number): ConsistencyProof {
  assertSize(fromSize, 'tree size');
  assertSize(toSize, 'tree size');
  if (fromSize > toSize) {
    throw new CountersignError('PROOF_INVALID', `tree size ${fromSize} is larger than ${toSize}`);
  }
  if (fromSize === 0 || fromSize === toSize) return { fromSize, toSize, path: [] };
  const read = leafReader(source);
  const topDown: string[] = [];
  let lo = 0;
  let hi = toSize;
  let m = fromSize;
  let complete = true;
  while (m !== hi - lo) {
    const k = splitPoint(hi - lo);
    if (m <= k) {
      topDown.push(rangeHashBin(read, lo + k, hi));
      hi = lo + k;
    } else {
      topDown.push(rangeHashBin(read, lo, lo + k));
      lo += k;
      m -= k;
      complete = false;
    }
  }
  // SUBPROOF(m, D[m], b): nothing when the old tree is this whole subtree, else its hash.
  if (!complete) topDown.push(rangeHashBin(read, lo, hi));
  return { fromSize, toSize, path: topDown.reverse().map(fromBin) };
}

function isOdd(n: number): boolean {
  return n % 2 === 1;
}

function half(n: number): number {
  return Math.floor(n / 2);
}

/**
 * RFC 9162 §2.1.3.2: the root an inclusion proof implies for `leafHash`.
 * Throws PROOF_INVALID when the path has the wrong length for the position.
 */
export function rootFromInclusionProof(proof: InclusionProof, leafHash: Uint8Array): Uint8Array {
  const { leafIndex, treeSize, path } = proof;
  assertSize(leafIndex, 'leaf index');
  assertSize(treeSize, 'tree size');
  if (leafIndex >= treeSize) {
    throw new CountersignError('PROOF_INVALID', `leaf index ${leafIndex} is not below tree size ${treeSize}`);
  }
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = toBin(leafHash);
  for (const p of path) {
    if (sn === 0) throw new CountersignError('PROOF_INVALID', 'inclusion proof is too long');
    const pb = toBin(p);
    if (isOdd(fn) || fn === sn) {
      r = nodeHashBin(pb, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      r = nodeHashBin(r, pb);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) throw new CountersignError('PROOF_INVALID', 'inclusion proof is too short');
  return fromBin(r);
}

/** Verify that `leafHash` is leaf `proof.leafIndex` of the tree with `root`. Throws PROOF_INVALID. */
export function verifyInclusion(proof: InclusionProof, leafHash: Uint8Array, root: Uint8Array): void {
  if (!equalHashes(rootFromInclusionProof(proof, leafHash), root)) {
    throw new CountersignError('PROOF_INVALID', 'inclusion proof does not lead to the root');
  }
}

/**
 * RFC 9162 §2.1.4.2: verify that the tree of `proof.toSize` leaves with
 * `toRoot` extends the tree of `proof.fromSize` leaves with `fromRoot`.
 * The RFC algorithm covers 0 < first < second; the edge cases are settled
 * first: equal sizes need equal roots and an empty proof, and every tree
 * extends the empty tree. Throws PROOF_INVALID.
 */
export function verifyConsistency(proof: ConsistencyProof, fromRoot: Uint8Array, toRoot: Uint8Array): void {
  const { fromSize, toSize, path } = proof;
  assertSize(fromSize, 'tree size');
  assertSize(toSize, 'tree size');
  const fail = (why: string): never => {
    throw new CountersignError('PROOF_INVALID', `consistency proof ${why}`);
  };
  if (fromSize > toSize) fail(`goes from ${fromSize} down to ${toSize}`);
  if (fromSize === toSize) {
    if (path.length !== 0) fail('between equal sizes must be empty');
    if (!equalHashes(fromRoot, toRoot)) fail('joins two different roots of the same size');
    return;
  }
  if (fromSize === 0) {
    if (path.length !== 0) fail('from the empty tree must be empty');
    if (!equalHashes(fromRoot, EMPTY_ROOT)) fail('starts from a non-empty root at size 0');
    return;
  }
  // 1. An empty path cannot prove anything between different sizes.
  if (path.length === 0) fail('is empty');
  const nodes = path.map(toBin);
  // 2. When the old tree is a perfect subtree its root is the first node.
  if (isPowerOfTwo(fromSize)) nodes.unshift(toBin(fromRoot));
  // 3.
  let fn = fromSize - 1;
  let sn = toSize - 1;
  // 4.
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  // 5.
  let fr = nodes[0] as string;
  let sr = fr;
  // 6.
  for (let i = 1; i < nodes.length; i += 1) {
    const c = nodes[i] as string;
    if (sn === 0) fail('is too long');
    if (isOdd(fn) || fn === sn) {
      fr = nodeHashBin(c, fr);
      sr = nodeHashBin(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = nodeHashBin(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // 7.
  if (sn !== 0) fail('is too short');
  if (fr !== toBin(fromRoot)) fail('does not lead to the old root');
  if (sr !== toBin(toRoot)) fail('does not lead to the new root');
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

function equalHashes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** JSON form for `countersign ledger prove` and the HTTP API: hashes in standard base64 (as in checkpoints). */
export interface InclusionProofJson {
  readonly leaf_index: number;
  readonly tree_size: number;
  readonly path: readonly string[];
}

export function inclusionProofToJson(proof: InclusionProof): InclusionProofJson {
  return {
    leaf_index: proof.leafIndex,
    tree_size: proof.treeSize,
    path: proof.path.map((h) => Buffer.from(h).toString('base64')),
  };
}

export function inclusionProofFromJson(json: unknown): InclusionProof {
  if (typeof json !== 'object' || json === null) {
    throw new CountersignError('PROOF_INVALID', 'inclusion proof is not an object');
  }
  const { leaf_index: leafIndex, tree_size: treeSize, path } = json as Record<string, unknown>;
  if (typeof leafIndex !== 'number' || typeof treeSize !== 'number' || !Array.isArray(path)) {
    throw new CountersignError('PROOF_INVALID', 'inclusion proof needs `leaf_index`, `tree_size` and `path`');
  }
  assertSize(leafIndex, 'leaf index');
  assertSize(treeSize, 'tree size');
  return { leafIndex, treeSize, path: path.map(decodeHash) };
}

/** Standard base64 of exactly 32 bytes, canonical (re-encodes to the same text). */
export function decodeHash(text: unknown): Uint8Array {
  if (typeof text !== 'string') throw new CountersignError('PROOF_INVALID', 'hash is not a string');
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== 32 || bytes.toString('base64') !== text) {
    throw new CountersignError('PROOF_INVALID', 'hash is not the standard base64 of 32 bytes');
  }
  return new Uint8Array(bytes);
}
