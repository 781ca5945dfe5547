import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import { compactVerify } from 'jose';
import { parseGrantClaims, type GrantClaims } from '@countersign/core';
import { MAX_GRANT_TOKEN_LENGTH } from '@countersign/client/contract';
import { GatewayError } from '../errors.js';

/** A compact JWS longer than this (the contract's bound on a grant body) is not one of ours: refused before any parsing. */
export { MAX_GRANT_TOKEN_LENGTH };

/** The last encoded protected header: a gateway signs every grant with one key, so one `kid`. */
let lastHeader: { readonly kid: string; readonly encoded: string } | null = null;

function encodedHeader(kid: string): string {
  if (lastHeader?.kid !== kid) lastHeader = { kid, encoded: Buffer.from(JSON.stringify({ alg: 'EdDSA', kid, typ: 'JWT' })).toString('base64url') };
  return lastHeader.encoded;
}

/**
 * Sign grant claims as a compact JWS (RFC 7515 §7.1, EdDSA per RFC 8037 §3.1)
 * with the gateway key. The ledger records the claims; the token is what the
 * executor carries and presents once.
 *
 * The signing input is built here and signed by node:crypto on the thread
 * pool: jose's WebCrypto path costs several times the signature itself on
 * the event loop. The bytes are the ones jose's `SignJWT` produces (Ed25519
 * is deterministic), and tokens are verified by jose's `compactVerify`.
 */
export function signGrantToken(claims: GrantClaims, privateKey: KeyObject, kid: string): Promise<string> {
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== 'ed25519') {
    return Promise.reject(new GatewayError('KEY_INVALID', 'the grant signing key is not an ed25519 private key'));
  }
  // RFC 7515 §5.1: ASCII(BASE64URL(UTF8(header)) || '.' || BASE64URL(payload))
  const input = `${encodedHeader(kid)}.${Buffer.from(JSON.stringify({ ...claims })).toString('base64url')}`;
  return new Promise((resolve, reject) => {
    sign(null, Buffer.from(input, 'latin1'), privateKey, (err, signature) => {
      if (err) reject(err);
      else resolve(`${input}.${signature.toString('base64url')}`);
    });
  });
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
