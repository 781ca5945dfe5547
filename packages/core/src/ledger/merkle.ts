import * as nodeCrypto from 'node:crypto';
import { CountersignError } from '../errors.js';

/**
 * RFC 6962 §2.1 Merkle Tree Hash over SHA-256 (RFC 9162 §2.1.1 is the same tree).
 *
 * Internally hashes travel as 32-character latin1 "binary strings": on Node 20
 * `crypto.hash(..., 'latin1')` plus a reused input buffer is several times
 * cheaper than allocating a Buffer per digest, and the verifier hashes every
 * entry twice (leaf and, amortised, one node). The exported API speaks
 * Uint8Array.
 */

export const HASH_SIZE = 32;

/** A source of leaf hashes: an array, or a function that reads leaf `i` (e.g. from a store). */
export type LeafSource = readonly Uint8Array[] | ((index: number) => Uint8Array);

/** The persisted form of a frontier: enough to resume appending and to compute the root. */
export interface FrontierState {
  readonly size: number;
  /** Roots of the perfect subtrees, largest first, lower-case hex. */
  readonly hashes: readonly string[];
}

// crypto.hash is Node >= 20.12; createHash keeps older Node 20 releases working.
// 'binary' is Node's alias of latin1.
/** @internal SHA-256 as a binary string. */
export const sha256Latin1: (data: Uint8Array) => string =
  typeof nodeCrypto.hash === 'function'
    ? (data) => nodeCrypto.hash('sha256', data, 'binary')
    : (data) => nodeCrypto.createHash('sha256').update(data).digest('binary');

// RFC 6962 §2.1: leaves are hashed with a 0x00 prefix, nodes with 0x01
const nodeInput = Buffer.alloc(1 + 2 * HASH_SIZE);
nodeInput[0] = 0x01;
let leafInput = Buffer.alloc(1024);
// One view of leafInput per input length, made once: a subarray per leaf costs
// about as much as copying the entry into leafInput.
let leafViews: Buffer[] = [];

/** @internal SHA-256(0x01 || left || right) on binary strings. */
export function nodeHashBin(left: string, right: string): string {
  // A JIT-compiled loop: Buffer#write costs a native call per half, about a
  // third of the hash itself (the verifier computes one node per entry).
  for (let i = 0; i < HASH_SIZE; i += 1) {
    nodeInput[1 + i] = left.charCodeAt(i);
    nodeInput[1 + HASH_SIZE + i] = right.charCodeAt(i);
  }
  return sha256Latin1(nodeInput);
}

function withLeafPrefix(bytes: Uint8Array): Uint8Array {
  const size = bytes.length + 1;
  if (size > leafInput.length) {
    leafInput = Buffer.alloc(2 ** Math.ceil(Math.log2(size)));
    leafViews = [];
  }
  leafInput[0] = 0x00;
  leafInput.set(bytes, 1);
  return (leafViews[size] ??= leafInput.subarray(0, size));
}

/** @internal SHA-256(0x00 || bytes) as a binary string. */
export function leafHashBin(bytes: Uint8Array): string {
  return sha256Latin1(withLeafPrefix(bytes));
}

/** @internal */
export function toBin(hash: Uint8Array): string {
  if (hash.length !== HASH_SIZE) {
    throw new CountersignError('PROOF_INVALID', `hash has ${hash.length} bytes, not ${HASH_SIZE}`);
  }
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('latin1');
}

/** @internal */
export function fromBin(bin: string): Uint8Array {
  return new Uint8Array(Buffer.from(bin, 'latin1'));
}

/** RFC 6962 §2.1 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return fromBin(nodeHashBin(toBin(left), toBin(right)));
}

/** MTH({}) = SHA-256 of the empty string (RFC 6962 §2.1). */
export const EMPTY_ROOT: Uint8Array = new Uint8Array(nodeCrypto.createHash('sha256').digest());
const EMPTY_ROOT_BIN = toBin(EMPTY_ROOT);

/**
 * The compact range of a growing tree: the roots of its perfect subtrees, one
 * per set bit of `size`, largest (leftmost) first. O(log n) memory; `push` is
 * amortised one node hash; `root` folds the subtrees right to left, which is
 * exactly RFC 6962's split at the largest power of two below n.
 */
export class MerkleFrontier {
  #size = 0;
  #hashes: string[] = [];

  /** An empty tree; same as `MerkleFrontier.empty()`. */
  static empty(): MerkleFrontier {
    return new MerkleFrontier();
  }

  static #of(size: number, hashes: string[]): MerkleFrontier {
    const frontier = new MerkleFrontier();
    frontier.#size = size;
    frontier.#hashes = hashes;
    return frontier;
  }

  /** Resume from `toJSON()` output. Throws PROOF_INVALID when the state is inconsistent. */
  static fromJSON(state: FrontierState): MerkleFrontier {
    const { size, hashes } = state;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new CountersignError('PROOF_INVALID', `frontier size \`${String(size)}\` is not a non-negative integer`);
    }
    if (!Array.isArray(hashes) || hashes.length !== popcount(size)) {
      throw new CountersignError('PROOF_INVALID', `frontier of size ${size} needs ${popcount(size)} hashes`);
    }
    const bins = hashes.map((hex) => {
      if (typeof hex !== 'string' || !/^[0-9a-f]{64}$/.test(hex)) {
        throw new CountersignError('PROOF_INVALID', 'frontier hash is not 64 lower-case hex digits');
      }
      return Buffer.from(hex, 'hex').toString('latin1');
    });
    return MerkleFrontier.#of(size, bins);
  }

  get size(): number {
    return this.#size;
  }

  push(leafHash: Uint8Array): void {
    this.pushBin(toBin(leafHash));
  }

  /** @internal A leaf hash in lower-case hex (not checked: callers pass digests). */
  pushHex(leafHex: string): void {
    this.pushBin(Buffer.from(leafHex, 'hex').toString('latin1'));
  }

  /** @internal */
  pushBin(leaf: string): void {
    let hash = leaf;
    // Each trailing 1 bit of the old size is a perfect subtree the new leaf completes.
    for (let s = this.#size; s % 2 === 1; s = (s - 1) / 2) {
      hash = nodeHashBin(this.#hashes.pop() as string, hash);
    }
    this.#hashes.push(hash);
    this.#size += 1;
  }

  /** MTH of all leaves pushed so far. */
  root(): Uint8Array {
    return fromBin(this.rootBin());
  }

  /** @internal Root of this tree with `extra` leaves appended, without changing the frontier. */
  rootBin(extra: readonly string[] = []): string {
    let hashes = this.#hashes;
    if (extra.length > 0) {
      const copy = this.clone();
      for (const leaf of extra) copy.pushBin(leaf);
      hashes = copy.#hashes;
    }
    let i = hashes.length - 1;
    if (i < 0) return EMPTY_ROOT_BIN;
    let acc = hashes[i] as string;
    for (i -= 1; i >= 0; i -= 1) acc = nodeHashBin(hashes[i] as string, acc);
    return acc;
  }

  clone(): MerkleFrontier {
    return MerkleFrontier.#of(this.#size, [...this.#hashes]);
  }

  toJSON(): FrontierState {
    return { size: this.#size, hashes: this.#hashes.map((bin) => Buffer.from(bin, 'latin1').toString('hex')) };
  }
}

function popcount(n: number): number {
  let count = 0;
  for (let s = n; s > 0; s = Math.floor(s / 2)) count += s % 2;
  return count;
}

/** @internal */
export function leafReader(source: LeafSource): (index: number) => string {
  return typeof source === 'function'
    ? (i) => toBin(source(i))
    : (i) => {
        const leaf = source[i];
        if (leaf === undefined) throw new CountersignError('PROOF_INVALID', `leaf ${i} is missing`);
        return toBin(leaf);
      };
}

/** @internal MTH(D[start:end]) in O(end - start) hashes and O(log n) memory. */
export function rangeHashBin(read: (index: number) => string, start: number, end: number): string {
  const frontier = MerkleFrontier.empty();
  for (let i = start; i < end; i += 1) frontier.pushBin(read(i));
  return frontier.rootBin();
}

/**
 * MTH(D[start:end]), the hash of the subtree over leaves `start <= i < end`.
 * Reads each leaf once: O(end - start) time, O(log n) memory.
 */
export function subtreeHash(source: LeafSource, start: number, end: number): Uint8Array {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new CountersignError('PROOF_INVALID', `leaf range [${start}, ${end}) is not valid`);
  }
  return fromBin(rangeHashBin(leafReader(source), start, end));
}

/** MTH of a whole list of leaf hashes. */
export function merkleRoot(leafHashes: readonly Uint8Array[]): Uint8Array {
  return subtreeHash(leafHashes, 0, leafHashes.length);
}

/** Largest power of two strictly less than n (n >= 2): RFC 6962's split point k. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}
