import { describe, expect, it } from 'vitest';
import type { LedgerHead } from '@countersign/core';
import { assertExtends, assertWithinHead, checkPlan, sameHead } from './plan.js';
import { draft, plan, sealAfter } from './store.contract.js';

describe('the compare of compare-and-append', () => {
  const genesis: LedgerHead = { size: 0, lastHash: null };
  const [first] = sealAfter(genesis, [draft(0)]);
  const head: LedgerHead = { size: 1, lastHash: first!.hash };

  it('accepts entries sealed after the head, and no entries at all', () => {
    expect(() => assertExtends(head, sealAfter(head, [draft(1), draft(2), draft(3)]))).not.toThrow();
    expect(() => assertExtends(genesis, sealAfter(genesis, [draft(0)]))).not.toThrow();
    expect(() => assertExtends(head, [])).not.toThrow();
  });

  it('finds entries sealed on another head stale: it never seals them again', () => {
    // a writer that read a stale head: its entries start one too early
    expect(() => assertExtends(head, sealAfter(genesis, [draft(0), draft(1)]))).toThrow(expect.objectContaining({ code: 'STORE_STALE' }));
    // the right place, linked to another entry
    expect(() => assertExtends(head, sealAfter({ size: 1, lastHash: new Uint8Array(32) }, [draft(1)]))).toThrow(expect.objectContaining({ code: 'STORE_STALE' }));
    // entries sealed after this head, offered as the first ones of an empty ledger
    expect(() => assertExtends(genesis, sealAfter(head, [draft(1)]))).toThrow(expect.objectContaining({ code: 'STORE_STALE' }));
  });

  it('refuses a hash that is not the leaf hash of its bytes as the writer’s bug', () => {
    const [entry] = sealAfter(head, [draft(1)]);
    expect(() => assertExtends(head, [{ ...entry!, hash: new Uint8Array(32) }])).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it('compares heads by size and last hash', () => {
    expect(sameHead(head, { size: 1, lastHash: Uint8Array.from(first!.hash) })).toBe(true);
    expect(sameHead(head, { size: 2, lastHash: first!.hash })).toBe(false);
    expect(sameHead(head, { size: 1, lastHash: new Uint8Array(32) })).toBe(false);
    expect(sameHead(genesis, { size: 0, lastHash: null })).toBe(true);
    expect(sameHead(genesis, { size: 0, lastHash: new Uint8Array(32) })).toBe(false);
  });

  it('calls a writer that counted more entries than the ledger holds stale, not corrupt', () => {
    expect(() => assertWithinHead(2, 1)).toThrow(expect.objectContaining({ code: 'STORE_STALE' }));
    expect(() => assertWithinHead(1, 1)).not.toThrow();
  });

  it('refuses a plan whose entries, drafts and keys do not line up', () => {
    const good = plan(head, [draft(1), draft(2)]);
    expect(checkPlan(good)).toBe(good);
    expect(() => checkPlan({ ...good, uniqueKeys: [null] })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => checkPlan({ ...good, sealed: good.sealed.slice(1) })).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});
