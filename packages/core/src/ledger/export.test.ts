import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signCheckpoint } from './checkpoint.js';
import { sealEntry, type SealedEntry } from './entry.js';
import {
  classifyExportLine,
  createExportVerifier,
  exportCheckpointLine,
  exportEntryLine,
  exportHeaderLine,
  LineSplitter,
} from './export.js';
import { ed25519Signer, newEd25519KeyPair, signerVerifierKey } from './key.js';
import { merkleRoot } from './merkle.js';
import { createVerifier } from './verify.js';
import { codeOf, errorOf } from './code-of.contract.js';
import { failureOf } from './verify.contract.js';

const ORIGIN = 'countersign.test/export';
const SIGNER = ed25519Signer(ORIGIN, newEd25519KeyPair().privateKey);
const VKEY = signerVerifierKey(SIGNER).text;
const N = 12;
const CHECKPOINT_EVERY = 4;

function ledgerEntries(): SealedEntry[] {
  const entries: SealedEntry[] = [];
  for (let i = 0; i < N; i += 1) {
    const draft = {
      at: `2025-01-01T00:00:${String(i).padStart(2, '0')}.000Z`,
      type: 'proposal.decided',
      actor: `agent-${i}`,
      surface: 'copilot-console',
      bundle_id: null,
      subjects: { proposal: `p-${i}` },
      // A control character, a quote and non-ASCII text: none may break the one-line form.
      payload: { note: `line one\nline "two" \u00e9 ${i}`, n: i },
    };
    entries.push(sealEntry(draft, i, entries.at(-1)?.hash ?? null));
  }
  return entries;
}

/** The export as bytes, and the byte range of each entry line. */
function exportFile(): { file: Buffer; ranges: [number, number][] } {
  const entries = ledgerEntries();
  const parts: Buffer[] = [Buffer.from(exportHeaderLine(ORIGIN))];
  const ranges: [number, number][] = [];
  let offset = parts[0]?.length ?? 0;
  for (const e of entries) {
    const line = Buffer.from(exportEntryLine(e.bytes));
    ranges.push([offset, offset + e.bytes.length]);
    parts.push(line);
    offset += line.length;
    const size = e.seq + 1;
    if (size % CHECKPOINT_EVERY === 0 || size === N) {
      const rootHash = merkleRoot(entries.slice(0, size).map((x) => x.hash));
      const line = Buffer.from(exportCheckpointLine(signCheckpoint({ origin: ORIGIN, treeSize: size, rootHash }, SIGNER)));
      parts.push(line);
      offset += line.length;
    }
  }
  return { file: Buffer.concat(parts), ranges };
}

/** Feed the file in chunks cut at `cuts`, as a stream reader would. */
function verifyFile(file: Uint8Array, cuts: readonly number[] = [], origin?: string): ReturnType<ReturnType<typeof createExportVerifier>['finish']> {
  const verifier = createExportVerifier(origin === undefined ? { trustedKeys: [VKEY] } : { trustedKeys: [VKEY], origin });
  const splitter = new LineSplitter();
  const bounds = [0, ...[...cuts].sort((a, b) => a - b), file.length];
  for (let i = 1; i < bounds.length; i += 1) {
    for (const line of splitter.push(file.subarray(bounds[i - 1], bounds[i]))) verifier.line(line);
  }
  for (const line of splitter.end()) verifier.line(line);
  return verifier.finish();
}

describe('ledger export (JSON Lines)', () => {
  it('writes each entry line as its exact stored bytes and checkpoints as escaped notes', () => {
    const [entry] = ledgerEntries() as [SealedEntry];
    const line = exportEntryLine(entry.bytes);
    expect(Buffer.from(line.subarray(0, -1)).equals(Buffer.from(entry.bytes))).toBe(true);
    expect(line.at(-1)).toBe(0x0a);
    expect(exportHeaderLine('o')).toBe('{"countersign_ledger":1,"origin":"o"}\n');
    expect(exportCheckpointLine('o\n1\nAA==\n\n\u2014 o AAAA\n')).toBe('{"checkpoint":"o\\n1\\nAA==\\n\\n\u2014 o AAAA\\n"}\n');
  });

  it('classifies lines without parsing entries', () => {
    expect(classifyExportLine(Buffer.from('{"countersign_ledger":1,"origin":"x"}'))).toEqual({ kind: 'header', origin: 'x' });
    expect(classifyExportLine(Buffer.from('{"checkpoint":"a\\n"}'))).toEqual({ kind: 'checkpoint', note: 'a\n' });
    expect(classifyExportLine(Buffer.from('not json at all')).kind).toBe('entry');
    expect(classifyExportLine(new Uint8Array(0)).kind).toBe('blank');
    expect(codeOf(() => classifyExportLine(Buffer.from('{"checkpoint":')))).toBe('CHECKPOINT_INVALID');
    expect(errorOf(() => classifyExportLine(Buffer.from('{"countersign_ledger":2,"origin":"x"}'))).message).toMatch(/version 1/);
  });

  it('verifies offline with the public key alone, however the stream is chunked', () => {
    const { file } = exportFile();
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: file.length }), { maxLength: 20 }), (cuts) => {
        const result = verifyFile(file, cuts);
        expect(result).toMatchObject({ size: N, checkpoints: Math.ceil(N / CHECKPOINT_EVERY), checkpointedSize: N, origin: ORIGIN });
      }),
      { numRuns: 50 },
    );
  });

  it('names the entry whose line had any byte changed, newlines included', () => {
    const { file, ranges } = exportFile();
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), (pick, at, mask) => {
        const seq = pick % N;
        const [start, end] = ranges[seq] as [number, number];
        const tampered = Buffer.from(file);
        const i = start + (at % (end - start));
        tampered[i] = (tampered[i] as number) ^ mask;
        const failure = failureOf(() => verifyFile(tampered));
        expect(failure.seq).toBe(seq);
        // A new newline breaks the line in two; the stray half may be what is reported.
        const kinds = tampered[i] === 0x0a ? ['hash_mismatch', 'root_mismatch', 'malformed'] : ['hash_mismatch', 'root_mismatch'];
        expect(kinds).toContain(failure.kind);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses an export of another origin than the one asked for', () => {
    const { file } = exportFile();
    expect(failureOf(() => verifyFile(file, [], 'elsewhere'))).toMatchObject({ seq: 0, kind: 'malformed', line: 1 });
    expect(verifyFile(file, [], ORIGIN)).toMatchObject({ size: N, origin: ORIGIN });
  });

  it('reports a truncated file only against the expected size', () => {
    const { file, ranges } = exportFile();
    const cut = file.subarray(0, (ranges[5] as [number, number])[0]);
    const verifier = createExportVerifier({ trustedKeys: [VKEY] });
    const splitter = new LineSplitter();
    for (const line of [...splitter.push(cut), ...splitter.end()]) verifier.line(line);
    expect(failureOf(() => verifier.finish({ expectedSize: N }))).toMatchObject({ seq: 5, kind: 'truncation' });
  });

  it('splits lines exactly, keeping bytes that are not valid UTF-8', () => {
    const splitter = new LineSplitter();
    const lines = [...splitter.push(Uint8Array.from([0xff, 0x0a, 0x61])), ...splitter.push(Uint8Array.from([0x62, 0x0a])), ...splitter.end()];
    expect(lines.map((l) => Buffer.from(l).toString('hex'))).toEqual(['ff', '6162']);
    expect(splitter.end()).toEqual([]);
  });

  it('splits a chunk that starts with newlines, and ends with a line that has none', () => {
    const splitter = new LineSplitter();
    const hex = (ls: Uint8Array[]): string[] => ls.map((l) => Buffer.from(l).toString('hex'));
    expect(hex(splitter.push(Buffer.from('\n\na')))).toEqual(['', '']);
    expect(hex(splitter.push(Buffer.from('\nb\nc')))).toEqual(['61', '62']);
    expect(hex(splitter.end())).toEqual(['63']);
  });
});

describe('export lines and the export verifier, edge by edge', () => {
  const lines = (file: Uint8Array): Uint8Array[] => {
    const splitter = new LineSplitter();
    return [...splitter.push(file), ...splitter.end()];
  };
  it('refuses to write an entry holding a raw newline as one line', () => {
    expect(codeOf(() => exportEntryLine(Buffer.from('{"a":"b\nc"}')))).toBe('LEDGER_ENTRY_INVALID');
  });

  it.each([
    ['a header without an origin', '{"countersign_ledger":1}'],
    ['a header whose origin is not text', '{"countersign_ledger":1,"origin":7}'],
    ['a checkpoint that is not text', '{"checkpoint":7}'],
    ['a checkpoint line that is not UTF-8', Buffer.concat([Buffer.from('{"checkpoint":"a'), Buffer.from([0xff]), Buffer.from('\\n"}')])],
  ])('refuses %s as CHECKPOINT_INVALID', (_label, line) => {
    expect(codeOf(() => classifyExportLine(Buffer.from(line)))).toBe('CHECKPOINT_INVALID');
  });

  it('needs at least one trusted key', () => {
    expect(codeOf(() => createExportVerifier({ trustedKeys: [] }))).toBe('KEY_INVALID');
  });

  it('verifies an export without a header under the first trusted key name, and counts entries as they come', () => {
    const { file } = exportFile();
    const verifier = createExportVerifier({ trustedKeys: [VKEY] });
    expect(verifier.size).toBe(0);
    const [, ...rest] = lines(file);
    for (const line of rest.slice(0, 3)) verifier.line(line);
    expect(verifier.size).toBe(3);
    for (const line of rest.slice(3)) verifier.line(line);
    expect(verifier.finish()).toMatchObject({ size: N, checkpointedSize: N, origin: ORIGIN });
  });

  it('skips blank lines anywhere', () => {
    const all = lines(exportFile().file);
    const verifier = createExportVerifier({ trustedKeys: [VKEY] });
    verifier.line(new Uint8Array(0));
    for (const line of all) {
      verifier.line(line);
      verifier.line(new Uint8Array(0));
    }
    expect(verifier.finish()).toMatchObject({ size: N, checkpoints: Math.ceil(N / CHECKPOINT_EVERY), origin: ORIGIN });
  });

  it('names the line and the position of a malformed line, before and after the first entry', () => {
    const first = createExportVerifier({ trustedKeys: [VKEY] });
    expect(failureOf(() => first.line(Buffer.from('{"checkpoint":7}')))).toMatchObject({ kind: 'malformed', seq: 0, line: 1 });

    const all = lines(exportFile().file);
    const later = createExportVerifier({ trustedKeys: [VKEY] });
    for (const line of all.slice(0, 4)) later.line(line);
    expect(failureOf(() => later.line(Buffer.from('{"countersign_ledger":1}')))).toMatchObject({ kind: 'malformed', seq: 3, line: 5 });
  });

  it('refuses a second header, even of the same origin', () => {
    const all = lines(exportFile().file);
    const verifier = createExportVerifier({ trustedKeys: [VKEY] });
    for (const line of all.slice(0, 3)) verifier.line(line);
    expect(failureOf(() => verifier.line(all[0] as Uint8Array))).toMatchObject({ kind: 'malformed', seq: 2, line: 4 });
  });

  it('hands the lines to the verifier it is given', () => {
    const sizes: number[] = [];
    const verifier = createExportVerifier({
      trustedKeys: [VKEY],
      createVerifier: (options) => {
        const inner = createVerifier(options);
        return {
          get size() {
            return inner.size;
          },
          entry(seq, bytes) {
            sizes.push(inner.size);
            inner.entry(seq, bytes);
          },
          checkpoint: (note) => inner.checkpoint(note),
          finish: (finishOptions) => inner.finish(finishOptions),
        };
      },
    });
    for (const line of lines(exportFile().file)) verifier.line(line);
    expect(verifier.finish()).toMatchObject({ size: N });
    expect(sizes).toEqual(Array.from({ length: N }, (_, i) => i));
  });
});
