import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../canonical.js';
import { sha256Hex } from '../digest.js';
import { nfcDeep } from '../authority/nfc.js';
import { verifyPasskeySignature, type PasskeyKey } from '../approval/passkey.js';
import type { Roster } from '../policy/roster.js';
import { overrideBodyHash, overrideBodyValue, type OverrideBody } from './body.js';
import { overrideSignatureText, type OverrideSignerClaim } from './signature-text.js';

export type { OverrideSignatureKind, OverrideSignerClaim, SignerRole } from './signature-text.js';

/** An override signature by a roster key: Ed25519 over `overrideSignatureBytes`. */
export interface OverrideKeySignature extends OverrideSignerClaim {
  readonly kind?: 'key' | undefined;
  /** The body hash the signer saw and signed. */
  readonly body_hash: string;
  /** Ed25519, base64url without padding. */
  readonly signature: string;
}

/**
 * An override signature by a passkey registered to the signer (issue 14,
 * ADR 004): a WebAuthn assertion whose challenge is the SHA-256 of the
 * signature's passkey text. `key_id` is the passkey's credential id.
 */
export interface OverridePasskeySignature extends OverrideSignerClaim {
  readonly kind: 'passkey';
  readonly body_hash: string;
  /** The authenticator's signature over `authenticator_data || SHA-256(client_data_json)`, base64url. */
  readonly signature: string;
  readonly authenticator_data: string;
  readonly client_data_json: string;
}

export type OverrideSignature = OverrideKeySignature | OverridePasskeySignature;

/** Finds a passkey by credential id: registered and not revoked, or undefined (the ledger's registry, `state.passkeys`). */
export type PasskeyLookup = (credentialId: string) => PasskeyKey | undefined;

const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/** Bytes a roster key signs: the override id, the body hash and the signer's own claim. */
export function overrideSignatureBytes(overrideId: string, bodyHash: string, claim: OverrideSignerClaim): Uint8Array {
  return new TextEncoder().encode(overrideSignatureText(overrideId, bodyHash, claim, 'key'));
}

/** The WebAuthn challenge a passkey signs for this override, body hash and claim: SHA-256 of the passkey text, base64url. */
export function overridePasskeyChallenge(overrideId: string, bodyHash: string, claim: OverrideSignerClaim): string {
  return createHash('sha256').update(overrideSignatureText(overrideId, bodyHash, claim, 'passkey')).digest('base64url');
}

export function signOverride(body: OverrideBody, claim: OverrideSignerClaim, privateKey: KeyObject): OverrideKeySignature {
  const bodyHash = overrideBodyHash(body);
  const signature = sign(null, overrideSignatureBytes(body.id, bodyHash, claim), privateKey).toString('base64url');
  return { ...claim, body_hash: bodyHash, signature };
}

/**
 * True only when the key belongs to the named signer and the signature
 * verifies over the body hash the signature claims. A roster key: its id is
 * the signer's in the roster. A passkey: `passkeys` finds it registered to
 * the signer and not revoked. Whether the claimed hash is the body's is a
 * separate gate (O2).
 */
export function verifyOverrideSignature(overrideId: string, sig: OverrideSignature, roster: Roster, passkeys: PasskeyLookup = () => undefined): boolean {
  if (sig.kind === 'passkey') {
    const key = passkeys(sig.key_id);
    if (key === undefined || key.principal !== sig.signer) return false;
    return verifyPasskeySignature(overridePasskeyChallenge(overrideId, sig.body_hash, sig), { ...sig, credential_id: sig.key_id }, key);
  }
  const key = roster.keys.get(sig.key_id);
  if (!key || key.principal !== sig.signer || !SIGNATURE.test(sig.signature)) return false;
  try {
    return verify(null, overrideSignatureBytes(overrideId, sig.body_hash, sig), key.key, Buffer.from(sig.signature, 'base64url'));
  } catch {
    return false;
  }
}

/**
 * `sha256:<hex>` over every field of the body, its hash, and each signer's id,
 * key, surface and signing time, NFC first: the reference's
 * `override_evidence_hash` ("sha256 over prior columns + signer timestamps").
 * Automation unlocks on a match of this value, so it changes with any column.
 */
export function overrideEvidenceHash(body: OverrideBody, signers: readonly OverrideSignerClaim[]): string {
  const value = {
    body: overrideBodyValue(body),
    body_hash: overrideBodyHash(body),
    signers: signers.map((s) =>
      nfcDeep({ role: s.role, signer: s.signer, key_id: s.key_id, surface: s.surface, signed_at: s.signed_at }),
    ),
  };
  return `sha256:${sha256Hex(canonicalJson(value))}`;
}
