import { createPrivateKey, createPublicKey, createSecretKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { codeOf } from './code-of.contract.js';
import {
  ed25519PrivateKeyFromSeed,
  ed25519Signer,
  noteKeyId,
  noteVerifierKey,
  parseVerifierKey,
  rawPublicKey,
  sameKey,
  toVerifierKeys,
} from './key.js';

// golang.org/x/mod/sumdb/note's example key (note.go package documentation).
const GO_SEED = new Uint8Array(Buffer.from('AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz', 'base64').subarray(1));
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_PUBLIC = Buffer.from('ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW', 'base64').subarray(1);

// An X25519 key from a fixed seed (RFC 8410 PKCS#8 prefix): a key of the wrong kind, made without key generation.
const x25519Key = () => createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), Buffer.alloc(32, 5)]), format: 'der', type: 'pkcs8' });

describe('Ed25519 keys', () => {
  it('derive the Go example public key from its seed, from the private or the public KeyObject', () => {
    const priv = ed25519PrivateKeyFromSeed(GO_SEED);
    expect(Buffer.from(rawPublicKey(priv)).equals(GO_PUBLIC)).toBe(true);
    expect(Buffer.from(rawPublicKey(createPublicKey(priv))).equals(GO_PUBLIC)).toBe(true);
    expect(Buffer.from(ed25519Signer('PeterNeumann', priv).publicKey).equals(GO_PUBLIC)).toBe(true);
  });

  it('refuse a seed that is not 32 bytes', () => {
    expect(codeOf(() => ed25519PrivateKeyFromSeed(new Uint8Array(31)))).toBe('KEY_INVALID');
  });

  it('refuse a key of another kind as a signer or a public key', () => {
    expect(codeOf(() => ed25519Signer('o', x25519Key()))).toBe('KEY_INVALID');
    expect(codeOf(() => ed25519Signer('o', createPublicKey(ed25519PrivateKeyFromSeed(GO_SEED))))).toBe('KEY_INVALID');
    expect(codeOf(() => ed25519Signer('o', createSecretKey(Buffer.alloc(32))))).toBe('KEY_INVALID');
    expect(codeOf(() => rawPublicKey(x25519Key()))).toBe('KEY_INVALID');
  });

  it('refuse a key name with a control character and a public key that is not 32 bytes', () => {
    expect(codeOf(() => noteKeyId('a\u0001b', GO_PUBLIC))).toBe('KEY_INVALID');
    expect(codeOf(() => noteKeyId('a\u007fb', GO_PUBLIC))).toBe('KEY_INVALID');
    expect(codeOf(() => noteKeyId(7 as unknown as string, GO_PUBLIC))).toBe('KEY_INVALID');
    expect(codeOf(() => noteKeyId('PeterNeumann', GO_PUBLIC.subarray(1)))).toBe('KEY_INVALID');
    expect(codeOf(() => noteKeyId('PeterNeumann', [...GO_PUBLIC] as unknown as Uint8Array))).toBe('KEY_INVALID');
  });
});

describe('verifier keys', () => {
  it('verify only a 64-byte signature by their key', () => {
    const signer = ed25519Signer('PeterNeumann', ed25519PrivateKeyFromSeed(GO_SEED));
    const key = parseVerifierKey(GO_VKEY);
    const message = new TextEncoder().encode('checkpoint\n');
    const signature = signer.sign(message);
    expect(key.verify(message, signature)).toBe(true);
    expect(key.verify(new TextEncoder().encode('checkpoinT\n'), signature)).toBe(false);
    expect(key.verify(message, signature.subarray(0, 63))).toBe(false);
  });

  it('parse with surrounding whitespace and keep the base64 key part whole, `+` included', () => {
    const key = parseVerifierKey(`  ${GO_VKEY}\n`);
    expect(key).toMatchObject({ name: 'PeterNeumann', keyId: 'c74f20a3', text: GO_VKEY });
    expect(Buffer.from(key.publicKey).equals(GO_PUBLIC)).toBe(true);
  });

  it.each([
    ['not text', 7],
    ['no name', '+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['one plus sign', 'PeterNeumann+c74f20a3ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['no plus sign', 'PeterNeumann'],
    ['an upper-case key id', 'PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['a key id with a prefix', 'PeterNeumann+xc74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['a key id with a suffix', 'PeterNeumann+c74f20a3x+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'],
    ['a key without its type byte', `PeterNeumann+c74f20a3+${GO_PUBLIC.toString('base64')}`],
    ['a key of another type', `PeterNeumann+c74f20a3+${Buffer.concat([Buffer.from([2]), GO_PUBLIC]).toString('base64')}`],
    ['padding the key part does not need', `${GO_VKEY}=`],
    ['a character outside base64 in the key part', GO_VKEY.replace('+ARpc', '+AR.pc')],
    ['a key one byte too long', `PeterNeumann+c74f20a3+${Buffer.concat([Buffer.from([1]), GO_PUBLIC, Buffer.from([0])]).toString('base64')}`],
  ])('refuse a vkey with %s as KEY_INVALID', (_label, text) => {
    expect(codeOf(() => parseVerifierKey(text as string))).toBe('KEY_INVALID');
  });

  it('take parsed keys and vkey text alike', () => {
    const parsed = parseVerifierKey(GO_VKEY);
    const [a, b] = toVerifierKeys([GO_VKEY, parsed]);
    expect(a?.text).toBe(GO_VKEY);
    expect(b).toBe(parsed);
  });

  it('are the same key only with the same name, key id and public key', () => {
    const key = parseVerifierKey(GO_VKEY);
    expect(sameKey(key, noteVerifierKey('PeterNeumann', GO_PUBLIC))).toBe(true);
    expect(sameKey(key, noteVerifierKey('PeterNeumann2', GO_PUBLIC))).toBe(false);
    expect(sameKey(key, { ...key, name: 'PaulNeumann' })).toBe(false);
    expect(sameKey(key, { ...key, keyId: '00000000' })).toBe(false);
    expect(sameKey(key, { ...key, publicKey: new Uint8Array(32) })).toBe(false);
  });
});
