import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CanonicalValue } from '../canonical.js';
import { CountersignError } from '../errors.js';
import { signCheckpoint } from './checkpoint.js';
import { expectWellFormedMessage } from './code-of.contract.js';
import { sealEntry, type EntryDraft, type SealedEntry } from './entry.js';
import { ed25519Signer, newEd25519KeyPair, signerVerifierKey, type Signer } from './key.js';
import { merkleRoot } from './merkle.js';
import { KEY_ROTATED, signKeyRotation } from './rotation.js';
import type { LedgerVerifier, VerifierOptions, VerifyFailureKind, VerifyResult } from './verify.js';

/**
 * What every ledger verifier must do, run against `createVerifier` here and
 * against the gateway's two-thread verifier there: the same damaged ledgers,
 * the same reports.
 */

export interface VerifierContractOptions {
  /** Which verifier: the suites' title. */
  readonly name: string;
  readonly make: (options: VerifierOptions) => LedgerVerifier;
  /** Fraction of the usual property runs (a verifier that starts a thread per run is slower). */
  readonly scale?: number;
}

export const ORIGIN = 'countersign.test/ledger';
export const SIGNER = ed25519Signer(ORIGIN, newEd25519KeyPair().privateKey);
export const INTRUDER = ed25519Signer(ORIGIN, newEd25519KeyPair().privateKey);
export const VKEY = signerVerifierKey(SIGNER).text;

export type Item = { readonly kind: 'entry'; readonly seq: number; readonly bytes: Uint8Array } | { readonly kind: 'checkpoint'; readonly treeSize: number; readonly note: string };

export interface Ledger {
  readonly entries: readonly SealedEntry[];
  /** Entries and checkpoints in export order: a checkpoint right after the entry at its tree size - 1. */
  readonly items: readonly Item[];
}

// --- arbitraries --------------------------------------------------------------

const asciiKey = fc.string({ unit: 'grapheme-ascii', maxLength: 8 });
const leafValue: fc.Arbitrary<CanonicalValue> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  // A nested look-alike of the top-level link fields: the verifier must not be fooled.
  fc.constant({ prev_hash: '0'.repeat(64), seq: 3 }),
);
const payloadValue: fc.Arbitrary<CanonicalValue> = fc.oneof(
  leafValue,
  fc.array(leafValue, { maxLength: 3 }),
  fc.dictionary(asciiKey, leafValue, { maxKeys: 3 }),
);
export const draftArb: fc.Arbitrary<EntryDraft> = fc.record({
  at: fc.integer({ min: 0, max: 4_000_000_000_000 }).map((ms) => new Date(ms).toISOString()),
  type: fc.constantFrom('proposal.decided', 'approval.recorded', 'grant.consumed', 'hold.opened', 'override.denied'),
  actor: fc.option(fc.string({ minLength: 1, maxLength: 10 }), { nil: null }),
  surface: fc.option(fc.constantFrom('copilot-console', 'approver-console', 'signed-cli', 'with "quote"'), { nil: null }),
  bundle_id: fc.option(fc.constant(`sha256:${'ab'.repeat(32)}`), { nil: null }),
  subjects: fc.dictionary(fc.constantFrom('proposal', 'step', 'grant', 'prev_hash', 'seq'), fc.string({ maxLength: 70 }), { maxKeys: 3 }),
  payload: fc.dictionary(asciiKey, payloadValue, { maxKeys: 4 }),
});

/** A ledger of 1..24 random entries, checkpoints at random sizes and always at the end. */
const ledgerArb = fc
  .array(draftArb, { minLength: 1, maxLength: 24 })
  .chain((drafts) =>
    fc.tuple(
      fc.constant(drafts),
      fc.uniqueArray(fc.integer({ min: 0, max: drafts.length }), { maxLength: Math.ceil(drafts.length / 3) }),
    ),
  )
  .map(([drafts, sizes]) => buildLedger(drafts, [...sizes, drafts.length]));

export function buildLedger(drafts: readonly EntryDraft[], checkpointSizes: readonly number[], signerAt: (size: number) => Signer = () => SIGNER): Ledger {
  const entries: SealedEntry[] = [];
  for (const draft of drafts) entries.push(sealEntry(draft, entries.length, entries.at(-1)?.hash ?? null));
  const sizes = new Set(checkpointSizes);
  const items: Item[] = [];
  const addCheckpoint = (treeSize: number): void => {
    if (!sizes.has(treeSize)) return;
    const rootHash = merkleRoot(entries.slice(0, treeSize).map((e) => e.hash));
    items.push({ kind: 'checkpoint', treeSize, note: signCheckpoint({ origin: ORIGIN, treeSize, rootHash }, signerAt(treeSize)) });
  };
  addCheckpoint(0);
  for (const e of entries) {
    items.push({ kind: 'entry', seq: e.seq, bytes: e.bytes });
    addCheckpoint(e.seq + 1);
  }
  return { entries, items };
}

// --- feeding ------------------------------------------------------------------

type Mode = 'export' | 'store';

/**
 * `export`: items in file order, no row numbers. `store`: checkpoints first (as a
 * store lists them), then entries with the row's sequence number.
 */
function run(
  make: VerifierContractOptions['make'],
  items: readonly Item[],
  mode: Mode,
  options: { expectedSize?: number; trustedKeys?: string[] } = {},
): VerifyResult {
  const verifier = make({ origin: ORIGIN, trustedKeys: options.trustedKeys ?? [VKEY] });
  const ordered = mode === 'export' ? items : [...items.filter((i) => i.kind === 'checkpoint'), ...items.filter((i) => i.kind === 'entry')];
  for (const item of ordered) {
    if (item.kind === 'checkpoint') verifier.checkpoint(item.note);
    else verifier.entry(mode === 'store' ? item.seq : null, item.bytes);
  }
  return verifier.finish(options.expectedSize === undefined ? {} : { expectedSize: options.expectedSize });
}

export function failureOf(f: () => unknown): { seq: number; kind: VerifyFailureKind } & Record<string, unknown> {
  try {
    f();
  } catch (err) {
    if (err instanceof CountersignError && err.code === 'LEDGER_VERIFY_FAILED') {
      expectWellFormedMessage(err);
      return err.details as { seq: number; kind: VerifyFailureKind };
    }
    throw err;
  }
  throw new Error('verification passed, a failure was expected');
}

const modeArb = fc.constantFrom<Mode>('export', 'store');
const entryPositions = (ledger: Ledger): number[] => ledger.items.flatMap((item, i) => (item.kind === 'entry' ? [i] : []));

// --- the contract ---------------------------------------------------------------

export function runVerifierContract({ name, make, scale = 1 }: VerifierContractOptions): void {
  // A scaled-down run is a slow verifier: a failure is reported as found, not shrunk run by run.
  const runs = (n: number): fc.Parameters<unknown> => ({ numRuns: Math.max(8, Math.round(n * scale)), endOnFailure: scale < 1 });
  const verify = (items: readonly Item[], mode: Mode, options: { expectedSize?: number; trustedKeys?: string[] } = {}): VerifyResult =>
    run(make, items, mode, options);

  describe(name, () => {
    it('passes every untampered ledger and recomputes its root', () => {
      fc.assert(
        fc.property(ledgerArb, modeArb, (ledger, mode) => {
          const result = verify(ledger.items, mode, { expectedSize: ledger.entries.length });
          const n = ledger.entries.length;
          expect(result.size).toBe(n);
          expect(result.checkpointedSize).toBe(n);
          expect(result.checkpoints).toBe(ledger.items.filter((i) => i.kind === 'checkpoint').length);
          expect(Buffer.from(result.rootHash).equals(Buffer.from(merkleRoot(ledger.entries.map((e) => e.hash))))).toBe(true);
          expect(Buffer.from(result.lastHash ?? []).equals(Buffer.from(ledger.entries.at(-1)?.hash ?? []))).toBe(true);
          expect(result.lastCheckpoint?.keyId).toBe(signerVerifierKey(SIGNER).keyId);
        }),
        runs(150),
      );
    });

    it('detects any flipped byte of any stored entry, naming that entry', () => {
      fc.assert(
        fc.property(ledgerArb, modeArb, fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (ledger, mode, pick, at, mask) => {
          const positions = entryPositions(ledger);
          const pos = positions[pick % positions.length] as number;
          const item = ledger.items[pos] as Item & { kind: 'entry' };
          const bytes = new Uint8Array(item.bytes);
          const i = at % bytes.length;
          bytes[i] = (bytes[i] as number) ^ mask;
          const items = ledger.items.map((it, j) => (j === pos ? { ...item, bytes } : it));
          const failure = failureOf(() => verify(items, mode));
          expect(failure.seq).toBe(item.seq);
          // Entry k is caught by entry k + 1's link; the last entry by the checkpoint that covers it.
          expect(failure.kind).toBe(item.seq === ledger.entries.length - 1 ? 'root_mismatch' : 'hash_mismatch');
        }),
        runs(400),
      );
    });

    it('refuses a prev_hash in upper-case hex although it names the right hash', () => {
      // the last entry, with no checkpoint over it: only the link itself can catch this
      const drafts = Array.from({ length: 3 }, (_, i): EntryDraft => ({
        at: '2026-05-15T09:16:00.000Z',
        type: 'proposal.decided',
        actor: null,
        surface: null,
        bundle_id: null,
        subjects: {},
        payload: { n: i },
      }));
      const ledger = buildLedger(drafts, []);
      const last = ledger.items.find((it) => it.kind === 'entry' && it.seq === 2) as Item & { kind: 'entry' };
      const prev = Buffer.from(ledger.entries[1]!.hash).toString('hex');
      expect(prev).toMatch(/[a-f]/);
      const text = Buffer.from(last.bytes).toString('utf8').replace(`"prev_hash":"${prev}"`, `"prev_hash":"${prev.toUpperCase()}"`);
      const items = ledger.items.map((it) => (it === last ? { ...last, bytes: new Uint8Array(Buffer.from(text, 'utf8')) } : it));
      expect(verify(ledger.items, 'export').size).toBe(3);
      for (const mode of ['export', 'store'] as const) {
        expect(failureOf(() => verify(items, mode))).toMatchObject({ seq: 2, kind: 'malformed' });
      }
    });

    it('detects a deleted entry as a gap, or as truncation when it was the last', () => {
      fc.assert(
        fc.property(ledgerArb, modeArb, fc.nat(), (ledger, mode, pick) => {
          const positions = entryPositions(ledger);
          const pos = positions[pick % positions.length] as number;
          const seq = (ledger.items[pos] as Item & { kind: 'entry' }).seq;
          const failure = failureOf(() => verify(ledger.items.filter((_, j) => j !== pos), mode));
          expect(failure.seq).toBe(seq);
          expect(failure.kind).toBe(seq === ledger.entries.length - 1 ? 'truncation' : 'gap');
        }),
        runs(200),
      );
    });

    it('detects a duplicated entry, naming the repeated sequence number', () => {
      fc.assert(
        fc.property(ledgerArb, fc.nat(), fc.nat(), (ledger, pick, later) => {
          const positions = entryPositions(ledger);
          const from = pick % positions.length;
          const pos = positions[from] as number;
          // Insert the copy right after the original or after any later entry.
          const after = positions[from + (later % (positions.length - from))] as number;
          const items = [...ledger.items.slice(0, after + 1), ledger.items[pos] as Item, ...ledger.items.slice(after + 1)];
          const failure = failureOf(() => verify(items, 'export'));
          expect(failure).toMatchObject({ seq: (ledger.items[pos] as Item & { kind: 'entry' }).seq, kind: 'duplicate' });
        }),
        runs(200),
      );
    });

    it('detects two reordered entries, naming the first place out of order', () => {
      fc.assert(
        fc.property(
          ledgerArb.filter((l) => l.entries.length >= 2),
          modeArb,
          fc.nat(),
          fc.nat(),
          (ledger, mode, a, b) => {
            const positions = entryPositions(ledger);
            const i = a % positions.length;
            let j = b % positions.length;
            if (j === i) j = (i + 1) % positions.length;
            const [p, q] = [positions[Math.min(i, j)] as number, positions[Math.max(i, j)] as number];
            const items = [...ledger.items];
            // In a store the row numbers stay where they are: only the bytes move.
            const swap = (x: Item & { kind: 'entry' }, y: Item & { kind: 'entry' }): Item => (mode === 'store' ? { ...x, bytes: y.bytes } : y);
            const ip = items[p] as Item & { kind: 'entry' };
            const iq = items[q] as Item & { kind: 'entry' };
            items[p] = swap(ip, iq);
            items[q] = swap(iq, ip);
            const failure = failureOf(() => verify(items, mode));
            expect(failure).toMatchObject({ seq: ip.seq, kind: 'out_of_order' });
          },
        ),
        runs(200),
      );
    });

    it('detects a truncated tail against the checkpoints or the expected size', () => {
      fc.assert(
        fc.property(ledgerArb, modeArb, fc.nat(), (ledger, mode, cut) => {
          const n = ledger.entries.length;
          const keep = cut % n;
          // A store truncated by deleting rows: its checkpoints are still there.
          const items = ledger.items.filter((i) => i.kind === 'checkpoint' || i.seq < keep);
          expect(failureOf(() => verify(items, mode))).toMatchObject({ seq: keep, kind: 'truncation', tree_size: expect.any(Number) });
          // An export cut short, checkpoints and all: only the expected size can tell.
          const prefix = ledger.items.filter((i) => (i.kind === 'entry' ? i.seq < keep : i.treeSize <= keep));
          expect(verify(prefix, mode).size).toBe(keep);
          expect(failureOf(() => verify(prefix, mode, { expectedSize: n }))).toMatchObject({ seq: keep, kind: 'truncation' });
        }),
        runs(150),
      );
    });

    it('detects a checkpoint replaced by one signed by another key', () => {
      fc.assert(
        fc.property(ledgerArb, modeArb, fc.nat(), fc.boolean(), (ledger, mode, pick, sameName) => {
          const cps = ledger.items.flatMap((item, i) => (item.kind === 'checkpoint' ? [i] : []));
          const pos = cps[pick % cps.length] as number;
          const cp = ledger.items[pos] as Item & { kind: 'checkpoint' };
          const intruder = sameName ? INTRUDER : ed25519Signer('intruder.example', newEd25519KeyPair().privateKey);
          const rootHash = merkleRoot(ledger.entries.slice(0, cp.treeSize).map((e) => e.hash));
          const forged = signCheckpoint({ origin: ORIGIN, treeSize: cp.treeSize, rootHash }, intruder);
          const items = ledger.items.map((it, j) => (j === pos ? { ...cp, note: forged } : it));
          expect(failureOf(() => verify(items, mode))).toMatchObject({
            seq: Math.max(0, cp.treeSize - 1),
            kind: 'bad_checkpoint_signature',
            tree_size: cp.treeSize,
          });
        }),
        runs(150),
      );
    });

    it('reports a validly signed checkpoint over another tree as a root mismatch', () => {
      const drafts = fc.sample(draftArb, { numRuns: 6, seed: 7 });
      const ledger = buildLedger(drafts, [3, 6]);
      const items = ledger.items.map((it) =>
        it.kind === 'checkpoint' && it.treeSize === 3
          ? { ...it, note: signCheckpoint({ origin: ORIGIN, treeSize: 3, rootHash: merkleRoot(ledger.entries.slice(0, 2).map((e) => e.hash)) }, SIGNER) }
          : it,
      );
      expect(failureOf(() => verify(items, 'export'))).toMatchObject({ seq: 2, kind: 'root_mismatch', tree_size: 3 });
    });

    it('names a sealed entry whose prev_hash is wrong as a broken chain when a checkpoint vouches for its predecessor', () => {
      const drafts = fc.sample(draftArb, { numRuns: 4, seed: 3 });
      const entries: SealedEntry[] = [];
      for (const d of drafts) entries.push(sealEntry(d, entries.length, entries.length === 2 ? new Uint8Array(32) : (entries.at(-1)?.hash ?? null)));
      const verifier = make({ origin: ORIGIN, trustedKeys: [VKEY] });
      entries.slice(0, 2).forEach((e) => verifier.entry(e.seq, e.bytes));
      verifier.checkpoint(signCheckpoint({ origin: ORIGIN, treeSize: 2, rootHash: merkleRoot(entries.slice(0, 2).map((e) => e.hash)) }, SIGNER));
      expect(
        failureOf(() => {
          entries.slice(2).forEach((e) => verifier.entry(e.seq, e.bytes));
          verifier.finish();
        }),
      ).toMatchObject({ seq: 2, kind: 'broken_chain' });
    });

    it('refuses a first entry that does not start from the genesis hash', () => {
      const [draft] = fc.sample(draftArb, { numRuns: 1, seed: 1 });
      const entry = sealEntry(draft as EntryDraft, 0, new Uint8Array(32).fill(1));
      const verifier = make({ origin: ORIGIN, trustedKeys: [VKEY] });
      verifier.entry(0, entry.bytes);
      expect(failureOf(() => verifier.finish())).toMatchObject({ seq: 0, kind: 'broken_chain' });
    });

    it('reports bytes that are not an entry as malformed', () => {
      const verifier = make({ origin: ORIGIN, trustedKeys: [VKEY] });
      verifier.entry(0, new TextEncoder().encode('not json'));
      expect(failureOf(() => verifier.finish())).toMatchObject({ seq: 0, kind: 'malformed' });
    });

    it('reports a checkpoint that arrives after the ledger passed its size as out of order', () => {
      const ledger = buildLedger(fc.sample(draftArb, { numRuns: 5, seed: 5 }), [2]);
      const cp = ledger.items.find((i) => i.kind === 'checkpoint') as Item & { kind: 'checkpoint' };
      const items = [...ledger.items.filter((i) => i.kind === 'entry'), cp];
      expect(failureOf(() => verify(items, 'export'))).toMatchObject({ seq: 1, kind: 'out_of_order', tree_size: 2 });
    });

    it('refuses to run without a trusted key', () => {
      expect(() => make({ origin: ORIGIN, trustedKeys: [] })).toThrow(/at least one trusted key/);
    });
  });

  describe(`${name}: key rotation in the ledger`, () => {
    const NEW = ed25519Signer(ORIGIN, newEd25519KeyPair().privateKey);
    const NEW_VKEY = signerVerifierKey(NEW).text;
    const drafts = fc.sample(draftArb, { numRuns: 8, seed: 11 });

    /** Entries 0..3, `key.rotated` at seq 4 (payload from `rotation`), entries 5..7. */
    function rotatedLedger(rotation: (seq: number) => Record<string, CanonicalValue>, signerAt: (size: number) => Signer): Ledger {
      const all = drafts.map((d, i): EntryDraft => (i === 4 ? { ...d, type: KEY_ROTATED, payload: rotation(4) } : d));
      return buildLedger(all, [2, 4, 5, 8], signerAt);
    }
    const afterRotation = (size: number): Signer => (size > 4 ? NEW : SIGNER);

    it('switches to the new key at the rotation entry when the old key signed it', () => {
      const ledger = rotatedLedger((seq) => ({ ...signKeyRotation({ origin: ORIGIN, seq }, SIGNER, NEW_VKEY) }), afterRotation);
      for (const mode of ['export', 'store'] as const) {
        const result = verify(ledger.items, mode);
        expect(result.size).toBe(8);
        expect(result.keys).toEqual([NEW_VKEY]);
        expect(result.rotations).toEqual([{ seq: 4, newKey: NEW_VKEY }]);
      }
    });

    it('refuses a checkpoint the retired key signs after the rotation', () => {
      const ledger = rotatedLedger((seq) => ({ ...signKeyRotation({ origin: ORIGIN, seq }, SIGNER, NEW_VKEY) }), () => SIGNER);
      expect(failureOf(() => verify(ledger.items, 'export'))).toMatchObject({ seq: 4, kind: 'bad_checkpoint_signature', tree_size: 5 });
    });

    it('ignores a rotation the old key did not sign, so the new key cannot take over', () => {
      const forged = rotatedLedger((seq) => ({ ...signKeyRotation({ origin: ORIGIN, seq }, INTRUDER, NEW_VKEY) }), afterRotation);
      expect(failureOf(() => verify(forged.items, 'export'))).toMatchObject({ seq: 4, kind: 'bad_checkpoint_signature' });
      // A genuine rotation statement for another sequence number does not carry over either.
      const replayed = rotatedLedger(() => ({ ...signKeyRotation({ origin: ORIGIN, seq: 9 }, SIGNER, NEW_VKEY) }), afterRotation);
      const verifier = make({ origin: ORIGIN, trustedKeys: [VKEY] });
      expect(
        failureOf(() => {
          for (const item of replayed.items) {
            if (item.kind === 'entry') verifier.entry(null, item.bytes);
            else verifier.checkpoint(item.note);
          }
          verifier.finish();
        }),
      ).toMatchObject({ seq: 4, kind: 'bad_checkpoint_signature' });
    });

    it('accepts both keys up to the rotation when both are trusted, and only the new one after', () => {
      const ledger = rotatedLedger((seq) => ({ ...signKeyRotation({ origin: ORIGIN, seq }, SIGNER, NEW_VKEY) }), afterRotation);
      expect(verify(ledger.items, 'export', { trustedKeys: [VKEY, NEW_VKEY] }).keys).toEqual([NEW_VKEY]);
    });
  });
}
