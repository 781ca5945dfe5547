import { sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../canonical.js';
import { sha256Hex } from '../digest.js';
import { nfcDeep } from '../authority/nfc.js';
import type { Roster } from '../policy/roster.js';
import { overrideBodyHash, overrideBodyValue, type OverrideBody } from './body.js';

/** Which seat a signature fills: the two signers, or an extra signer demanded by a spent budget (O8). */
export type SignerRole = 'a' | 'b' | 'extra';

/** What a signer attests, apart from the signature itself. */
export interface OverrideSignerClaim {
  readonly role: SignerRole;
  readonly signer: string;
  readonly key_id: string;
  /** Surface the signature was made and delivered through. Bound by the signature. */
  readonly surface: string;
  /** RFC 3339 UTC signing time, bound by the signature and hashed into the evidence. */
  readonly signed_at: string;
}

export interface OverrideSignature extends OverrideSignerClaim {
  /** The body hash the signer saw and signed. */
  readonly body_hash: string;
  /** Ed25519, base64url without padding. */
  readonly signature: string;
}

// Domain separation, as for approvals: an override signature cannot be
// replayed as an approval, a checkpoint or a grant, nor the other way round.
const CONTEXT = 'countersign/override/v1\n';
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/** Bytes a signer signs: the override id, the body hash and their own claim. */
export function overrideSignatureBytes(overrideId: string, bodyHash: string, claim: OverrideSignerClaim): Uint8Array {
  const value = nfcDeep({
    override: overrideId,
    body_hash: bodyHash,
    role: claim.role,
    signer: claim.signer,
    key_id: claim.key_id,
    surface: claim.surface,
    signed_at: claim.signed_at,
  });
  return new TextEncoder().encode(CONTEXT + canonicalJson(value));
}

export function signOverride(body: OverrideBody, claim: OverrideSignerClaim, privateKey: KeyObject): OverrideSignature {
  const bodyHash = overrideBodyHash(body);
  const signature = sign(null, overrideSignatureBytes(body.id, bodyHash, claim), privateKey).toString('base64url');
  return { ...claim, body_hash: bodyHash, signature };
}

/**
 * True only when the key id belongs to the named signer in the roster and the
 * signature verifies over the body hash the signature claims. Whether that
 * hash is the body's is a separate gate (O2).
 */
export function verifyOverrideSignature(overrideId: string, sig: OverrideSignature, roster: Roster): boolean {
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
