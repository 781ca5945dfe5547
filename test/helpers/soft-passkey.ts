import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { PasskeyAlgorithm, PasskeyJwk, PasskeyKey } from '../../packages/core/src/approval/passkey.js';

/**
 * A software authenticator for tests below the browser: it makes the bytes a
 * platform authenticator would (WebAuthn §6.1 authenticator data, §5.8.1
 * client data, a signature over both), so the verifier is exercised on
 * real signatures. The browser test uses Chromium's virtual authenticator.
 */
export interface SoftPasskey {
  readonly credentialId: string;
  readonly key: PasskeyKey;
  /** An assertion over `challenge`; `tamper` bends one part to test a refusal. */
  assert(challenge: string, tamper?: Tamper): { authenticator_data: string; client_data_json: string; signature: string };
}

export interface Tamper {
  readonly type?: string;
  readonly origin?: string;
  readonly rpId?: string;
  readonly flags?: number;
  readonly crossOrigin?: boolean;
}

/**
 * A key pair of the algorithm, made as PEM and read back: Node 20 can deadlock
 * exporting a KeyObject its key generation just made (see newEd25519KeyPair).
 */
function keyPair(algorithm: PasskeyAlgorithm): { privateKey: KeyObject; publicKey: KeyObject } {
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  /* eslint-disable no-restricted-syntax -- PEM out, KeyObjects made from it: nothing exports a freshly generated KeyObject */
  let pems: { privateKey: string; publicKey: string };
  if (algorithm === -7) pems = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding, publicKeyEncoding });
  else if (algorithm === -8) pems = generateKeyPairSync('ed25519', { privateKeyEncoding, publicKeyEncoding });
  else pems = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding, publicKeyEncoding });
  /* eslint-enable no-restricted-syntax */
  return { privateKey: createPrivateKey(pems.privateKey), publicKey: createPublicKey(pems.publicKey) };
}

const sha256 = (data: Buffer | string): Buffer => createHash('sha256').update(data).digest();

export function softPasskey(principal: string, options: { algorithm?: PasskeyAlgorithm; rpId?: string; origin?: string } = {}): SoftPasskey {
  const algorithm = options.algorithm ?? -7;
  const rpId = options.rpId ?? 'localhost';
  const origin = options.origin ?? 'http://localhost:8080';
  const { privateKey, publicKey } = keyPair(algorithm);
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const publicJwk = (algorithm === -7 ? { kty: 'EC', crv: 'P-256', x: jwk['x'], y: jwk['y'] } : algorithm === -8 ? { kty: 'OKP', crv: 'Ed25519', x: jwk['x'] } : { kty: 'RSA', n: jwk['n'], e: jwk['e'] }) as PasskeyJwk;
  const credentialId = randomBytes(16).toString('base64url');
  return {
    credentialId,
    key: { credential_id: credentialId, principal, public_key: publicJwk, algorithm, rp_id: rpId, origin },
    assert(challenge, tamper = {}) {
      const clientData = Buffer.from(
        JSON.stringify({ type: tamper.type ?? 'webauthn.get', challenge, origin: tamper.origin ?? origin, ...(tamper.crossOrigin === undefined ? {} : { crossOrigin: tamper.crossOrigin }) }),
      );
      // rpIdHash, flags (user present + user verified), a zero signature counter
      const authData = Buffer.concat([sha256(tamper.rpId ?? rpId), Buffer.from([tamper.flags ?? 0x05]), Buffer.alloc(4)]);
      const signed = Buffer.concat([authData, sha256(clientData)]);
      const signature = algorithm === -8 ? sign(null, signed, privateKey) : sign('sha256', signed, privateKey);
      return { authenticator_data: authData.toString('base64url'), client_data_json: clientData.toString('base64url'), signature: signature.toString('base64url') };
    },
  };
}
