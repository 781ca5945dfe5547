import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { CountersignError } from '../errors.js';

/**
 * The gateway key, as C2SP signed-note sees it (https://c2sp.org/signed-note):
 * a key name, a 4-byte key ID and an Ed25519 key. The verifier key text
 * `<name>+<hex key id>+<base64(0x01 || public key)>` is the format of
 * golang.org/x/mod/sumdb/note, so Go tooling can read what we publish.
 */

/** Signs with the gateway key. The port lets a KMS or HSM stand in for a local key file. */
export interface Signer {
  /** The signed-note key name; by default the ledger origin. */
  readonly name: string;
  /** Raw 32-byte Ed25519 public key (RFC 8032). */
  readonly publicKey: Uint8Array;
  /** Ed25519 signature (64 bytes) over `message`. */
  sign(message: Uint8Array): Uint8Array;
}

/** A public key a verifier trusts, with the identifiers signed notes carry. */
export interface NoteVerifierKey {
  readonly name: string;
  /** First 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), as 8 hex digits. */
  readonly keyId: string;
  readonly publicKey: Uint8Array;
  /** The vkey text, `<name>+<keyId>+<base64(0x01 || publicKey)>`. */
  readonly text: string;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

// signed-note §Signature types: 0x01 is Ed25519
const ED25519_TYPE = 0x01;
// DER prefixes of an Ed25519 PKCS#8 private key and SPKI public key (RFC 8410)
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Key names must be non-empty without Unicode spaces or `+` (signed-note §Format). */
export function assertKeyName(name: string): void {
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (typeof name !== 'string' || name.length === 0 || /[\s+\u0000-\u001f\u007f]/u.test(name)) {
    throw new CountersignError('KEY_INVALID', `key name \`${String(name)}\` is empty or has a space, \`+\` or control character`);
  }
}

/** signed-note: key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4]. */
export function noteKeyId(name: string, publicKey: Uint8Array): string {
  assertKeyName(name);
  assertPublicKey(publicKey);
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, ED25519_TYPE]))
    .update(publicKey)
    .digest()
    .subarray(0, 4)
    .toString('hex');
}

function assertPublicKey(publicKey: Uint8Array): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) {
    throw new CountersignError('KEY_INVALID', 'ed25519 public key is not 32 bytes');
  }
}

/** A Signer over a node:crypto Ed25519 private KeyObject. */
export function ed25519Signer(name: string, privateKey: KeyObject): Signer {
  assertKeyName(name);
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    throw new CountersignError('KEY_INVALID', 'signing key is not an ed25519 private key');
  }
  const publicKey = rawPublicKey(createPublicKey(privateKey));
  return {
    name,
    publicKey,
    sign: (message) => new Uint8Array(sign(null, message, privateKey)),
  };
}

/** A new Ed25519 key pair: KeyObjects and the PEM they were read from (PKCS#8 private, SPKI public). */
export interface Ed25519KeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly privatePem: string;
  readonly publicPem: string;
}

/**
 * Generate an Ed25519 key pair whose KeyObjects share nothing with the
 * generation job. Every key pair Countersign makes comes from here.
 *
 * WHY: the KeyObjects that Node 20's `generateKeyPairSync('ed25519')` returns
 * share a lock with the key-generation job behind them. If a garbage
 * collection frees that job while one of the keys is being exported or used
 * (its JWK for `rawPublicKey`, its PEM), the job's destructor waits for the
 * lock the export holds, on the same thread, and the process hangs for good
 * (seen in CI: `~KeyGenJob` under `ExportJWK`, in `Gateway.open` with a fresh
 * key; under `node --gc-interval=50` it struck within 1,200 to 30,800 pairs).
 * ESLint refuses `generateKeyPairSync` anywhere else. Keys parsed from the
 * PEM the job encoded are new objects with locks of their own.
 */
export function newEd25519KeyPair(): Ed25519KeyPair {
  // eslint-disable-next-line no-restricted-syntax -- the one place keys are generated: the job encodes them, nothing exports its KeyObjects
  const { privateKey: privatePem, publicKey: publicPem } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKey: createPrivateKey(privatePem), publicKey: createPublicKey(publicPem), privatePem, publicPem };
}

/** The raw 32-byte key of an Ed25519 public (or private) KeyObject. */
export function rawPublicKey(key: KeyObject): Uint8Array {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  if (pub.asymmetricKeyType !== 'ed25519') {
    throw new CountersignError('KEY_INVALID', 'key is not an ed25519 key');
  }
  const jwk = pub.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x ?? '', 'base64url'));
}

/** An Ed25519 private KeyObject from its 32-byte RFC 8032 seed. */
export function ed25519PrivateKeyFromSeed(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new CountersignError('KEY_INVALID', 'ed25519 seed is not 32 bytes');
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/** Build a verifier key from a name and raw public key; the KeyObject is made once and cached. */
export function noteVerifierKey(name: string, publicKey: Uint8Array): NoteVerifierKey {
  const keyId = noteKeyId(name, publicKey);
  const pub = new Uint8Array(publicKey);
  const keyObject = createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pub).toString('base64url') },
    format: 'jwk',
  });
  const text = `${name}+${keyId}+${Buffer.concat([Buffer.from([ED25519_TYPE]), pub]).toString('base64')}`;
  return {
    name,
    keyId,
    publicKey: pub,
    text,
    verify: (message, signature) => signature.length === 64 && verify(null, message, keyObject, signature),
  };
}

/** The verifier key matching a signer: what `countersign keys public` prints. */
export function signerVerifierKey(signer: Signer): NoteVerifierKey {
  return noteVerifierKey(signer.name, signer.publicKey);
}

/** `<name>+<hex key id>+<base64(0x01 || public key)>`. */
export function formatVerifierKey(key: { readonly name: string; readonly publicKey: Uint8Array }): string {
  return noteVerifierKey(key.name, key.publicKey).text;
}

/**
 * Parse a vkey. The key ID must be the one the name and key imply, so a
 * typo or a spliced name cannot pass for the published key. Throws KEY_INVALID.
 */
export function parseVerifierKey(text: string): NoteVerifierKey {
  if (typeof text !== 'string') throw new CountersignError('KEY_INVALID', 'verifier key is not a string');
  const trimmed = text.trim();
  // The name has no `+`; the base64 part may, so split at the first two only.
  const first = trimmed.indexOf('+');
  const second = first < 0 ? -1 : trimmed.indexOf('+', first + 1);
  if (first <= 0 || second < 0) {
    throw new CountersignError('KEY_INVALID', 'verifier key is not `<name>+<key id>+<base64 key>`');
  }
  const name = trimmed.slice(0, first);
  const id = trimmed.slice(first + 1, second);
  const encoded = trimmed.slice(second + 1);
  const raw = Buffer.from(encoded, 'base64');
  if (!/^[0-9a-f]{8}$/.test(id) || raw.toString('base64') !== encoded) {
    throw new CountersignError('KEY_INVALID', 'verifier key is not `<name>+<key id>+<base64 key>`');
  }
  if (raw.length !== 33 || raw[0] !== ED25519_TYPE) {
    throw new CountersignError('KEY_INVALID', 'verifier key is not an ed25519 key');
  }
  const key = noteVerifierKey(name, new Uint8Array(raw.subarray(1)));
  if (key.keyId !== id) {
    throw new CountersignError('KEY_INVALID', `verifier key id \`${id}\` does not match its name and key`);
  }
  return key;
}

/** Accept either parsed keys or vkey text. */
export function toVerifierKeys(keys: readonly (NoteVerifierKey | string)[]): NoteVerifierKey[] {
  return keys.map((k) => (typeof k === 'string' ? parseVerifierKey(k) : k));
}

export function sameKey(a: NoteVerifierKey, b: NoteVerifierKey): boolean {
  return a.name === b.name && a.keyId === b.keyId && Buffer.compare(a.publicKey, b.publicKey) === 0;
}
