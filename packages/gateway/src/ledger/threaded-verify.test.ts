import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CountersignError,
  createExportVerifier,
  createVerifier,
  exportCheckpointLine,
  exportEntryLine,
  exportHeaderLine,
  merkleRoot,
  signCheckpoint,
  type EntryDraft,
  type LedgerVerifier,
  type VerifierOptions,
  type VerifyResult,
} from '@countersign/core';
import { buildLedger, draftArb, INTRUDER, ORIGIN, runVerifierContract, VKEY, type Item, type Ledger } from '../../../core/src/ledger/verify.contract.js';
import { ThreadedVerifier } from './threaded-verify.js';

type Outcome = { readonly ok: VerifyResult } | { readonly failed: unknown };

/** What a caller sees of a failure: the code, the message and the details, nothing thread-specific. */
function report(outcome: Outcome): unknown {
  if ('ok' in outcome) return { ok: outcome.ok };
  const err = outcome.failed;
  return err instanceof CountersignError ? { code: err.code, message: err.message, details: err.details } : { thrown: String(err) };
}

// Small batches and a short leash put checkpoints at every position of a batch,
// spread a tiny ledger over many messages, and make the calling thread wait.
const SHAPES = [
  { batchSize: 1, maxInFlight: 1 },
  { batchSize: 2, maxInFlight: 1 },
  { batchSize: 3, maxInFlight: 2 },
  { batchSize: 5, maxInFlight: 1 },
  { batchSize: 4096, maxInFlight: 16 },
];
let shapes = 0;

/**
 * Both verifiers fed the same calls, each until it throws; at `finish` their
 * reports must be identical, and the pair then reports what both do.
 */
function paired(options: VerifierOptions): LedgerVerifier {
  const single = createVerifier(options);
  const threaded = ThreadedVerifier.start({ ...options, ...SHAPES[shapes++ % SHAPES.length] });
  const outcomes: (Outcome | null)[] = [null, null];
  const both = (call: (verifier: LedgerVerifier) => void): void => {
    [single, threaded].forEach((verifier, i) => {
      if (outcomes[i] !== null) return;
      try {
        call(verifier);
      } catch (err) {
        outcomes[i] = { failed: err };
      }
    });
  };
  return {
    get size() {
      return single.size;
    },
    entry: (seq, bytes) => both((v) => v.entry(seq, bytes)),
    checkpoint: (note) => both((v) => v.checkpoint(note)),
    finish(finishOptions) {
      both((v) => {
        const ok = v.finish(finishOptions);
        outcomes[v === single ? 0 : 1] = { ok };
      });
      const [mine, theirs] = outcomes as [Outcome, Outcome];
      expect(report(theirs)).toEqual(report(mine));
      if ('failed' in mine) throw mine.failed;
      return mine.ok;
    },
  };
}

runVerifierContract({ name: 'ThreadedVerifier, report for report with createVerifier', make: paired, scale: 0.1 });

/** Entries and checkpoints in export order, fed to a verifier; the calls made before it threw, and what it threw. */
function feed(verifier: LedgerVerifier, items: readonly Item[]): { calls: number; outcome: Outcome } {
  let calls = 0;
  try {
    for (const item of items) {
      calls += 1;
      if (item.kind === 'entry') verifier.entry(item.seq, item.bytes);
      else verifier.checkpoint(item.note);
    }
    return { calls, outcome: { ok: verifier.finish() } };
  } catch (err) {
    return { calls, outcome: { failed: err } };
  }
}

const plainDrafts = (n: number): EntryDraft[] =>
  Array.from({ length: n }, (_, i) => ({
    at: '2026-05-15T09:16:00.000Z',
    type: 'proposal.decided',
    actor: `agent-${i % 7}`,
    surface: null,
    bundle_id: null,
    subjects: { proposal: `prop-${i}` },
    payload: { n: i },
  }));

/** `ledger` with the checkpoint of `treeSize` replaced by one over the same root, signed by another key. */
function forgeCheckpoint(ledger: Ledger, treeSize: number): Item[] {
  const rootHash = merkleRoot(ledger.entries.slice(0, treeSize).map((e) => e.hash));
  const forged = signCheckpoint({ origin: ORIGIN, treeSize, rootHash }, INTRUDER);
  return ledger.items.map((it) => (it.kind === 'checkpoint' && it.treeSize === treeSize ? { ...it, note: forged } : it));
}

/** `items` with one byte of entry `seq`'s payload flipped. */
function flipEntry(items: readonly Item[], seq: number): Item[] {
  return items.map((it) => {
    if (it.kind !== 'entry' || it.seq !== seq) return it;
    const bytes = new Uint8Array(it.bytes);
    bytes[10] = (bytes[10] as number) ^ 1;
    return { ...it, bytes };
  });
}

describe('ThreadedVerifier', () => {
  const ledger = buildLedger(plainDrafts(300), [50, 100, 150, 200, 250, 300]);

  it('passes a ledger spread over many batches with the same result as one thread', () => {
    const single = feed(createVerifier({ origin: ORIGIN, trustedKeys: [VKEY] }), ledger.items);
    const threaded = feed(ThreadedVerifier.start({ origin: ORIGIN, trustedKeys: [VKEY], batchSize: 7, maxInFlight: 2 }), ledger.items);
    expect('ok' in threaded.outcome).toBe(true);
    expect(report(threaded.outcome)).toEqual(report(single.outcome));
  });

  it('reports the first problem in the stream when each thread finds one', () => {
    // the worker's (a forged checkpoint at 100) before the calling thread's (entry 220 changed) ...
    const workerFirst = flipEntry(forgeCheckpoint(ledger, 100), 220);
    // ... or before a checkpoint the calling thread cannot parse (after entry 200) ...
    const forged = forgeCheckpoint(ledger, 100);
    const after200 = forged.findIndex((it) => it.kind === 'entry' && it.seq === 200);
    const garbled: Item[] = [...forged.slice(0, after200 + 1), { kind: 'checkpoint', treeSize: 201, note: 'not a note' }, ...forged.slice(after200 + 1)];
    // ... and the calling thread's (entry 40 changed) before the worker's (forged checkpoint at 250)
    const chainFirst = flipEntry(forgeCheckpoint(ledger, 250), 40);
    for (const [items, expected] of [
      [workerFirst, { seq: 99, kind: 'bad_checkpoint_signature' }],
      [garbled, { seq: 99, kind: 'bad_checkpoint_signature' }],
      [chainFirst, { seq: 40, kind: 'hash_mismatch' }],
    ] as const) {
      for (const shape of SHAPES) {
        const single = feed(createVerifier({ origin: ORIGIN, trustedKeys: [VKEY] }), items);
        const threaded = feed(ThreadedVerifier.start({ origin: ORIGIN, trustedKeys: [VKEY], ...shape }), items);
        expect(report(threaded.outcome)).toEqual(report(single.outcome));
        expect((single.outcome as { failed: CountersignError }).failed.details).toMatchObject(expected);
      }
    }
  });

  it('stops reading soon after the worker finds a failure, without waiting for the end', () => {
    const items = forgeCheckpoint(ledger, 50);
    // one leaf a batch and one batch of lag: by the time entry 52 is in, the checkpoint of 50 (sent with entry 50) is judged
    const { calls, outcome } = feed(ThreadedVerifier.start({ origin: ORIGIN, trustedKeys: [VKEY], batchSize: 1, maxInFlight: 1 }), items);
    expect(report(outcome)).toMatchObject({ details: { seq: 49, kind: 'bad_checkpoint_signature' } });
    const entry52 = items.findIndex((it) => it.kind === 'entry' && it.seq === 52);
    expect(calls).toBeLessThanOrEqual(entry52 + 1);
  });

  it('lets a failure the worker found earlier win over one the caller meets later', () => {
    const items = forgeCheckpoint(ledger, 50);
    const verifier = ThreadedVerifier.start({ origin: ORIGIN, trustedKeys: [VKEY] });
    for (const item of items.slice(0, 120)) {
      if (item.kind === 'entry') verifier.entry(item.seq, item.bytes);
      else verifier.checkpoint(item.note);
    }
    const readError = new Error('the store went away');
    expect(report({ failed: verifier.firstFailure(readError) })).toMatchObject({ details: { seq: 49, kind: 'bad_checkpoint_signature' } });
    void verifier.close();
    const clean = ThreadedVerifier.start({ origin: ORIGIN, trustedKeys: [VKEY] });
    clean.entry(0, (ledger.items[0] as Item & { kind: 'entry' }).bytes);
    expect(clean.firstFailure(readError)).toBe(readError);
    void clean.close();
  });

  it('fails closed when the worker cannot start', () => {
    const verifier = ThreadedVerifier.start({ origin: ORIGIN, trustedKeys: [VKEY], treeModule: 'file:///nonexistent/verify-tree.js' });
    const { outcome } = feed(verifier, ledger.items);
    expect(report(outcome)).toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/cannot load the tree module/) });
  });

  it('checks the key list before it starts a thread', () => {
    expect(() => ThreadedVerifier.start({ origin: ORIGIN, trustedKeys: [] })).toThrow(/at least one trusted key/);
    expect(() => ThreadedVerifier.start({ origin: ORIGIN, trustedKeys: [VKEY], batchSize: 0 })).toThrow(/positive integers/);
  });

  it('reports the same size as one thread whenever it is asked', () => {
    // an export names a malformed line by the verifier's size; a progress display reads it after every entry
    fc.assert(
      fc.property(
        fc.array(draftArb, { minLength: 2, maxLength: 30 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        fc.nat(),
        fc.boolean(),
        (drafts, batchSize, probes, pick, damaged) => {
          const sizes = drafts.map((_, i) => i + 1).filter((n) => n % 5 === 0 || n === drafts.length);
          const base = buildLedger(drafts, sizes);
          const items = damaged ? flipEntry(base.items, pick % drafts.length) : base.items;
          const single = createVerifier({ origin: ORIGIN, trustedKeys: [VKEY] });
          const threaded = ThreadedVerifier.start({ origin: ORIGIN, trustedKeys: [VKEY], batchSize, maxInFlight: 1 });
          const step = (verifier: LedgerVerifier, item: Item, probe: boolean): unknown => {
            try {
              if (item.kind === 'entry') verifier.entry(item.seq, item.bytes);
              else verifier.checkpoint(item.note);
              return probe ? verifier.size : null;
            } catch (err) {
              return { failed: report({ failed: err }) };
            }
          };
          const failed = (answer: unknown): boolean => answer !== null && typeof answer === 'object';
          for (const [i, item] of items.entries()) {
            const probe = probes[i % probes.length] === true;
            const mine = step(single, item, probe);
            const theirs = step(threaded, item, probe);
            // the threaded verifier may fail later than one thread, never with another report
            if (failed(mine) || failed(theirs)) {
              const rest = failed(theirs) ? theirs : { failed: report(feed(threaded, items.slice(i + 1)).outcome) };
              expect(rest).toEqual(failed(mine) ? mine : { failed: report(feed(single, items.slice(i + 1)).outcome) });
              return;
            }
            expect(theirs).toBe(mine);
          }
          expect(report(feed(threaded, []).outcome)).toEqual(report(feed(single, []).outcome));
        },
      ),
      { numRuns: 40, endOnFailure: true },
    );
  });

  it('names a malformed export line as one thread does', () => {
    // the export verifier names such a line by the verifier's size: entries before it may be damaged too
    const text = new TextEncoder();
    const line = (it: Item): Uint8Array => {
      const bytes = it.kind === 'entry' ? exportEntryLine(it.bytes) : text.encode(exportCheckpointLine(it.note));
      return bytes.subarray(0, bytes.length - 1);
    };
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.constantFrom(null, 'flip', 'drop'), fc.integer({ min: 1, max: 9 }), fc.boolean(), (at, pick, damage, batchSize, header) => {
        const seq = pick % 300;
        const items = damage === 'flip' ? flipEntry(ledger.items, seq) : damage === 'drop' ? ledger.items.filter((it) => it.kind !== 'entry' || it.seq !== seq) : ledger.items;
        const lines = [text.encode(exportHeaderLine(ORIGIN).trimEnd()), ...items.map(line)];
        const cut = 1 + (at % (lines.length - 1));
        // a second header, or a checkpoint line that is not JSON: the export verifier's own failures
        lines.splice(cut, 0, header ? (lines[0] as Uint8Array) : text.encode('{"checkpoint":"cut off'));
        const run = (threads: 1 | 2): unknown => {
          const started: { verifier: ThreadedVerifier | null } = { verifier: null };
          const make = (options: VerifierOptions): LedgerVerifier => (started.verifier = ThreadedVerifier.start({ ...options, batchSize, maxInFlight: 1 }));
          const verifier = createExportVerifier({ trustedKeys: [VKEY], ...(threads === 2 ? { createVerifier: make } : {}) });
          try {
            for (const l of lines) verifier.line(l);
            return report({ ok: verifier.finish() });
          } catch (err) {
            // as the CLI does: a failure found earlier in the stream wins
            return report({ failed: started.verifier === null ? err : started.verifier.firstFailure(err) });
          } finally {
            void started.verifier?.close();
          }
        };
        const single = run(1);
        expect(single).toMatchObject({ code: 'LEDGER_VERIFY_FAILED' });
        expect(run(2)).toEqual(single);
      }),
      { numRuns: 30, endOnFailure: true },
    );
  });

  it('judges checkpoints with the key in force where each falls in a batch', () => {
    // any damage to a random ledger, any batch shape: the same report as one thread
    fc.assert(
      fc.property(
        fc.array(draftArb, { minLength: 2, maxLength: 30 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.nat(),
        fc.boolean(),
        (drafts, batchSize, maxInFlight, pick, forge) => {
          const sizes = drafts.map((_, i) => i + 1).filter((n) => n % 3 === 0 || n === drafts.length);
          const base = buildLedger(drafts, sizes);
          const items = forge ? forgeCheckpoint(base, sizes[pick % sizes.length] as number) : flipEntry(base.items, pick % drafts.length);
          const single = feed(createVerifier({ origin: ORIGIN, trustedKeys: [VKEY] }), items);
          const threaded = feed(ThreadedVerifier.start({ origin: ORIGIN, trustedKeys: [VKEY], batchSize, maxInFlight }), items);
          expect('failed' in single.outcome).toBe(true);
          expect(report(threaded.outcome)).toEqual(report(single.outcome));
        },
      ),
      { numRuns: 30, endOnFailure: true },
    );
  });
});
