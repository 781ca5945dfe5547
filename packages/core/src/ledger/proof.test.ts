import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CountersignError } from '../errors.js';
import { expectWellFormedMessage } from './code-of.contract.js';
import { leafHash } from './entry.js';
import { EMPTY_ROOT, merkleRoot, splitPoint } from './merkle.js';
import {
  consistencyProof,
  inclusionProof,
  inclusionProofFromJson,
  inclusionProofToJson,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
  type ConsistencyProof,
  type InclusionProof,
} from './proof.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
const node = (l: Uint8Array, r: Uint8Array): Uint8Array =>
  new Uint8Array(createHash('sha256').update(Uint8Array.of(1)).update(l).update(r).digest());

// Reference implementations, transcribed from RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1
// recursively and over arrays, with no attempt at efficiency.
function mth(d: readonly Uint8Array[]): Uint8Array {
  if (d.length === 0) return EMPTY_ROOT;
  if (d.length === 1) return d[0] as Uint8Array;
  const k = splitPoint(d.length);
  return node(mth(d.slice(0, k)), mth(d.slice(k)));
}
function path(m: number, d: readonly Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const k = splitPoint(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}
function subproof(m: number, d: readonly Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = splitPoint(d.length);
  return m <= k
    ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))]
    : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

const leaves = (n: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`entry ${i}`)));
const ALL = leaves(300);

const flip = (hash: Uint8Array, bit: number): Uint8Array => {
  const out = new Uint8Array(hash);
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7));
  return out;
};

const rejects = (f: () => void): void => {
  expect(f).toThrow(CountersignError);
  try {
    f();
  } catch (err) {
    expect((err as CountersignError).code).toBe('PROOF_INVALID');
    expectWellFormedMessage(err as CountersignError);
  }
};

const sizeAndIndex = fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 })));
const twoSizes = fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.integer({ min: 1, max: n }), fc.constant(n)));

describe('inclusion proofs (RFC 9162 §2.1.3)', () => {
  it('generate the same path as the reference, from an array or a leaf function', () => {
    fc.assert(
      fc.property(sizeAndIndex, ([n, m]) => {
        const d = ALL.slice(0, n);
        const want = path(m, d).map(hex);
        expect(inclusionProof(d, m, n).path.map(hex)).toEqual(want);
        expect(inclusionProof((i) => ALL[i] as Uint8Array, m, n).path.map(hex)).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it('verify for every generated proof, and fail for a wrong leaf, index, size, path or root', () => {
    fc.assert(
      fc.property(sizeAndIndex, fc.nat(), ([n, m], r) => {
        const d = ALL.slice(0, n);
        const root = mth(d);
        const proof = inclusionProof(d, m, n);
        const leaf = d[m] as Uint8Array;
        verifyInclusion(proof, leaf, root);
        rejects(() => verifyInclusion(proof, flip(leaf, r % 256), root));
        rejects(() => verifyInclusion(proof, leaf, flip(root, r % 256)));
        if (proof.path.length > 0) {
          const i = r % proof.path.length;
          const bad = proof.path.map((p, j) => (j === i ? flip(p, r % 256) : p));
          rejects(() => verifyInclusion({ ...proof, path: bad }, leaf, root));
          rejects(() => verifyInclusion({ ...proof, path: proof.path.slice(1) }, leaf, root));
        }
        rejects(() => verifyInclusion({ ...proof, path: [...proof.path, leaf] }, leaf, root));
        if (n > 1) {
          const other = (m + 1 + (r % (n - 1))) % n;
          rejects(() => verifyInclusion({ ...proof, leafIndex: other }, leaf, root));
        }
        rejects(() => verifyInclusion({ ...proof, leafIndex: n }, leaf, root));
      }),
      { numRuns: 300 },
    );
  });

  it('matches the certificate-transparency vector for leaf 0 of 8', () => {
    const ct = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) =>
      leafHash(unhex(h)),
    );
    expect(inclusionProof(ct, 0, 8).path.map(hex)).toEqual([
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ]);
  });

  it('a single-leaf tree has an empty path and its root is the leaf', () => {
    const proof = inclusionProof(ALL, 0, 1);
    expect(proof.path).toHaveLength(0);
    expect(hex(rootFromInclusionProof(proof, ALL[0] as Uint8Array))).toBe(hex(ALL[0] as Uint8Array));
  });

  it('round-trips through its JSON form', () => {
    const proof = inclusionProof(ALL, 41, 100);
    const back = inclusionProofFromJson(JSON.parse(JSON.stringify(inclusionProofToJson(proof))));
    verifyInclusion(back, ALL[41] as Uint8Array, merkleRoot(ALL.slice(0, 100)));
    rejects(() => inclusionProofFromJson({ leaf_index: 1, tree_size: 2, path: ['not base64!'] }));
  });
});

describe('consistency proofs (RFC 9162 §2.1.4)', () => {
  it('generate the same proof as the reference', () => {
    fc.assert(
      fc.property(twoSizes, ([m, n]) => {
        const d = ALL.slice(0, n);
        const want = m === n ? [] : subproof(m, d, true).map(hex);
        expect(consistencyProof(d, m, n).path.map(hex)).toEqual(want);
        expect(consistencyProof((i) => ALL[i] as Uint8Array, m, n).path.map(hex)).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it('verify for every generated proof, and fail for a wrong root, size or path', () => {
    fc.assert(
      fc.property(twoSizes, fc.nat(), ([m, n], r) => {
        const d = ALL.slice(0, n);
        const oldRoot = mth(d.slice(0, m));
        const newRoot = mth(d);
        const proof = consistencyProof(d, m, n);
        verifyConsistency(proof, oldRoot, newRoot);
        rejects(() => verifyConsistency(proof, flip(oldRoot, r % 256), newRoot));
        rejects(() => verifyConsistency(proof, oldRoot, flip(newRoot, r % 256)));
        if (proof.path.length > 0) {
          const i = r % proof.path.length;
          const bad: ConsistencyProof = { ...proof, path: proof.path.map((p, j) => (j === i ? flip(p, r % 256) : p)) };
          rejects(() => verifyConsistency(bad, oldRoot, newRoot));
          rejects(() => verifyConsistency({ ...proof, path: proof.path.slice(0, -1) }, oldRoot, newRoot));
        }
        rejects(() => verifyConsistency({ ...proof, path: [...proof.path, oldRoot] }, oldRoot, newRoot));
        if (m < n - 1) {
          // The same proof does not link the old root to the tree one leaf shorter.
          rejects(() => verifyConsistency({ ...proof, toSize: n - 1 }, oldRoot, mth(d.slice(0, n - 1))));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('matches the certificate-transparency vectors', () => {
    const ct = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) =>
      leafHash(unhex(h)),
    );
    expect(consistencyProof(ct, 6, 8).path.map(hex)).toEqual([
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ]);
    expect(consistencyProof(ct, 2, 5).path.map(hex)).toEqual([
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ]);
  });

  it('settles the edge cases: equal sizes, the empty tree, sizes going down', () => {
    const root5 = mth(ALL.slice(0, 5));
    verifyConsistency({ fromSize: 5, toSize: 5, path: [] }, root5, root5);
    rejects(() => verifyConsistency({ fromSize: 5, toSize: 5, path: [] }, root5, mth(ALL.slice(0, 4))));
    verifyConsistency({ fromSize: 0, toSize: 5, path: [] }, EMPTY_ROOT, root5);
    rejects(() => verifyConsistency({ fromSize: 0, toSize: 5, path: [root5] }, EMPTY_ROOT, root5));
    rejects(() => verifyConsistency({ fromSize: 3, toSize: 5, path: [] }, mth(ALL.slice(0, 3)), root5));
    rejects(() => consistencyProof(ALL, 6, 5));
    rejects(() => inclusionProof(ALL, 5, 5));
    const proof: InclusionProof = { leafIndex: -1, treeSize: 5, path: [] };
    rejects(() => rootFromInclusionProof(proof, ALL[0] as Uint8Array));
  });

  it('reads each leaf at most once per proof (O(n) for a large ledger)', () => {
    let reads = 0;
    const source = (i: number): Uint8Array => {
      reads += 1;
      return leafHash(new TextEncoder().encode(`big ${i}`));
    };
    inclusionProof(source, 12_345, 20_000);
    expect(reads).toBeLessThan(20_000);
    reads = 0;
    consistencyProof(source, 7_777, 20_000);
    expect(reads).toBeLessThanOrEqual(20_000);
  });
});

// Each case below hands the verifier roots computed from the proof itself, so
// only the shape check (path length for the sizes, the sizes themselves) stands
// between the proof and acceptance.
describe('proofs whose shape does not fit their sizes', () => {
  const [l0, l1, l2, l3] = ALL as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];

  it('an inclusion path one node too long is refused, whatever root it leads to', () => {
    rejects(() => rootFromInclusionProof({ leafIndex: 0, treeSize: 1, path: [l1] }, l0));
    rejects(() => verifyInclusion({ leafIndex: 0, treeSize: 1, path: [l1] }, l0, node(l1, l0)));
  });

  it('an inclusion path for a tree of 2 does not prove the leaf in a tree of 4', () => {
    rejects(() => rootFromInclusionProof({ leafIndex: 0, treeSize: 4, path: [l1] }, l0));
    rejects(() => verifyInclusion({ leafIndex: 0, treeSize: 4, path: [l1] }, l0, mth([l0, l1])));
  });

  it('a leaf index equal to the tree size is refused even with the empty path', () => {
    rejects(() => rootFromInclusionProof({ leafIndex: 1, treeSize: 1, path: [] }, l0));
  });

  it('refuses a fractional or non-finite leaf index and tree size', () => {
    rejects(() => inclusionProof(ALL, 1.5, 4));
    rejects(() => inclusionProof(ALL, Number.NaN, 4));
    rejects(() => inclusionProof(ALL, 0, 2.5));
    rejects(() => rootFromInclusionProof({ leafIndex: 0, treeSize: Number.POSITIVE_INFINITY, path: [] }, l0));
    rejects(() => consistencyProof(ALL, 1.5, 4));
    rejects(() => verifyConsistency({ fromSize: Number.NaN, toSize: 4, path: [] }, EMPTY_ROOT, mth(ALL.slice(0, 4))));
    rejects(() => consistencyProof(ALL, 1, 1.5));
    rejects(() => verifyConsistency({ fromSize: 1, toSize: Number.NaN, path: [] }, mth(ALL.slice(0, 1)), mth(ALL.slice(0, 4))));
  });

  it('refuses a leaf source shorter than the tree as PROOF_INVALID, naming no leaf it does not have', () => {
    rejects(() => inclusionProof(ALL.slice(0, 3), 0, 5));
    rejects(() => consistencyProof(ALL.slice(0, 3), 2, 5));
  });

  it('a consistency proof from the empty tree is empty and verifies against the empty root', () => {
    const proof = consistencyProof(ALL, 0, 5);
    expect(proof).toEqual({ fromSize: 0, toSize: 5, path: [] });
    verifyConsistency(proof, EMPTY_ROOT, mth(ALL.slice(0, 5)));
  });

  it('a consistency proof from the empty tree is refused when the old root is not the empty root', () => {
    rejects(() => verifyConsistency({ fromSize: 0, toSize: 5, path: [] }, mth(ALL.slice(0, 3)), mth(ALL.slice(0, 5))));
  });

  it('a consistency proof between equal sizes that carries a node is refused, even between equal roots', () => {
    const root = mth(ALL.slice(0, 5));
    rejects(() => verifyConsistency({ fromSize: 5, toSize: 5, path: [root] }, root, root));
  });

  it('a consistency proof with a node appended is refused, whatever roots it leads to', () => {
    // 3 -> 4 per RFC 9162 §2.1.4.1 is [l2, l3, MTH(l0, l1)]; one node more must fail as too long.
    const proof = consistencyProof([l0, l1, l2, l3], 3, 4);
    expect(proof.path.map(hex)).toEqual([l2, l3, node(l0, l1)].map(hex));
    const extra = l0;
    const longer: ConsistencyProof = { ...proof, path: [...proof.path, extra] };
    rejects(() => verifyConsistency(longer, node(extra, mth([l0, l1, l2])), node(extra, mth([l0, l1, l2, l3]))));
  });

  it('a consistency proof for 1 -> 2 does not prove 1 -> 4', () => {
    rejects(() => verifyConsistency({ fromSize: 1, toSize: 4, path: [l1] }, l0, mth([l0, l1])));
  });

  it('a consistency proof going down in size is refused, even empty and between equal roots', () => {
    const root = mth(ALL.slice(0, 4));
    rejects(() => verifyConsistency({ fromSize: 5, toSize: 4, path: [] }, root, root));
    // From 3 to 1, RFC 9162's steps alone would take a one-node path whose node is both roots.
    rejects(() => verifyConsistency({ fromSize: 3, toSize: 1, path: [l0] }, l0, l0));
  });
});

describe('inclusion proofs in JSON', () => {
  // Built per test, not while the file is collected (docs/testing.md, "Keep tests countable").
  const json = (): Record<string, unknown> => ({ ...inclusionProofToJson(inclusionProof(ALL, 3, 8)) });

  it('reads leaf_index, tree_size and each path hash', () => {
    const back = inclusionProofFromJson(json());
    expect(back).toMatchObject({ leafIndex: 3, treeSize: 8 });
    expect(back.path.map(hex)).toEqual(inclusionProof(ALL, 3, 8).path.map(hex));
  });

  it.each([
    ['null', () => null],
    ['a string', () => 'proof'],
    ['a leaf index that is text', () => ({ ...json(), leaf_index: '3' })],
    ['a tree size that is missing', () => ({ ...json(), tree_size: undefined })],
    ['a path that is not a list', () => ({ ...json(), path: 'AAAA' })],
    ['a negative leaf index', () => ({ ...json(), leaf_index: -1 })],
    ['a fractional tree size', () => ({ ...json(), tree_size: 8.5 })],
    ['a hash that is not a string', () => ({ ...json(), path: [7] })],
    ['a hash of 31 bytes', () => ({ ...json(), path: [Buffer.alloc(31).toString('base64')] })],
    ['a hash in base64url', () => ({ ...json(), path: [Buffer.alloc(32, 0xfb).toString('base64url')] })],
  ])('refuses %s as PROOF_INVALID', (_label, value) => {
    rejects(() => inclusionProofFromJson(value()));
  });
});
