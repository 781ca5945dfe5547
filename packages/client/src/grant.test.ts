import { CompactSign, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { formatPublicKey, newEd25519KeyPair } from '@countersign/core';
import { CountersignClientError } from './errors.js';
import { verifyGrant } from './grant.js';

const gateway = newEd25519KeyPair();
const stranger = newEd25519KeyPair();

const NOW = Date.parse('2026-05-15T09:20:00Z');
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const claims = {
  jti: 'grt-01',
  iat: NOW / 1000 - 60,
  exp: NOW / 1000 + 600,
  step_digest: DIGEST,
  environment: 'prod',
  target: 'payments-worker',
  bundle_id: 'sha256-bundle-1',
  request_id: 'req-1',
};
const expect_ = { stepDigest: DIGEST, environment: 'prod', target: 'payments-worker', bundleId: 'sha256-bundle-1' };

const sign = (payload: Record<string, unknown> = claims, key = gateway.privateKey) =>
  new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', typ: 'countersign-grant+jwt' }).sign(key);

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'verified';
  } catch (err) {
    expect(err).toBeInstanceOf(CountersignClientError);
    return (err as CountersignClientError).code;
  }
}

describe('verifyGrant', () => {
  it('returns the claims of a grant the gateway key signed, for the step about to run', async () => {
    const jws = await sign();
    const got = await verifyGrant(jws, { publicKey: gateway.publicKey, expect: expect_, now: NOW });
    expect(got).toEqual(claims);
    // the same key in the roster form and as SPKI PEM
    expect(await verifyGrant(jws, { publicKey: formatPublicKey(gateway.publicKey), expect: expect_, now: NOW })).toEqual(claims);
    const pem = gateway.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(await verifyGrant(jws, { publicKey: pem, expect: expect_, now: NOW })).toEqual(claims);
    // without a bundle expectation the grant's own bundle is taken (checked again online)
    const { bundleId: _omit, ...noBundle } = expect_;
    expect(await codeOf(verifyGrant(jws, { publicKey: gateway.publicKey, expect: noBundle, now: NOW }))).toBe('verified');
  });

  it('refuses a tampered signature, another signer, a tampered payload and alg confusion with BAD_SIGNATURE', async () => {
    const jws = await sign();
    const [h, p, s] = jws.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
    expect(await codeOf(verifyGrant(flipped, { publicKey: gateway.publicKey, expect: expect_, now: NOW }))).toBe('BAD_SIGNATURE');
    const other = await sign(claims, stranger.privateKey);
    expect(await codeOf(verifyGrant(other, { publicKey: gateway.publicKey, expect: expect_, now: NOW }))).toBe('BAD_SIGNATURE');
    const widened = Buffer.from(JSON.stringify({ ...claims, target: 'payments/shard-7' })).toString('base64url');
    expect(await codeOf(verifyGrant(`${h}.${widened}.${s}`, { publicKey: gateway.publicKey, expect: { ...expect_, target: 'payments/shard-7' }, now: NOW }))).toBe(
      'BAD_SIGNATURE',
    );
    const hs = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('a-shared-secret-of-enough-length-32'));
    expect(await codeOf(verifyGrant(hs, { publicKey: gateway.publicKey, expect: expect_, now: NOW }))).toBe('BAD_SIGNATURE');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${p}.`;
    expect(await codeOf(verifyGrant(none, { publicKey: gateway.publicKey, expect: expect_, now: NOW }))).toBe('BAD_SIGNATURE');
    expect(await codeOf(verifyGrant('not-a-jws', { publicKey: gateway.publicKey, expect: expect_, now: NOW }))).toBe('GRANT_INVALID');
  });

  it('refuses an expired grant, another step, target or environment, and another bundle, with their codes', async () => {
    const jws = await sign();
    const at = (now: number) => verifyGrant(jws, { publicKey: gateway.publicKey, expect: expect_, now });
    expect(await codeOf(at(claims.exp * 1000 - 1))).toBe('verified');
    expect(await codeOf(at(claims.exp * 1000))).toBe('GRANT_EXPIRED');
    const other = (e: Partial<typeof expect_>) => codeOf(verifyGrant(jws, { publicKey: gateway.publicKey, expect: { ...expect_, ...e }, now: NOW }));
    expect(await other({ stepDigest: `sha256:${'cd'.repeat(32)}` })).toBe('DIGEST_MISMATCH');
    expect(await other({ target: 'payments/shard-7' })).toBe('DIGEST_MISMATCH');
    expect(await other({ environment: 'Prod' })).toBe('DIGEST_MISMATCH');
    expect(await other({ bundleId: 'sha256-bundle-2' })).toBe('BUNDLE_CHANGED');
  });

  it('refuses signed claims that are not a grant, and keys that are not Ed25519 public keys', async () => {
    const { step_digest: _gone, ...partial } = claims;
    expect(await codeOf(verifyGrant(await sign(partial), { publicKey: gateway.publicKey, expect: expect_, now: NOW }))).toBe('GRANT_INVALID');
    expect(await codeOf(verifyGrant(await sign({ ...claims, extra: 1 }), { publicKey: gateway.publicKey, expect: expect_, now: NOW }))).toBe('GRANT_INVALID');
    const jws = await sign();
    expect(await codeOf(verifyGrant(jws, { publicKey: 'ed25519:short', expect: expect_, now: NOW }))).toBe('USAGE');
    expect(await codeOf(verifyGrant(jws, { publicKey: new Uint8Array(31), expect: expect_, now: NOW }))).toBe('USAGE');
    const raw = Buffer.from(formatPublicKey(gateway.publicKey).slice('ed25519:'.length), 'base64url');
    expect(await codeOf(verifyGrant(jws, { publicKey: new Uint8Array(raw), expect: expect_, now: NOW }))).toBe('verified');
  });
});
