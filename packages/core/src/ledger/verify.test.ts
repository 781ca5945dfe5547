import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codeOf } from './code-of.contract.js';
import { merkleRoot } from './merkle.js';
import { sealEntry, type EntryDraft, type SealedEntry } from './entry.js';
import { buildLedger, draftArb, failureOf, INTRUDER, ORIGIN, runVerifierContract, SIGNER, VKEY, type Item } from './verify.contract.js';
import { signCheckpoint } from './checkpoint.js';
import { VerifyTree } from './verify-tree.js';
import { createChainVerifier, createVerifier } from './verify.js';
import { ed25519Signer, newEd25519KeyPair, signerVerifierKey, toVerifierKeys } from './key.js';
import { KEY_ROTATED, signKeyRotation } from './rotation.js';

runVerifierContract({ name: 'createVerifier', make: createVerifier });

describe('VerifyTree', () => {
  // The two-thread verifier builds the tree on a worker and hands the diagnosis its state.
  it('resumes from its state with the same roots, checkpoints and judgements', () => {
    fc.assert(
      fc.property(fc.array(draftArb, { minLength: 1, maxLength: 20 }), fc.nat(), (drafts, cut) => {
        const ledger = buildLedger(drafts, [drafts.length]);
        const keys = toVerifierKeys([VKEY]);
        const split = 1 + (cut % drafts.length);
        const tree = new VerifyTree(ORIGIN);
        for (const e of ledger.entries.slice(0, split)) tree.push(Buffer.from(e.hash).toString('latin1'));
        const resumed = VerifyTree.fromState(ORIGIN, structuredClone(tree.state()));
        expect(resumed.size).toBe(split);
        expect(resumed.rootWith()).toBe(tree.rootWith());
        expect(resumed.rootReplacingLast([])).toBe(tree.rootReplacingLast([]));
        for (const e of ledger.entries.slice(split)) resumed.push(Buffer.from(e.hash).toString('latin1'));
        const note = (ledger.items.at(-1) as Item & { kind: 'checkpoint' }).note;
        resumed.judge({ note, treeSize: drafts.length }, keys);
        const summary = resumed.summary();
        expect(Buffer.from(summary.rootHash).equals(Buffer.from(merkleRoot(ledger.entries.map((e) => e.hash))))).toBe(true);
        expect(summary).toMatchObject({ checkpoints: 1, checkpointedSize: drafts.length });
      }),
      { numRuns: 60 },
    );
  });
});

describe('createVerifier names what it cannot place', () => {
  const drafts = (): EntryDraft[] => fc.sample(draftArb, { numRuns: 4, seed: 11 });
  const sealAll = (list: readonly EntryDraft[]): SealedEntry[] => {
    const entries: SealedEntry[] = [];
    for (const d of list) entries.push(sealEntry(d, entries.length, entries.at(-1)?.hash ?? null));
    return entries;
  };
  const verifier = () => createVerifier({ origin: ORIGIN, trustedKeys: [VKEY] });

  // The last entry, linked to the one before it, with no checkpoint over it: only its seq can be judged.
  it.each([
    ['a gap', 5, 'gap'],
    ['out of order', 0, 'out_of_order'],
  ] as const)('a linked last entry whose seq says %s', (_label, seq, kind) => {
    const entries = sealAll(drafts().slice(0, 2));
    const last = sealEntry(drafts()[2] as EntryDraft, seq, (entries[1] as SealedEntry).hash);
    const v = verifier();
    for (const e of entries) v.entry(null, e.bytes);
    v.entry(null, last.bytes);
    expect(failureOf(() => v.finish())).toMatchObject({ seq: 2, kind, found: seq });
  });

  it('an entry in place and linked whose store row says another seq', () => {
    const [first] = sealAll(drafts().slice(0, 1));
    const v = verifier();
    v.entry(5, (first as SealedEntry).bytes);
    expect(failureOf(() => v.finish())).toMatchObject({ seq: 0, kind: 'malformed', stored_seq: 5 });
  });

  it('a stray item between two entries that link: the item, at the place of the entry after it', () => {
    const entries = sealAll(drafts().slice(0, 3));
    const v = verifier();
    v.entry(null, (entries[0] as SealedEntry).bytes);
    v.entry(null, (entries[1] as SealedEntry).bytes);
    v.entry(null, new TextEncoder().encode('{"stray":true}'));
    expect(failureOf(() => v.entry(null, (entries[2] as SealedEntry).bytes))).toMatchObject({ seq: 2, kind: 'malformed' });
  });

  it('a stray item after a changed entry: the changed entry, which the entry after the item no longer links to', () => {
    const entries = sealAll(drafts().slice(0, 3));
    const changed = new Uint8Array((entries[1] as SealedEntry).bytes);
    changed[2] = (changed[2] as number) ^ 1;
    const v = verifier();
    v.entry(null, (entries[0] as SealedEntry).bytes);
    v.entry(null, changed);
    v.entry(null, new TextEncoder().encode('{"stray":true}'));
    expect(failureOf(() => v.entry(null, (entries[2] as SealedEntry).bytes))).toMatchObject({ seq: 1, kind: 'hash_mismatch' });
  });

  it('an empty ledger: the empty root and no last entry', () => {
    const result = verifier().finish();
    expect(result).toMatchObject({ size: 0, lastHash: null, checkpoints: 0, checkpointedSize: 0 });
    expect(Buffer.from(result.rootHash).equals(Buffer.from(merkleRoot([])))).toBe(true);
  });

  it('a checkpoint the trusted key signed for another ledger: malformed, not a bad signature', () => {
    const entries = sealAll(drafts().slice(0, 2));
    const rootHash = merkleRoot(entries.map((e) => e.hash));
    const v = verifier();
    for (const e of entries) v.entry(null, e.bytes);
    v.checkpoint(signCheckpoint({ origin: 'countersign.test/another-ledger', treeSize: 2, rootHash }, SIGNER));
    expect(failureOf(() => v.finish())).toMatchObject({ seq: 1, kind: 'malformed', tree_size: 2 });
  });
});

describe('a verifier used out of turn', () => {
  const internal = codeOf;
  const pair = (): [SealedEntry, SealedEntry] => {
    const [a, b] = fc.sample(draftArb, { numRuns: 2, seed: 13 }) as [EntryDraft, EntryDraft];
    const first = sealEntry(a, 0, null);
    return [first, sealEntry(b, 1, first.hash)];
  };

  it('counts what it accepted, and takes nothing once finished', () => {
    const [first, second] = pair();
    const v = createVerifier({ origin: ORIGIN, trustedKeys: [VKEY] });
    v.entry(null, first.bytes);
    v.entry(null, second.bytes);
    expect(v.size).toBe(2);
    expect(v.finish()).toMatchObject({ size: 2 });
    expect(internal(() => v.entry(null, first.bytes))).toBe('INTERNAL');
    expect(internal(() => v.finish())).toBe('INTERNAL');
  });

  it('names the expected size a ledger falls short of', () => {
    const [first] = pair();
    const v = createVerifier({ origin: ORIGIN, trustedKeys: [VKEY] });
    v.entry(null, first.bytes);
    expect(failureOf(() => v.finish({ expectedSize: 3 }))).toMatchObject({ seq: 1, kind: 'truncation', expected_size: 3 });
  });

  it('settles only an anomaly whose next entry is in, and only with the tree of what it accepted', () => {
    const [first] = pair();
    const tree = new VerifyTree(ORIGIN);
    const chain = createChainVerifier({ origin: ORIGIN, trustedKeys: [VKEY] }, tree);
    expect(internal(() => chain.settle(tree))).toBe('INTERNAL');
    chain.entry(null, first.bytes);
    chain.entry(null, new TextEncoder().encode('{"stray":true}'));
    expect(internal(() => chain.settle(tree))).toBe('INTERNAL');
    expect(internal(() => chain.finish(new VerifyTree(ORIGIN)))).toBe('INTERNAL');
  });
});

// The verifier reads `seq` and `prev_hash` from the bytes without parsing them:
// each case below is an entry whose text is not what sealEntry writes, placed
// last with no checkpoint over it, so only the reading of its own bytes can
// refuse it (nothing after it checks its hash).
describe('createVerifier reads the links from canonical bytes only', () => {
  const drafts = (n: number): EntryDraft[] => fc.sample(draftArb, { numRuns: n, seed: 29 });
  const sealAll = (list: readonly EntryDraft[]): SealedEntry[] => {
    const entries: SealedEntry[] = [];
    for (const d of list) entries.push(sealEntry(d, entries.length, entries.at(-1)?.hash ?? null));
    return entries;
  };
  const verifier = () => createVerifier({ origin: ORIGIN, trustedKeys: [VKEY] });
  const feed = (bytes: readonly Uint8Array[]) => {
    const v = verifier();
    for (const b of bytes) v.entry(null, b);
    return v.finish();
  };
  /** Three entries, the last one's text edited by `edit`. */
  const withLast = (edit: (text: string) => string): Uint8Array[] => {
    const entries = sealAll(drafts(3));
    const text = Buffer.from((entries[2] as SealedEntry).bytes).toString('utf8');
    const edited = edit(text);
    expect(edited).not.toBe(text);
    return [...entries.slice(0, 2).map((e) => e.bytes), new Uint8Array(Buffer.from(edited, 'utf8'))];
  };
  const topSeq = (text: string, by: string): string => text.replace(/","seq":2,"subjects":/, `","seq":${by},"subjects":`);

  it('passes entries whose subjects are named prev_hash and seq, with a prev_hash of 64 hex digits', () => {
    const list = drafts(4).map((d) => ({ ...d, subjects: { prev_hash: 'ab'.repeat(32), seq: '7' } }));
    const entries = sealAll(list);
    expect(Buffer.from((entries[3] as SealedEntry).bytes).toString('utf8')).toContain(`"prev_hash":"${'ab'.repeat(32)}","seq":"7"`);
    expect(feed(entries.map((e) => e.bytes))).toMatchObject({ size: 4 });
  });

  it.each([
    ['a seq with a leading zero', (t: string) => topSeq(t, '02')],
    ['a seq with a fraction', (t: string) => topSeq(t, '2.0')],
    ['a seq of 16 digits beyond the safe integers', (t: string) => topSeq(t, '9999999999999999')],
    ['a misspelt seq key', (t: string) => t.replace(/","seq":2,"subjects":/, '","aeq":2,"subjects":')],
    ['a misspelt prev_hash key', (t: string) => t.replace(/"prev_hash":"([0-9a-f]{64})","seq":2,/, '"prev_hasx":"$1","seq":2,')],
    ['a space before the opening brace', (t: string) => ` ${t}`],
    ['a space after the closing brace', (t: string) => `${t} `],
  ])('names a last entry with %s as malformed', (_label, edit) => {
    expect(failureOf(() => feed(withLast(edit)))).toMatchObject({ seq: 2, kind: 'malformed' });
  });

  // `ledger.key_rotated` ends like `key.rotated` where the scanner looks first (the `k` 19 bytes from the end).
  it('takes only key.rotated entries for rotations: a last entry of a look-alike type that is not UTF-8 JSON is no rejected rotation', () => {
    const entries = sealAll([...drafts(2), { ...(drafts(3)[2] as EntryDraft), type: 'ledger.key_rotated', payload: { note: 'abc' } }]);
    const bytes = Buffer.from((entries[2] as SealedEntry).bytes);
    bytes[bytes.indexOf('"abc"') + 2] = 0xff;
    expect(feed([...entries.slice(0, 2).map((e) => e.bytes), bytes])).toMatchObject({ size: 3, rotations: [], rejectedRotations: [] });
  });

  it('reads a seq of 16 digits that is a safe integer, and names the gap it leaves', () => {
    expect(failureOf(() => feed(withLast((t) => topSeq(t, '1000000000000000'))))).toMatchObject({ seq: 2, kind: 'gap', found: 1e15 });
  });
});

describe('createVerifier diagnoses next to checkpoints and stray items', () => {
  const drafts = (n: number): EntryDraft[] => fc.sample(draftArb, { numRuns: n, seed: 31 });
  const sealAll = (list: readonly EntryDraft[], prevAt: (seq: number, prev: Uint8Array | null) => Uint8Array | null = (_s, p) => p): SealedEntry[] => {
    const entries: SealedEntry[] = [];
    for (const d of list) entries.push(sealEntry(d, entries.length, prevAt(entries.length, entries.at(-1)?.hash ?? null)));
    return entries;
  };
  const checkpointOver = (entries: readonly SealedEntry[]): string =>
    signCheckpoint({ origin: ORIGIN, treeSize: entries.length, rootHash: merkleRoot(entries.map((e) => e.hash)) }, SIGNER);
  const verifier = () => createVerifier({ origin: ORIGIN, trustedKeys: [VKEY] });
  const stray = (): Uint8Array => new TextEncoder().encode('{"stray":true}');

  /**
   * Entries 0 and 1, then entry 2 with a byte changed, the checkpoint of size 3
   * signed over the true entries, then one stray item: the verifier and the
   * true entries, for what follows.
   */
  const changedThenStray = (count: number): { v: ReturnType<typeof verifier>; entries: SealedEntry[] } => {
    const entries = sealAll(drafts(count));
    const changed = new Uint8Array((entries[2] as SealedEntry).bytes);
    changed[3] = (changed[3] as number) ^ 1;
    const v = verifier();
    v.entry(null, (entries[0] as SealedEntry).bytes);
    v.entry(null, (entries[1] as SealedEntry).bytes);
    v.entry(null, changed);
    v.checkpoint(checkpointOver(entries.slice(0, 3)));
    v.entry(null, stray());
    return { v, entries };
  };

  it('a changed last entry followed by a stray item: the checkpoint over the entries names the changed entry', () => {
    const { v } = changedThenStray(3);
    expect(failureOf(() => v.finish())).toMatchObject({ seq: 2, kind: 'root_mismatch', tree_size: 3 });
  });

  it('a changed last entry followed by two stray items: the checkpoint still names the changed entry, not the first item', () => {
    const { v } = changedThenStray(3);
    expect(failureOf(() => v.entry(null, stray()))).toMatchObject({ seq: 2, kind: 'root_mismatch', tree_size: 3 });
  });

  it('a changed last entry followed by a stray item in place of the next entry: the checkpoint still names the changed entry', () => {
    const { v, entries } = changedThenStray(5);
    expect(failureOf(() => v.entry(null, (entries[4] as SealedEntry).bytes))).toMatchObject({ seq: 2, kind: 'root_mismatch', tree_size: 3 });
  });

  it('an entry missing before a stray item: a gap, not entries out of order', () => {
    const entries = sealAll(drafts(3));
    const v = verifier();
    v.entry(null, (entries[0] as SealedEntry).bytes);
    v.entry(null, (entries[2] as SealedEntry).bytes);
    expect(failureOf(() => v.entry(null, stray()))).toMatchObject({ seq: 1, kind: 'gap', found: 2 });
  });

  it('the last entry sealed on a wrong prev_hash, under a checkpoint that covers it: a broken chain at that entry', () => {
    const entries = sealAll(drafts(3), (seq, prev) => (seq === 2 ? new Uint8Array(32).fill(0x5a) : prev));
    const v = verifier();
    for (const e of entries) v.entry(null, e.bytes);
    v.checkpoint(checkpointOver(entries));
    expect(failureOf(() => v.finish())).toMatchObject({ seq: 2, kind: 'broken_chain' });
  });

  it('a checkpoint that comes late, after a stray item: the stray item, which came first', () => {
    const entries = sealAll(drafts(4));
    const v = verifier();
    for (const e of entries) v.entry(null, e.bytes);
    v.entry(null, stray());
    expect(
      failureOf(() => {
        v.checkpoint(checkpointOver(entries.slice(0, 2)));
        v.finish();
      }),
    ).toMatchObject({ seq: 4, kind: 'malformed' });
  });

  it('a stray first item before an entry 0 that does not start from genesis: the stray item, at 0', () => {
    const [entry] = sealAll(drafts(1), () => new Uint8Array(32).fill(3));
    const v = verifier();
    v.entry(null, stray());
    expect(failureOf(() => v.entry(null, (entry as SealedEntry).bytes))).toMatchObject({ seq: 0, kind: 'malformed' });
  });

  it('a stray first item under a checkpoint of size 0 over another root: the stray item, at 0', () => {
    const v = verifier();
    v.checkpoint(signCheckpoint({ origin: ORIGIN, treeSize: 0, rootHash: new Uint8Array(32).fill(4) }, SIGNER));
    v.entry(null, stray());
    expect(failureOf(() => v.finish())).toMatchObject({ seq: 0, kind: 'malformed' });
  });

  it('judges two checkpoints of one size in the order they were handed in', () => {
    const entries = sealAll(drafts(3));
    const overOther = signCheckpoint({ origin: ORIGIN, treeSize: 2, rootHash: merkleRoot(entries.slice(1, 3).map((e) => e.hash)) }, SIGNER);
    const intruder = signCheckpoint({ origin: ORIGIN, treeSize: 2, rootHash: merkleRoot(entries.slice(0, 2).map((e) => e.hash)) }, INTRUDER);
    for (const [first, second, kind] of [
      [overOther, intruder, 'root_mismatch'],
      [intruder, overOther, 'bad_checkpoint_signature'],
    ] as const) {
      const v = verifier();
      v.checkpoint(first);
      v.checkpoint(second);
      expect(
        failureOf(() => {
          for (const e of entries) v.entry(e.seq, e.bytes);
          v.finish();
        }),
      ).toMatchObject({ seq: 1, kind, tree_size: 2 });
    }
  });

  it('refuses to start without a trusted key as KEY_INVALID', () => {
    expect(codeOf(() => createVerifier({ origin: ORIGIN, trustedKeys: [] }))).toBe('KEY_INVALID');
  });

  it('names a checkpoint note it cannot parse as malformed at the entries so far', () => {
    const entries = sealAll(drafts(2));
    const v = verifier();
    for (const e of entries) v.entry(null, e.bytes);
    expect(failureOf(() => v.checkpoint('not a note\n'))).toMatchObject({ seq: 2, kind: 'malformed' });
  });

  it('a stray item after a ledger its checkpoint vouches for: the stray item', () => {
    const entries = sealAll(drafts(2));
    const v = verifier();
    for (const e of entries) v.entry(null, e.bytes);
    v.checkpoint(checkpointOver(entries));
    v.entry(null, stray());
    expect(failureOf(() => v.finish())).toMatchObject({ seq: 2, kind: 'malformed' });
  });

  it('a checkpoint the trusted key signed for another ledger vouches for nothing in a diagnosis', () => {
    const entries = sealAll(drafts(3), (seq, prev) => (seq === 2 ? new Uint8Array(32).fill(0x5a) : prev));
    const v = verifier();
    for (const e of entries) v.entry(null, e.bytes);
    v.checkpoint(signCheckpoint({ origin: 'countersign.test/another-ledger', treeSize: 3, rootHash: merkleRoot(entries.map((e) => e.hash)) }, SIGNER));
    // Without a checkpoint of this ledger, a link that does not match is blamed on the entry before it.
    expect(failureOf(() => v.finish())).toMatchObject({ seq: 1, kind: 'hash_mismatch' });
  });

  it('a linked last entry whose seq says a gap, under a checkpoint over its bytes: still a gap', () => {
    const entries = sealAll(drafts(2));
    const last = sealEntry(drafts(3)[2] as EntryDraft, 5, (entries[1] as SealedEntry).hash);
    const v = verifier();
    for (const e of [...entries, last]) v.entry(null, e.bytes);
    v.checkpoint(checkpointOver([...entries, last]));
    expect(failureOf(() => v.finish())).toMatchObject({ seq: 2, kind: 'gap', found: 5 });
  });

  it('the last entry with its seq changed after a checkpoint covered it: a root mismatch there, naming the seq found', () => {
    const entries = sealAll(drafts(3));
    const text = Buffer.from((entries[2] as SealedEntry).bytes).toString('utf8').replace('","seq":2,', '","seq":5,');
    const v = verifier();
    for (const e of entries.slice(0, 2)) v.entry(null, e.bytes);
    v.entry(null, Buffer.from(text, 'utf8'));
    v.checkpoint(checkpointOver(entries));
    expect(failureOf(() => v.finish())).toMatchObject({ seq: 2, kind: 'root_mismatch', found: 5, tree_size: 3 });
  });

  it.each([
    ['a missing entry whose successor is repeated: a gap', [0, 2, 2], { seq: 1, kind: 'gap', found: 2 }],
    ['two entries swapped: out of order, naming the seq found', [0, 2, 1], { seq: 1, kind: 'out_of_order', found: 2 }],
    ['an entry repeated after the next: a duplicate, naming its position', [0, 1, 0, 2], { seq: 0, kind: 'duplicate', position: 2 }],
  ] as const)('%s', (_label, order, expected) => {
    const entries = sealAll(drafts(3));
    const v = verifier();
    expect(
      failureOf(() => {
        for (const i of order) v.entry(null, (entries[i] as SealedEntry).bytes);
        v.finish();
      }),
    ).toMatchObject(expected);
  });

  it('records a rotation the key in force did not sign as rejected, and keeps that key', () => {
    const NEW_VKEY = signerVerifierKey(ed25519Signer(ORIGIN, newEd25519KeyPair().privateKey)).text;
    const list = drafts(6).map((d, i): EntryDraft => (i === 4 ? { ...d, type: KEY_ROTATED, payload: { ...signKeyRotation({ origin: ORIGIN, seq: 4 }, INTRUDER, NEW_VKEY) } } : d));
    const entries = sealAll(list);
    const v = verifier();
    for (const e of entries) v.entry(e.seq, e.bytes);
    expect(v.finish()).toMatchObject({ size: 6, rotations: [], rejectedRotations: [4], keys: [VKEY] });
  });

  it('judges checkpoints handed in up front in any order, each at its size', () => {
    const entries = sealAll(drafts(6));
    for (const sizes of [[6, 2, 4], [4, 6, 2], [2, 4, 6]]) {
      const v = verifier();
      for (const size of sizes) v.checkpoint(checkpointOver(entries.slice(0, size)));
      for (const e of entries) v.entry(e.seq, e.bytes);
      expect(v.finish()).toMatchObject({ size: 6, checkpoints: 3, checkpointedSize: 6 });
    }
  });
});
