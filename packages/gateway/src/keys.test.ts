import { sign, verify } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rawPublicKey } from '@countersign/core';
import { generateKeyPair, loadPrivateKey, loadPublicKey, publicKeyOf } from './keys.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-keys-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('generateKeyPair', () => {
  it('writes a 0600 private key and its public half', () => {
    const path = join(dir, 'gateway.key');
    const written = generateKeyPair(path);
    expect(written.publicKey).toBe(`${path}.pub`);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(readFileSync(written.publicKey, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);

    const key = loadPrivateKey(path);
    const pub = loadPublicKey(written.publicKey);
    const message = Buffer.from('checkpoint');
    expect(verify(null, message, pub, sign(null, message, key))).toBe(true);
    expect(rawPublicKey(publicKeyOf(key))).toEqual(rawPublicKey(pub));
    expect(rawPublicKey(pub)).toHaveLength(32);
  });

  it('refuses to overwrite a private key and leaves it untouched', () => {
    const path = join(dir, 'gateway.key');
    generateKeyPair(path);
    const before = readFileSync(path, 'utf8');
    rmSync(`${path}.pub`);
    expect(() => generateKeyPair(path)).toThrow(expect.objectContaining({ code: 'FILE_EXISTS' }));
    expect(readFileSync(path, 'utf8')).toBe(before);
    // the public file it created before finding the private key is removed again
    expect(() => statSync(`${path}.pub`)).toThrow();
  });

  it('refuses to overwrite a public key without writing a private key', () => {
    const paths = { privateKey: join(dir, 'a.key'), publicKey: join(dir, 'a.pub') };
    writeFileSync(paths.publicKey, 'mine');
    expect(() => generateKeyPair(paths)).toThrow(expect.objectContaining({ code: 'FILE_EXISTS' }));
    expect(() => statSync(paths.privateKey)).toThrow();
    expect(readFileSync(paths.publicKey, 'utf8')).toBe('mine');
  });
});

describe('loadPrivateKey', () => {
  it('refuses a key readable by group or others', () => {
    const path = join(dir, 'gateway.key');
    generateKeyPair(path);
    chmodSync(path, 0o640);
    expect(() => loadPrivateKey(path)).toThrow(expect.objectContaining({ code: 'KEY_INVALID', message: expect.stringContaining('chmod 600') }));
  });

  it('reports a missing file and garbage without echoing the contents', () => {
    expect(() => loadPrivateKey(join(dir, 'none.key'))).toThrow(expect.objectContaining({ code: 'FILE_NOT_FOUND' }));
    const path = join(dir, 'bad.key');
    writeFileSync(path, 'SECRET-MATERIAL', { mode: 0o600 });
    let message = '';
    try {
      loadPrivateKey(path);
    } catch (err) {
      message = (err as Error).message;
      expect(err).toMatchObject({ code: 'KEY_INVALID' });
    }
    expect(message).not.toBe('');
    expect(message).not.toContain('SECRET');
  });

  it('refuses a key of another algorithm', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    // encoded by the generation itself: exporting a freshly generated KeyObject can deadlock on Node 20 (see newEd25519KeyPair)
    // eslint-disable-next-line no-restricted-syntax -- an EC key, which newEd25519KeyPair does not make; no KeyObject is exported
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const path = join(dir, 'ec.key');
    writeFileSync(path, privateKey, { mode: 0o600 });
    expect(() => loadPrivateKey(path)).toThrow(expect.objectContaining({ code: 'KEY_INVALID', message: expect.stringContaining('expected ed25519') }));
  });

  it('loads the shared fixture keys once their mode is 0600', () => {
    // git does not keep file modes beyond the executable bit: a fresh clone has
    // the fixture at 0644, which loadPrivateKey rightly refuses; use a 0600 copy.
    const path = join(dir, 'sam.key');
    copyFileSync(new URL('../../../test/fixtures/keys/sam.key', import.meta.url), path);
    chmodSync(path, 0o600);
    const key = loadPrivateKey(path);
    expect(key.asymmetricKeyType).toBe('ed25519');
  });
});
