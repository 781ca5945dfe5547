import { describe, expect, it } from 'vitest';
import { sealEntry, type AppendPlan, type LedgerHead, type SealedEntry } from '@countersign/core';
import { sealPlan } from './plan.js';
import { draft } from './store.contract.js';

function sealedAfter(head: LedgerHead, count: number, from = 0): SealedEntry[] {
  let prev = head.lastHash;
  return Array.from({ length: count }, (_, i) => {
    const entry = sealEntry(draft(from + i), head.size + i, prev);
    prev = entry.hash;
    return entry;
  });
}

const plan = (count: number, sealed?: SealedEntry[]): AppendPlan => ({
  drafts: Array.from({ length: count }, (_, i) => draft(i)),
  uniqueKeys: Array.from({ length: count }, () => null),
  projections: [],
  ...(sealed === undefined ? {} : { sealed }),
});

describe('sealPlan', () => {
  const genesis: LedgerHead = { size: 0, lastHash: null };
  const [first] = sealedAfter(genesis, 1);
  const head: LedgerHead = { size: 1, lastHash: first!.hash };

  it('seals the drafts after the head when the builder gave no seals', () => {
    expect(sealPlan(plan(2), head)).toEqual(sealedAfter(head, 2));
  });

  it('stores the builder seals as they are when they extend this head', () => {
    const offered = sealedAfter(head, 3);
    const stored = sealPlan(plan(3, offered), head);
    stored.forEach((entry, i) => expect(entry).toBe(offered[i]));
  });

  it('seals again from the first seal that does not sit at its place', () => {
    // a builder that read a stale head: its seals start one entry too early
    const stale = sealedAfter(genesis, 2);
    expect(sealPlan(plan(2, stale), head)).toEqual(sealedAfter(head, 2));
    // right place, but bytes and hash that do not belong together
    const offered = sealedAfter(head, 2);
    const tampered = [offered[0]!, { ...offered[1]!, hash: new Uint8Array(32) }];
    const stored = sealPlan(plan(2, tampered), head);
    expect(stored[0]).toBe(offered[0]);
    expect(stored[1]).toEqual(sealedAfter(head, 2)[1]);
  });

  it('refuses seals that do not match the drafts one for one', () => {
    expect(() => sealPlan(plan(2, sealedAfter(head, 1)), head)).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});
