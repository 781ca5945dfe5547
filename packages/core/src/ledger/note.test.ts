import { describe, expect, it } from 'vitest';
import { codeOf, errorOf } from './code-of.contract.js';
import { ed25519PrivateKeyFromSeed, ed25519Signer, newEd25519KeyPair, signerVerifierKey, type Signer } from './key.js';
import { MAX_NOTE_SIGNATURES, openNote, parseNote, signNote } from './note.js';

// c2sp.org/signed-note: what a note may hold, and which signatures count.

const TEXT = 'countersign.test/note\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const seeded = (name: string, byte: number): Signer => ed25519Signer(name, ed25519PrivateKeyFromSeed(new Uint8Array(32).fill(byte)));
const line = (name: string, blob: Buffer): string => `\u2014 ${name} ${blob.toString('base64')}\n`;

describe('signNote', () => {
  it.each([
    ['empty text', ''],
    ['text without a final newline', 'a\nb'],
    ['text with a tab', 'a\tb\n'],
    ['text with a lone surrogate', 'a\ud800b\n'],
    ['text that is not a string', 7 as unknown as string],
  ])('refuses %s as CHECKPOINT_INVALID', (_label, text) => {
    expect(codeOf(() => signNote(text, [seeded('o', 1)]))).toBe('CHECKPOINT_INVALID');
  });

  it('refuses to sign with no signer', () => {
    expect(codeOf(() => signNote(TEXT, []))).toBe('CHECKPOINT_INVALID');
  });
});

describe('parseNote', () => {
  const keyIdAndSig = Buffer.alloc(68, 7);

  it('refuses a note that is not text', () => {
    expect(codeOf(() => parseNote(7 as unknown as string))).toBe('CHECKPOINT_INVALID');
  });

  it.each([
    ['a key name with a control character', `${TEXT}\n${line('o\u0001x', keyIdAndSig)}`],
    ['a key name with a lone surrogate', `${TEXT}\n${line('o\udc00x', keyIdAndSig)}`],
    ['an empty key name', `${TEXT}\n${line('', keyIdAndSig)}`],
    ['a key name with a plus sign', `${TEXT}\n${line('o+x', keyIdAndSig)}`],
    ['no space after the key name', `${TEXT}\n\u2014 o${keyIdAndSig.toString('base64')}\n`],
    ['a signature of 4 bytes, a key id alone', `${TEXT}\n${line('o', Buffer.alloc(4, 7))}`],
    ['a last line that does not end in a newline', `${TEXT}\n${line('o', keyIdAndSig).slice(0, -1)}x`],
  ])('refuses %s as CHECKPOINT_INVALID', (_label, note) => {
    expect(codeOf(() => parseNote(note))).toBe('CHECKPOINT_INVALID');
  });

  it('reads a note whose text is a single newline', () => {
    expect(parseNote(`\n\n${line('o', keyIdAndSig)}`).text).toBe('\n');
  });

  it('reads a signature of 5 bytes: a key id and one byte', () => {
    const parsed = parseNote(`${TEXT}\n${line('o', Buffer.from([1, 2, 3, 4, 5]))}`);
    expect(parsed.text).toBe(TEXT);
    expect(parsed.signatures).toEqual([{ name: 'o', keyId: '01020304', signature: Uint8Array.of(5) }]);
  });

  it(`reads ${MAX_NOTE_SIGNATURES} signatures and refuses one more`, () => {
    const block = (n: number): string => Array.from({ length: n }, (_, i) => line(`k${i}`, keyIdAndSig)).join('');
    expect(parseNote(`${TEXT}\n${block(MAX_NOTE_SIGNATURES)}`).signatures).toHaveLength(MAX_NOTE_SIGNATURES);
    expect(codeOf(() => parseNote(`${TEXT}\n${block(MAX_NOTE_SIGNATURES + 1)}`))).toBe('CHECKPOINT_INVALID');
  });
});

describe('openNote', () => {
  it('ignores a signature under a trusted key name with another key id', () => {
    const trusted = seeded('countersign.test/note', 1);
    const sameName = ed25519Signer('countersign.test/note', newEd25519KeyPair().privateKey);
    const note = signNote(TEXT, [sameName, trusted]);
    const opened = openNote(note, [signerVerifierKey(trusted)]);
    expect(opened.signedBy.keyId).toBe(signerVerifierKey(trusted).keyId);
    expect(opened.signatures).toHaveLength(2);
  });

  it('does not count a trusted key\'s signature copied under another key name', () => {
    const trusted = seeded('countersign.test/note', 1);
    const note = signNote(TEXT, [trusted]).replace('\u2014 countersign.test/note ', '\u2014 renamed.example ');
    expect(parseNote(note).signatures[0]?.name).toBe('renamed.example');
    expect(codeOf(() => openNote(note, [signerVerifierKey(trusted)]))).toBe('BAD_SIGNATURE');
  });

  it('names the first trusted key that signed, and rejects the note when a later trusted signature fails', () => {
    const a = seeded('a.example', 1);
    const b = seeded('b.example', 2);
    const keys = [signerVerifierKey(b), signerVerifierKey(a)];
    expect(openNote(signNote(TEXT, [a, b]), keys).signedBy.name).toBe('a.example');
    const forged = signNote(TEXT, [a]) + line('b.example', Buffer.concat([Buffer.from(signerVerifierKey(b).keyId, 'hex'), Buffer.alloc(64)]));
    const err = errorOf(() => openNote(forged, keys));
    expect(err.code).toBe('BAD_SIGNATURE');
    expect(err.details).toEqual({ key_id: signerVerifierKey(b).keyId });
  });
});
