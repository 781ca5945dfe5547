import { createPublicKey, type KeyObject } from 'node:crypto';
import { compactVerify, SignJWT } from 'jose';
import { parseGrantClaims, type GrantClaims } from '@countersign/core';

/** A compact JWS longer than this is not one of ours: refused before any parsing. */
export const MAX_GRANT_TOKEN_LENGTH = 4_096;

/**
 * Sign grant claims as a compact JWS (RFC 7515, EdDSA per RFC 8037) with the
 * gateway key. The ledger records the claims; the token is what the executor
 * carries and presents once.
 */
export function signGrantToken(claims: GrantClaims, privateKey: KeyObject, kid: string): Promise<string> {
  return new SignJWT({ ...claims }).setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' }).sign(privateKey);
}

/**
 * The claims of a token whose EdDSA signature by the gateway key verifies, or
 * null. Only EdDSA is accepted, so `none` and HMAC key-confusion tokens never
 * reach a key; a failure says only that it failed (jose).
 */
export async function verifyGrantToken(token: string, publicKey: KeyObject): Promise<GrantClaims | null> {
  // the token arrives from an executor: attacker-controlled, bounded before use
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_GRANT_TOKEN_LENGTH) return null;
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(token, publicKey, { algorithms: ['EdDSA'] }));
  } catch {
    return null;
  }
  try {
    return parseGrantClaims(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)));
  } catch {
    return null;
  }
}

export function publicKeyFor(privateKey: KeyObject): KeyObject {
  return privateKey.type === 'private' ? createPublicKey(privateKey) : privateKey;
}
