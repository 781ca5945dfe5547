import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { merkleRoot } from './merkle.js';
import { buildLedger, draftArb, ORIGIN, runVerifierContract, VKEY, type Item } from './verify.contract.js';
import { VerifyTree } from './verify-tree.js';
import { createVerifier } from './verify.js';
import { toVerifierKeys } from './key.js';

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
