import { verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { codeOf } from './code-of.contract.js';
import { checkpointText, parseCheckpoint, parseCheckpointText, signCheckpoint, verifyCheckpoint } from './checkpoint.js';
import {
  ed25519PrivateKeyFromSeed,
  ed25519Signer,
  formatVerifierKey,
  newEd25519KeyPair,
  noteKeyId,
  parseVerifierKey,
  signerVerifierKey,
  type Signer,
} from './key.js';
import { openNote, parseNote, signNote } from './note.js';

// golang.org/x/mod/sumdb/note's example key and note (note.go package documentation).
const GO_SKEY_SEED = Buffer.from('AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz', 'base64').subarray(1);
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE =
  `${GO_TEXT}\n` +
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';

// The example of c2sp.org/tlog-checkpoint.
const SPEC_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
const SPEC_NOTE =
  `${SPEC_BODY}\n` +
  '— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n';

const goSigner = (): Signer => ed25519Signer('PeterNeumann', ed25519PrivateKeyFromSeed(GO_SKEY_SEED));
const freshSigner = (name = 'countersign.example/ledger'): Signer => ed25519Signer(name, newEd25519KeyPair().privateKey);

describe('signed notes (c2sp.org/signed-note)', () => {
  it('reproduces the Go sumdb/note example byte for byte', () => {
    const signer = goSigner();
    expect(signerVerifierKey(signer).text).toBe(GO_VKEY);
    expect(noteKeyId('PeterNeumann', signer.publicKey)).toBe('c74f20a3');
    expect(signNote(GO_TEXT, [signer])).toBe(GO_NOTE);
  });

  it('opens the Go example with only the verifier key', () => {
    const opened = openNote(GO_NOTE, [parseVerifierKey(GO_VKEY)]);
    expect(opened.text).toBe(GO_TEXT);
    expect(opened.signedBy.keyId).toBe('c74f20a3');
    expect(codeOf(() => openNote(GO_NOTE.replace('cryptography', 'cryptographY'), [parseVerifierKey(GO_VKEY)]))).toBe('BAD_SIGNATURE');
  });

  it('ignores unknown signatures but rejects a known key whose signature fails', () => {
    const other = freshSigner('other.example');
    const both = signNote(GO_TEXT, [other, goSigner()]);
    expect(openNote(both, [parseVerifierKey(GO_VKEY)]).signedBy.name).toBe('PeterNeumann');
    expect(codeOf(() => openNote(both, [signerVerifierKey(freshSigner('third.example'))]))).toBe('BAD_SIGNATURE');
    // Same name and key ID as a trusted key, wrong signature: the whole note is rejected.
    const forged = GO_NOTE.replace('x08go/ZJ', 'x08go/ZK');
    expect(codeOf(() => openNote(forged, [parseVerifierKey(GO_VKEY)]))).toBe('BAD_SIGNATURE');
  });

  it.each([
    ['no signature block', GO_TEXT],
    ['no em dash', `${GO_TEXT}\n- PeterNeumann AAAAAAA=\n`],
    ['non-canonical base64', `${GO_TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAN=\n`],
    ['a control character', `If\tyou\n\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`],
    ['no final newline', GO_NOTE.slice(0, -1)],
  ])('refuses a note with %s as CHECKPOINT_INVALID', (_label, note) => {
    expect(codeOf(() => parseNote(note))).toBe('CHECKPOINT_INVALID');
  });
});

describe('verifier keys', () => {
  it('round-trip and refuse mangled keys', () => {
    const key = parseVerifierKey(GO_VKEY);
    expect(formatVerifierKey(key)).toBe(GO_VKEY);
    for (let i = 0; i < GO_VKEY.length; i += 1) {
      const c = GO_VKEY[i] as string;
      const mangled = GO_VKEY.slice(0, i) + (c === 'A' ? 'B' : 'A') + GO_VKEY.slice(i + 1);
      expect(codeOf(() => parseVerifierKey(mangled)), mangled).toBe('KEY_INVALID');
    }
    expect(codeOf(() => parseVerifierKey('PeterNeumann+c74f20a3'))).toBe('KEY_INVALID');
    expect(codeOf(() => parseVerifierKey(GO_VKEY.replace('+c74f20a3+', '+c74f20a4+')))).toBe('KEY_INVALID');
  });

  it('refuses key names with spaces or plus signs', () => {
    expect(codeOf(() => freshSigner('has space'))).toBe('KEY_INVALID');
    expect(codeOf(() => freshSigner('a+b'))).toBe('KEY_INVALID');
    expect(codeOf(() => freshSigner(''))).toBe('KEY_INVALID');
  });
});

describe('checkpoints (c2sp.org/tlog-checkpoint)', () => {
  const root = new Uint8Array(Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64'));

  it('writes the note text exactly as the spec example', () => {
    expect(checkpointText({ origin: 'example.com/behind-the-sofa', treeSize: 20852163, rootHash: root })).toBe(SPEC_BODY);
    expect(checkpointText({ origin: 'o', treeSize: 0, rootHash: root, extensions: ['ext one'] })).toBe(
      'o\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next one\n',
    );
  });

  it('parses the spec example and refuses it for want of a trusted key', () => {
    const parsed = parseCheckpoint(SPEC_NOTE);
    expect(parsed).toMatchObject({ origin: 'example.com/behind-the-sofa', treeSize: 20852163, extensions: [] });
    expect(Buffer.from(parsed.rootHash).equals(Buffer.from(root))).toBe(true);
    expect(parsed.signatures).toHaveLength(1);
    expect(parsed.signatures[0]?.keyId).toBe(Buffer.from('Az3grlgt', 'base64').subarray(0, 4).toString('hex'));
    expect(codeOf(() => verifyCheckpoint(SPEC_NOTE, [signerVerifierKey(freshSigner())]))).toBe('BAD_SIGNATURE');
  });

  it('signs: body, blank line, em dash, key name, base64(key id || ed25519 signature)', () => {
    const signer = goSigner();
    const note = signCheckpoint({ origin: 'PeterNeumann', treeSize: 7, rootHash: root }, signer);
    const body = 'PeterNeumann\n7\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';
    expect(note.startsWith(`${body}\n\u2014 PeterNeumann `)).toBe(true);
    expect(note.endsWith('\n')).toBe(true);
    const blob = Buffer.from(note.slice(body.length + 1 + '\u2014 PeterNeumann '.length, -1), 'base64');
    expect(blob).toHaveLength(68);
    expect(blob.subarray(0, 4).toString('hex')).toBe('c74f20a3');
    const pub = parseVerifierKey(GO_VKEY);
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub.publicKey]);
    expect(verify(null, Buffer.from(body), { key: spki, format: 'der', type: 'spki' }, blob.subarray(4))).toBe(true);
    // Ed25519 is deterministic (RFC 8032): the same checkpoint signs to the same note.
    expect(signCheckpoint({ origin: 'PeterNeumann', treeSize: 7, rootHash: root }, signer)).toBe(note);
  });

  it('verifies with the public key alone and reports the key id', () => {
    const signer = freshSigner();
    const note = signCheckpoint({ origin: signer.name, treeSize: 42, rootHash: root }, signer);
    const vkey = signerVerifierKey(signer);
    const verified = verifyCheckpoint(note, [vkey.text], { origin: signer.name });
    expect(verified).toMatchObject({ origin: signer.name, treeSize: 42, keyName: signer.name, keyId: vkey.keyId });
    expect(codeOf(() => verifyCheckpoint(note, [vkey], { origin: 'elsewhere' }))).toBe('CHECKPOINT_INVALID');
    expect(codeOf(() => verifyCheckpoint(note.replace('\n42\n', '\n43\n'), [vkey]))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => verifyCheckpoint(note, [signerVerifierKey(freshSigner())]))).toBe('BAD_SIGNATURE');
  });

  it('verifies the example of docs/ledger-format.md with its vkey', () => {
    const note =
      'countersign.example/ledger\n4096\nlWabN2vE41RNoJgl5ZriAqNawPxeWAmiymPYHonRfWw=\n\n' +
      '\u2014 countersign.example/ledger 5ve6H2n8dzG222pmnCaZUu9oEDev0ZzTXrWhLbL2Ou26kwvJ1Vp4nrCZCra4uyQwUtC3F9rmxcSt/0xnfpa1i1LWxgw=\n';
    const vkey = 'countersign.example/ledger+e6f7ba1f+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
    expect(verifyCheckpoint(note, [vkey], { origin: 'countersign.example/ledger' })).toMatchObject({ treeSize: 4096, keyId: 'e6f7ba1f' });
  });

  it.each([
    ['a leading zero', 'o\n07\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'],
    ['a negative size', 'o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'],
    ['a short root', 'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2=\n'],
    ['two lines', 'o\n1\n'],
    ['an empty origin', '\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'],
  ])('refuses a checkpoint with %s', (_label, body) => {
    const signer = freshSigner('o');
    const note = signNote(body, [signer]);
    expect(codeOf(() => verifyCheckpoint(note, [signerVerifierKey(signer)]))).toBe('CHECKPOINT_INVALID');
  });

  it.each([
    ['an empty origin', { origin: '' }],
    ['an origin that is not text', { origin: 7 as unknown as string }],
    ['an origin over two lines', { origin: 'o\nx' }],
    ['a negative tree size', { treeSize: -1 }],
    ['a fractional tree size', { treeSize: 1.5 }],
    ['a root of 31 bytes', { rootHash: new Uint8Array(31) }],
    ['a root that is not bytes', { rootHash: 'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=' as unknown as Uint8Array }],
    ['an empty extension line', { extensions: [''] }],
    ['an extension line over two lines', { extensions: ['a\nb'] }],
  ])('writes no note text for %s', (_label, over) => {
    expect(codeOf(() => checkpointText({ origin: 'o', treeSize: 1, rootHash: root, ...over }))).toBe('CHECKPOINT_INVALID');
  });

  it.each([
    ['a root of 31 bytes in standard base64', `o\n1\n${Buffer.alloc(31).toString('base64')}\n`],
    ['a root without its padding', 'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n'],
    ['a root whose padding bits are set', 'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n'],
    ['an empty extension line', 'o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n'],
  ])('parses no checkpoint from %s', (_label, text) => {
    expect(codeOf(() => parseCheckpointText(text))).toBe('CHECKPOINT_INVALID');
  });

  it('parses extension lines as given', () => {
    expect(parseCheckpointText('o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next one\n').extensions).toEqual(['ext one']);
  });

  it('verifies a checkpoint of any origin when no origin is asked for', () => {
    const signer = freshSigner();
    const note = signCheckpoint({ origin: signer.name, treeSize: 3, rootHash: root }, signer);
    expect(verifyCheckpoint(note, [signerVerifierKey(signer)])).toMatchObject({ origin: signer.name, treeSize: 3 });
  });
});
