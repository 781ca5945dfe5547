import { canonicalJson, type CanonicalValue } from '../canonical.js';
import { nfcDeep } from '../authority/nfc.js';

/**
 * The texts an override signature is made over, without hashing or keys:
 * the part the approver console also computes, in the browser, to show the
 * body's hash and derive a passkey's challenge from what it shows
 * (browser.ts). Nothing here may import node:* modules.
 */

/** Which seat a signature fills: the two signers, or an extra signer demanded by a spent budget (O8). */
export type SignerRole = 'a' | 'b' | 'extra';

/** What a signer attests, apart from the signature itself. */
export interface OverrideSignerClaim {
  readonly role: SignerRole;
  readonly signer: string;
  /** The roster key's id, or for a passkey its credential id. */
  readonly key_id: string;
  /** Surface the signature was made and delivered through. Bound by the signature. */
  readonly surface: string;
  /** RFC 3339 UTC signing time, bound by the signature and hashed into the evidence. */
  readonly signed_at: string;
}

/** How an override signature was made: a roster key (Ed25519), or a registered passkey (WebAuthn). */
export type OverrideSignatureKind = 'key' | 'passkey';

// Domain separation, as for approvals: an override signature cannot be
// replayed as an approval, a checkpoint or a grant, nor the other way round,
// and a passkey's signed text never reads as a roster key's.
const CONTEXTS: Readonly<Record<OverrideSignatureKind, string>> = {
  key: 'countersign/override/v1\n',
  passkey: 'countersign/override-passkey/v1\n',
};

/**
 * RFC 8785 canonical JSON of the NFC-normalised override body: the bytes
 * `override_body_hash` is the SHA-256 of. `body` is the body as recorded
 * (`overrideBodyValue`): absent optional fields already left out.
 */
export function overrideBodyText(body: { readonly [key: string]: CanonicalValue }): string {
  return canonicalJson(nfcDeep(body));
}

/**
 * What a signer signs: context line, then canonical JSON of the override id,
 * the body hash (which fixes every field of the body) and their own claim,
 * NFC first. A passkey's WebAuthn challenge is the SHA-256 of this text.
 */
export function overrideSignatureText(overrideId: string, bodyHash: string, claim: OverrideSignerClaim, kind: OverrideSignatureKind): string {
  const value = nfcDeep({
    override: overrideId,
    body_hash: bodyHash,
    role: claim.role,
    signer: claim.signer,
    key_id: claim.key_id,
    surface: claim.surface,
    signed_at: claim.signed_at,
  });
  return CONTEXTS[kind] + canonicalJson(value);
}
