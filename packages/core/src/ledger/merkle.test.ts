import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codeOf, errorOf } from './code-of.contract.js';
import { leafHash } from './entry.js';
import { EMPTY_ROOT, MerkleFrontier, merkleRoot, nodeHash, splitPoint, subtreeHash } from './merkle.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
};

/** RFC 6962 §2.1 MTH, written the way the RFC states it. */
function naiveRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return sha();
  if (leaves.length === 1) return leaves[0] as Uint8Array;
  const k = splitPoint(leaves.length);
  return sha(Uint8Array.of(1), naiveRoot(leaves.slice(0, k)), naiveRoot(leaves.slice(k)));
}

const leafHashes = (n: number, salt = 0): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => leafHash(new TextEncoder().encode(`leaf ${salt} ${i}`)));

// The eight inputs and roots of the RFC 6962 test vectors used by certificate-transparency-go.
const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const ctLeafHashes = (): Uint8Array[] => CT_LEAVES.map((h) => leafHash(Buffer.from(h, 'hex')));


describe('Merkle Tree Hash (RFC 6962 §2.1)', () => {
  it('hashes the empty tree to SHA-256 of nothing', () => {
    expect(hex(EMPTY_ROOT)).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(merkleRoot([]))).toBe(hex(EMPTY_ROOT));
    expect(hex(MerkleFrontier.empty().root())).toBe(hex(EMPTY_ROOT));
  });

  it('reproduces the certificate-transparency test vector roots for sizes 1 to 8', () => {
    const leaves = ctLeafHashes();
    const frontier = MerkleFrontier.empty();
    leaves.forEach((leaf, i) => {
      frontier.push(leaf);
      expect(hex(frontier.root())).toBe(CT_ROOTS[i]);
      expect(hex(merkleRoot(leaves.slice(0, i + 1)))).toBe(CT_ROOTS[i]);
    });
  });

  it('prefixes nodes with 0x01', () => {
    const [a, b] = leafHashes(2) as [Uint8Array, Uint8Array];
    expect(hex(nodeHash(a, b))).toBe(hex(sha(Uint8Array.of(1), a, b)));
  });

  it('frontier root equals the recursive definition for every size up to 300', () => {
    const leaves = leafHashes(300);
    const frontier = MerkleFrontier.empty();
    for (let n = 1; n <= leaves.length; n += 1) {
      frontier.push(leaves[n - 1] as Uint8Array);
      expect(frontier.size).toBe(n);
      expect(hex(frontier.root())).toBe(hex(naiveRoot(leaves.slice(0, n))));
    }
  });

  it('keeps one hash per set bit of the size (O(log n) memory)', () => {
    const frontier = MerkleFrontier.empty();
    for (const leaf of leafHashes(1000)) frontier.push(leaf);
    // 1000 = 0b1111101000: six perfect subtrees
    expect(frontier.toJSON().hashes).toHaveLength(6);
  });

  it('resumes from its serialised state', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 60 }), (first, more) => {
        const leaves = leafHashes(first + more, first);
        const a = MerkleFrontier.empty();
        leaves.slice(0, first).forEach((l) => a.push(l));
        const b = MerkleFrontier.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
        leaves.slice(first).forEach((l) => b.push(l));
        expect(hex(b.root())).toBe(hex(naiveRoot(leaves)));
      }),
      { numRuns: 60 },
    );
  });

  it('refuses an inconsistent serialised state', () => {
    const h = 'ab'.repeat(32);
    expect(errorOf(() => MerkleFrontier.fromJSON({ size: 3, hashes: [h] })).message).toMatch(/needs 2 hashes/);
    expect(errorOf(() => MerkleFrontier.fromJSON({ size: 1, hashes: ['AB'.repeat(32)] })).message).toMatch(/hex/);
    expect(errorOf(() => MerkleFrontier.fromJSON({ size: -1, hashes: [] })).message).toMatch(/non-negative/);
  });

  it('gives the same tree whether leaves arrive as bytes or as hex, in any mix', () => {
    const leaves = leafHashes(70, 9);
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 70, maxLength: 70 }), fc.integer({ min: 0, max: 70 }), (asHex, serialiseAt) => {
        let frontier = MerkleFrontier.empty();
        leaves.forEach((leaf, i) => {
          if (i === serialiseAt) frontier = MerkleFrontier.fromJSON(frontier.toJSON());
          if (asHex[i]) frontier.pushHex(hex(leaf));
          else frontier.push(leaf);
          if (i % 7 === 0) expect(hex(frontier.root())).toBe(hex(naiveRoot(leaves.slice(0, i + 1))));
        });
        expect(hex(frontier.root())).toBe(hex(naiveRoot(leaves)));
      }),
      { numRuns: 100 },
    );
  });

  it('clone and rootBin with extra leaves leave the frontier as it was', () => {
    const leaves = leafHashes(7);
    const frontier = MerkleFrontier.empty();
    leaves.slice(0, 5).forEach((l) => frontier.push(l));
    const before = hex(frontier.root());
    const copy = frontier.clone();
    copy.push(leaves[5] as Uint8Array);
    expect(hex(frontier.root())).toBe(before);
    expect(hex(copy.root())).toBe(hex(naiveRoot(leaves.slice(0, 6))));
  });

  it('computes the hash of any subtree from a leaf function', () => {
    const leaves = leafHashes(50);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 50 }), (x, y) => {
        const [start, end] = x <= y ? [x, y] : [y, x];
        const reads: number[] = [];
        const got = subtreeHash((i) => (reads.push(i), leaves[i] as Uint8Array), start, end);
        expect(hex(got)).toBe(hex(naiveRoot(leaves.slice(start, end))));
        expect(reads).toEqual(Array.from({ length: end - start }, (_, i) => start + i));
      }),
    );
  });
});

describe('Merkle inputs the types do not rule out', () => {
  const rejects = (f: () => unknown): void => {
    expect(codeOf(f)).toBe('PROOF_INVALID');
  };

  it('hashes a leaf longer than the reused input buffer, and short leaves again after it grew', () => {
    const small = new TextEncoder().encode('small leaf');
    const other = new TextEncoder().encode('other leaf');
    const big = new Uint8Array(5000).map((_, i) => i % 251);
    expect(hex(leafHash(small))).toBe(hex(sha(Uint8Array.of(0), small)));
    expect(hex(leafHash(big))).toBe(hex(sha(Uint8Array.of(0), big)));
    // a leaf of the same length as one hashed before the buffer grew
    expect(hex(leafHash(other))).toBe(hex(sha(Uint8Array.of(0), other)));
  });

  it('refuses a node hash input that is not 32 bytes', () => {
    rejects(() => nodeHash(new Uint8Array(31), new Uint8Array(32)));
    rejects(() => nodeHash(new Uint8Array(32), new Uint8Array(33)));
  });

  it('refuses a frontier state whose size is not a safe integer or whose hashes are not a list of hex', () => {
    const h = 'ab'.repeat(32);
    rejects(() => MerkleFrontier.fromJSON({ size: Number.NaN, hashes: [] }));
    rejects(() => MerkleFrontier.fromJSON({ size: 1, hashes: 'x' as unknown as string[] }));
    rejects(() => MerkleFrontier.fromJSON({ size: 1, hashes: [[h]] as unknown as string[] }));
    rejects(() => MerkleFrontier.fromJSON({ size: 1, hashes: [`${h}0`] }));
    rejects(() => MerkleFrontier.fromJSON({ size: 1, hashes: [`x${h}`] }));
    rejects(() => MerkleFrontier.fromJSON({ size: 1, hashes: [h.slice(2)] }));
    expect(MerkleFrontier.fromJSON({ size: 1, hashes: [h] }).toJSON()).toEqual({ size: 1, hashes: [h] });
  });

  it('refuses a leaf range that is reversed, negative or fractional, even from a source that answers every index', () => {
    const leaf = leafHashes(1)[0] as Uint8Array;
    const any = (): Uint8Array => leaf;
    rejects(() => subtreeHash(any, 3, 2));
    rejects(() => subtreeHash(any, -1, 2));
    rejects(() => subtreeHash(any, 0.5, 2));
    rejects(() => subtreeHash(any, 0, 1.5));
    expect(hex(subtreeHash(any, 2, 2))).toBe(hex(EMPTY_ROOT));
  });

  it('refuses a list of leaves shorter than the range as PROOF_INVALID', () => {
    rejects(() => subtreeHash(leafHashes(3), 0, 5));
  });
});
