import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { compactVerify, decodeProtectedHeader, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { newEd25519KeyPair, type GrantClaims } from '@countersign/core';
import { publicKeyFor, signGrantToken, verifyGrantToken } from './grant-token.js';

const claims: GrantClaims = {
  jti: 'grant-0123456789abcdef',
  iat: 1_750_000_000,
  exp: 1_750_000_300,
  step_digest: `sha256:${'ab'.repeat(32)}`,
  environment: 'prod',
  // targets come from agents: anything UTF-8 must survive the round trip
  target: 'payments-queue/shard-7 ✓ ünïcode',
  bundle_id: `sha256:${'cd'.repeat(32)}`,
  request_id: null,
  lease_id: null,
};

describe('grant tokens', () => {
  const { privateKey } = newEd25519KeyPair();
  const publicKey = publicKeyFor(privateKey);

  it('are the very bytes jose signs, and jose verifies them', async () => {
    const token = await signGrantToken(claims, privateKey, 'origin+kid');
    const byJose = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'EdDSA', kid: 'origin+kid', typ: 'JWT' }).sign(privateKey);
    expect(token).toBe(byJose);
    const { payload, protectedHeader } = await compactVerify(token, publicKey, { algorithms: ['EdDSA'] });
    expect(protectedHeader).toEqual({ alg: 'EdDSA', kid: 'origin+kid', typ: 'JWT' });
    expect(JSON.parse(new TextDecoder().decode(payload))).toEqual(claims);
    expect(await verifyGrantToken(token, publicKey)).toEqual(claims);
  });

  it('carry the kid they were signed under, whichever came before', async () => {
    await signGrantToken(claims, privateKey, 'first');
    expect(decodeProtectedHeader(await signGrantToken(claims, privateKey, 'second')).kid).toBe('second');
  });

  it('fail verification under another key or with one byte changed', async () => {
    const token = await signGrantToken(claims, privateKey, 'kid');
    expect(await verifyGrantToken(token, publicKeyFor(newEd25519KeyPair().privateKey))).toBeNull();
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const forged = Buffer.from(payload, 'base64url').toString().replace('prod', 'prad');
    expect(await verifyGrantToken(`${header}.${Buffer.from(forged).toString('base64url')}.${signature}`, publicKey)).toBeNull();
  });

  it('are refused a key that is not an ed25519 private key', async () => {
    await expect(signGrantToken(claims, publicKey, 'kid')).rejects.toMatchObject({ code: 'KEY_INVALID' });
    // eslint-disable-next-line no-restricted-syntax -- an EC key, encoded by its generation and parsed: no generated KeyObject is used
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    await expect(signGrantToken(claims, createPrivateKey(ec.privateKey), 'kid')).rejects.toMatchObject({ code: 'KEY_INVALID' });
  });
});
