import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { statementText, type StatementFields } from './statement-text.js';

/**
 * Approvals signed with the approver's own passkey (WebAuthn Level 2, issue
 * 14 part 5). The authenticator signs `authenticatorData || SHA-256(
 * clientDataJSON)`, and clientDataJSON carries the challenge: here the
 * SHA-256 of the statement's passkey text, so the signature covers exactly
 * this step (its digest), under this bundle, by this approver, through this
 * surface, at this time. Checked without the WebAuthn library, synchronously,
 * from what the ledger holds (ADR 004): the gateway at approval time and
 * `ledger verify` offline run this same function.
 */

/** COSE algorithm identifiers (RFC 9053) of the keys we accept: ES256, EdDSA, RS256. */
export const PASSKEY_ALGORITHMS = [-7, -8, -257] as const;
export type PasskeyAlgorithm = (typeof PASSKEY_ALGORITHMS)[number];

/** A registered passkey's public key as a JWK (RFC 7517): what `passkey.registered` records. */
export type PasskeyJwk =
  | { readonly kty: 'EC'; readonly crv: 'P-256'; readonly x: string; readonly y: string }
  | { readonly kty: 'OKP'; readonly crv: 'Ed25519'; readonly x: string }
  | { readonly kty: 'RSA'; readonly n: string; readonly e: string };

/** A passkey as registered: whose it is, its key, and the relying party it was created for. */
export interface PasskeyKey {
  readonly credential_id: string;
  readonly principal: string;
  readonly public_key: PasskeyJwk;
  readonly algorithm: PasskeyAlgorithm;
  /** WebAuthn RP ID (a host name): the authenticator data's first 32 bytes are its SHA-256. */
  readonly rp_id: string;
  /** The console's origin: the only one an assertion may come from. */
  readonly origin: string;
}

/** What the console sends for a passkey approval; every field base64url without padding. */
export interface PasskeyAssertion {
  readonly kind: 'passkey';
  readonly credential_id: string;
  readonly authenticator_data: string;
  readonly client_data_json: string;
  readonly signature: string;
}

const B64URL = /^[A-Za-z0-9_-]+$/;
// WebAuthn §6.1 authenticator data flags
const FLAG_USER_PRESENT = 0x01;
const FLAG_USER_VERIFIED = 0x04;
const AUTH_DATA_MIN = 37;

function sha256(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(data).digest();
}

/** The WebAuthn challenge for a statement: SHA-256 of its passkey text, base64url. */
export function passkeyChallenge(stmt: StatementFields): string {
  return sha256(statementText(stmt, 'passkey')).toString('base64url');
}

function decode(field: string): Buffer | null {
  return typeof field === 'string' && B64URL.test(field) ? Buffer.from(field, 'base64url') : null;
}

/** The registered key as a KeyObject; null for a JWK node cannot read. */
export function passkeyPublicKey(jwk: PasskeyJwk): KeyObject | null {
  try {
    return createPublicKey({ key: { ...jwk }, format: 'jwk' });
  } catch {
    return null;
  }
}

/**
 * Does `assertion` sign `stmt` with `key`? The credential must be the
 * approver's; then `verifyPasskeySignature` over this statement's challenge.
 */
export function verifyPasskeyAssertion(stmt: StatementFields, assertion: PasskeyAssertion, key: PasskeyKey): boolean {
  if (key.principal !== stmt.approver) return false;
  return verifyPasskeySignature(passkeyChallenge(stmt), assertion, key);
}

/** The WebAuthn assertion fields, as an approval or an override signature carries them (base64url). */
export type WebAuthnAssertion = Pick<PasskeyAssertion, 'credential_id' | 'authenticator_data' | 'client_data_json' | 'signature'>;

/**
 * Does `assertion` sign `challenge` (base64url) with `key`? Every check
 * WebAuthn's relying party steps (§7.2) make that does not need server
 * state: the credential is the registered one, the client data says
 * `webauthn.get` with this challenge from the registered origin, the
 * authenticator data names the registered RP ID with user presence and
 * verification, and the signature holds. Whose key it must be is the
 * caller's check. The signature counter is not checked: synced passkeys
 * report 0. Anything malformed is simply "not verified".
 */
export function verifyPasskeySignature(expectedChallenge: string, assertion: WebAuthnAssertion, key: PasskeyKey): boolean {
  if (assertion.credential_id !== key.credential_id) return false;
  const authData = decode(assertion.authenticator_data);
  const clientData = decode(assertion.client_data_json);
  const signature = decode(assertion.signature);
  if (authData === null || clientData === null || signature === null || authData.length < AUTH_DATA_MIN) return false;
  let client: unknown;
  try {
    client = JSON.parse(clientData.toString('utf8'));
  } catch {
    return false;
  }
  if (typeof client !== 'object' || client === null) return false;
  const { type, challenge, origin, crossOrigin } = client as Record<string, unknown>;
  if (type !== 'webauthn.get' || challenge !== expectedChallenge || origin !== key.origin || crossOrigin === true) return false;
  if (!authData.subarray(0, 32).equals(sha256(key.rp_id))) return false;
  const flags = authData[32]!;
  if ((flags & FLAG_USER_PRESENT) === 0 || (flags & FLAG_USER_VERIFIED) === 0) return false;
  const publicKey = passkeyPublicKey(key.public_key);
  if (publicKey === null) return false;
  const signed = Buffer.concat([authData, sha256(clientData)]);
  try {
    switch (key.algorithm) {
      case -7: // ES256: ECDSA P-256 with SHA-256, the signature DER-encoded (WebAuthn §6.5.6)
        return publicKey.asymmetricKeyType === 'ec' && verify('sha256', signed, { key: publicKey, dsaEncoding: 'der' }, signature);
      case -8: // EdDSA over Ed25519
        return publicKey.asymmetricKeyType === 'ed25519' && verify(null, signed, publicKey, signature);
      case -257: // RS256: RSASSA-PKCS1-v1_5 with SHA-256
        return publicKey.asymmetricKeyType === 'rsa' && verify('sha256', signed, publicKey, signature);
    }
  } catch {
    return false;
  }
  return false;
}
