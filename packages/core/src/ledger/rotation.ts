import { canonicalBytes } from '../canonical.js';
import { CountersignError } from '../errors.js';
import { parseVerifierKey, sameKey, signerVerifierKey, type NoteVerifierKey, type Signer } from './key.js';

/**
 * Key rotation is itself a ledger entry, of type `key.rotated`, signed by the
 * OLD key. A verifier that trusts the old key learns the new one from the
 * ledger, and checkpoints covering the rotation entry (tree size > its seq)
 * must be signed by the new key: a retired key can no longer vouch for the
 * ledger even if it leaks later.
 */

export const KEY_ROTATED = 'key.rotated';

/** Payload of a `key.rotated` entry. */
export interface KeyRotationPayload {
  /** vkey of the key in force until this entry. */
  readonly old_key: string;
  /** vkey of the key in force from the next checkpoint on. */
  readonly new_key: string;
  /** Standard base64 Ed25519 signature by the old key over `keyRotationStatement`. */
  readonly signature: string;
  readonly [key: string]: string;
}

export interface KeyRotationContext {
  /** The ledger origin, so a rotation cannot be replayed into another ledger. */
  readonly origin: string;
  /** Sequence number of the `key.rotated` entry itself. */
  readonly seq: number;
}

/**
 * The bytes the old key signs: RFC 8785 canonical JSON of
 * `{"new_key","old_key","origin","seq","statement":"countersign/key-rotation/v1"}`.
 */
export function keyRotationStatement(context: KeyRotationContext, oldKey: string, newKey: string): Uint8Array {
  return canonicalBytes({
    statement: 'countersign/key-rotation/v1',
    origin: context.origin,
    seq: context.seq,
    old_key: oldKey,
    new_key: newKey,
  });
}

/** Build the payload of the `key.rotated` entry that will be sealed at `context.seq`. */
export function signKeyRotation(
  context: KeyRotationContext,
  oldSigner: Signer,
  newKey: NoteVerifierKey | string,
): KeyRotationPayload {
  const oldText = signerVerifierKey(oldSigner).text;
  const newText = typeof newKey === 'string' ? parseVerifierKey(newKey).text : newKey.text;
  const signature = oldSigner.sign(keyRotationStatement(context, oldText, newText));
  return { old_key: oldText, new_key: newText, signature: Buffer.from(signature).toString('base64') };
}

/**
 * Check a rotation against the keys in force. Returns the new key when the
 * old key is one of `current` and its signature over the statement verifies.
 * Throws KEY_INVALID for a malformed payload, BAD_SIGNATURE otherwise.
 */
export function verifyKeyRotation(
  payload: unknown,
  context: KeyRotationContext,
  current: readonly NoteVerifierKey[],
): NoteVerifierKey {
  if (typeof payload !== 'object' || payload === null) {
    throw new CountersignError('KEY_INVALID', 'key rotation payload is not an object');
  }
  const { old_key: oldText, new_key: newText, signature } = payload as Record<string, unknown>;
  if (typeof oldText !== 'string' || typeof newText !== 'string' || typeof signature !== 'string') {
    throw new CountersignError('KEY_INVALID', 'key rotation needs `old_key`, `new_key` and `signature`');
  }
  const oldKey = parseVerifierKey(oldText);
  const newKey = parseVerifierKey(newText);
  if (!current.some((k) => sameKey(k, oldKey))) {
    throw new CountersignError('BAD_SIGNATURE', 'key rotation is not signed by the key in force');
  }
  const sig = Buffer.from(signature, 'base64');
  if (sig.toString('base64') !== signature || !oldKey.verify(keyRotationStatement(context, oldText, newText), sig)) {
    throw new CountersignError('BAD_SIGNATURE', 'key rotation signature verification failed');
  }
  return newKey;
}
