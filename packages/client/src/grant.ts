import { checkGrantClaims, parseGrantClaims, type GrantClaims } from '@countersign/core';
import { compactVerify, decodeProtectedHeader, importSPKI, type CryptoKey, type JWK, type KeyObject } from 'jose';
import { CountersignClientError } from './errors.js';

/**
 * The gateway's public key: a node KeyObject or WebCrypto CryptoKey, the raw
 * 32 bytes, or text, either the roster form `ed25519:<base64url>` or an SPKI
 * PEM (`countersign keys generate` writes `<key>.pub`).
 */
export type GrantPublicKey = KeyObject | CryptoKey | Uint8Array | string;

export interface GrantExpectation {
  /** Digest of the step the executor is about to run (core `stepDigest`). */
  readonly stepDigest: string;
  readonly environment: string;
  readonly target: string;
  /** The bundle the executor knows to be active; when omitted, the grant's own bundle is taken on trust offline and re-checked online at consumption. */
  readonly bundleId?: string;
}

export interface VerifyGrantOptions {
  readonly publicKey: GrantPublicKey;
  readonly expect: GrantExpectation;
  /** Epoch ms from the caller's clock. */
  readonly now: number;
}

const RAW_KEY = /^ed25519:([A-Za-z0-9_-]{43})$/;

function keyInput(key: GrantPublicKey): KeyObject | CryptoKey | JWK | Promise<CryptoKey> {
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw new CountersignClientError('USAGE', 'a raw Ed25519 public key is 32 bytes');
    return { kty: 'OKP', crv: 'Ed25519', x: base64url(key) };
  }
  if (typeof key !== 'string') return key;
  const raw = RAW_KEY.exec(key.trim());
  // RFC 8037 §2: an Ed25519 public key as an OKP JWK is exactly the raw 32 bytes in `x`
  if (raw) return { kty: 'OKP', crv: 'Ed25519', x: raw[1] as string };
  if (key.includes('-----BEGIN PUBLIC KEY-----')) {
    return importSPKI(key, 'EdDSA');
  }
  throw new CountersignClientError('USAGE', 'the public key is neither `ed25519:<base64url>` nor an SPKI PEM');
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Check a grant offline, before asking the gateway to consume it: the EdDSA
 * signature by the gateway key, then the claims with the same checks the
 * gateway repeats online (core `checkGrantClaims`: expiry, bundle, step).
 * Returns the claims, or throws BAD_SIGNATURE, GRANT_INVALID, GRANT_EXPIRED,
 * BUNDLE_CHANGED or DIGEST_MISMATCH. A grant that verifies here is still
 * single-use: only consumption at the gateway makes it executable.
 */
export async function verifyGrant(jws: string, options: VerifyGrantOptions): Promise<GrantClaims> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(jws);
  } catch {
    throw new CountersignClientError('GRANT_INVALID', 'the grant is not a compact JWS');
  }
  // only EdDSA: an `alg` of `none` or HS256 (the classic key-confusion attacks) is refused before any key is used
  if (header.alg !== 'EdDSA') throw new CountersignClientError('BAD_SIGNATURE', 'the grant signature is not valid');
  if (header.crit !== undefined) throw new CountersignClientError('GRANT_INVALID', 'the grant names critical header parameters this client does not know');
  let key: Awaited<ReturnType<typeof keyInput>>;
  try {
    key = await keyInput(options.publicKey);
  } catch (err) {
    if (err instanceof CountersignClientError) throw err;
    throw new CountersignClientError('USAGE', 'the public key is not a valid Ed25519 SPKI PEM');
  }
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(jws, key, { algorithms: ['EdDSA'] }));
  } catch (err) {
    if (err instanceof CountersignClientError) throw err;
    // jose: a failed check says only that it failed
    throw new CountersignClientError('BAD_SIGNATURE', 'the grant signature is not valid');
  }
  let claims: GrantClaims;
  try {
    claims = parseGrantClaims(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload)));
  } catch {
    throw new CountersignClientError('GRANT_INVALID', 'the grant claims are not valid');
  }
  const { expect } = options;
  const check = checkGrantClaims(claims, {
    now: options.now,
    active_bundle_id: expect.bundleId ?? claims.bundle_id,
    step: { digest: expect.stepDigest, environment: expect.environment, target: expect.target },
  });
  if (!check.ok) {
    const messages: Record<typeof check.code, string> = {
      GRANT_EXPIRED: 'the grant has expired',
      BUNDLE_CHANGED: 'the grant was issued under another policy bundle',
      DIGEST_MISMATCH: 'the grant is for another step',
    };
    throw new CountersignClientError(check.code, messages[check.code], { details: { jti: claims.jti } });
  }
  return claims;
}
