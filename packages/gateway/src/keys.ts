import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { newEd25519KeyPair } from '@countersign/core';
import { GatewayError } from './errors.js';

/** Where a key pair lives: the private key file and its public half. */
export interface KeyPairPaths {
  readonly privateKey: string;
  readonly publicKey: string;
}

/** The public key file that goes with a private key file: `<path>.pub`, as ssh-keygen names it. */
export function publicKeyPathFor(privateKeyPath: string): string {
  return `${privateKeyPath}.pub`;
}

/**
 * Generate an Ed25519 key pair and write the private key (PKCS#8 PEM) and the
 * public key (SPKI PEM). Refuses to overwrite either file.
 *
 * INVARIANT: the private key file is created with mode 0600 by `open` itself;
 * it is never world-readable, not even between write and chmod.
 */
export function generateKeyPair(target: string | KeyPairPaths): KeyPairPaths & { readonly key: KeyObject } {
  const paths = typeof target === 'string' ? { privateKey: target, publicKey: publicKeyPathFor(target) } : target;
  // for the message only: the exclusive opens below are what actually refuses
  if (existsSync(paths.privateKey)) throw fileError(Object.assign(new Error('exists'), { code: 'EEXIST' }), paths.privateKey);
  const { privateKey, privatePem, publicPem } = newEd25519KeyPair();
  // The public file first: if it exists we stop before a private key was ever written.
  createExclusive(paths.publicKey, publicPem, 0o644);
  try {
    createExclusive(paths.privateKey, privatePem, 0o600);
  } catch (err) {
    unlinkSync(paths.publicKey);
    throw err;
  }
  return { ...paths, key: privateKey };
}

/**
 * Generate an approver's Ed25519 key pair and write the private key (PKCS#8
 * PEM, mode 0600) to `path`; the public half goes in the policy's roster, not
 * in a file. Refuses an existing file unless `force`, and then replaces it
 * whole: the new key is written to a fresh 0600 file beside it and renamed
 * over, so the old file's mode never applies and no reader sees half a key.
 */
export function generateRosterKey(path: string, force: boolean): { readonly path: string; readonly publicKey: KeyObject } {
  const { publicKey, privatePem } = newEd25519KeyPair();
  if (!force) {
    createExclusive(path, privatePem, 0o600);
    return { path, publicKey };
  }
  const fresh = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  createExclusive(fresh, privatePem, 0o600, path);
  try {
    renameSync(fresh, path);
  } catch (err) {
    unlinkSync(fresh);
    throw fileError(err, path);
  }
  return { path, publicKey };
}

/** `shownAs` names the file in errors when `path` is a temporary name for it. */
function createExclusive(path: string, contents: string, mode: number, shownAs = path): void {
  let fd: number;
  try {
    // 'wx' is O_CREAT|O_EXCL: fails with EEXIST rather than truncating someone's key
    fd = openSync(path, 'wx', mode);
  } catch (err) {
    throw fileError(err, shownAs);
  }
  try {
    writeSync(fd, contents);
  } finally {
    closeSync(fd);
  }
}

/**
 * Load an Ed25519 private key from a PEM file. Like ssh, refuses a file that
 * group or others may read: a key that leaked is not an authority.
 */
export function loadPrivateKey(path: string): KeyObject {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw fileError(err, path);
  }
  let text: string;
  try {
    const { mode } = fstatSync(fd);
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      throw new GatewayError(
        'KEY_INVALID',
        `private key file \`${path}\` is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run \`chmod 600 ${path}\``,
        { path },
      );
    }
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch {
    // the parser's message may quote the file: never echo key material
    throw new GatewayError('KEY_INVALID', `\`${path}\` is not a PEM private key`, { path });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new GatewayError('KEY_INVALID', `\`${path}\` is a ${key.asymmetricKeyType ?? 'unknown'} key, expected ed25519`, { path });
  }
  return key;
}

/** Load an Ed25519 public key from a PEM file (SPKI), as written by `generateKeyPair`. */
export function loadPublicKey(path: string): KeyObject {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw fileError(err, path);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch {
    throw new GatewayError('KEY_INVALID', `\`${path}\` is not a PEM public key`, { path });
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new GatewayError('KEY_INVALID', `\`${path}\` is a ${key.asymmetricKeyType ?? 'unknown'} key, expected ed25519`, { path });
  }
  return key;
}

/** The public half of a private key. */
export function publicKeyOf(privateKey: KeyObject): KeyObject {
  return createPublicKey(privateKey);
}

function fileError(err: unknown, path: string): GatewayError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') return new GatewayError('FILE_EXISTS', `\`${path}\` already exists; refusing to overwrite it`, { path });
  if (code === 'ENOENT') return new GatewayError('FILE_NOT_FOUND', `\`${path}\` does not exist`, { path });
  if (code === 'EACCES' || code === 'EPERM') return new GatewayError('KEY_INVALID', `\`${path}\` is not accessible`, { path });
  return new GatewayError('KEY_INVALID', `\`${path}\` cannot be opened (${code ?? 'unknown error'})`, { path });
}
