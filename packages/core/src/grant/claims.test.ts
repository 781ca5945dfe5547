import { describe, expect, it } from 'vitest';
import type { CountersignError } from '../errors.js';
import { checkGrantClaims, parseGrantClaims, type GrantCheckContext, type GrantClaims } from './claims.js';

const DIGEST = `sha256:${'c'.repeat(64)}`;
const claims: GrantClaims = {
  jti: 'grant_1',
  iat: 1_748_772_000,
  exp: 1_748_772_600,
  step_digest: DIGEST,
  environment: 'prod',
  target: 'payments-worker',
  bundle_id: 'sha256:bundle1',
  request_id: 'req_1',
};
const ctx: GrantCheckContext = {
  now: 1_748_772_300_000,
  active_bundle_id: 'sha256:bundle1',
  step: { digest: DIGEST, environment: 'prod', target: 'payments-worker' },
};

describe('checkGrantClaims', () => {
  it('accepts the step it was granted for, before expiry, under the same bundle', () => {
    expect(checkGrantClaims(claims, ctx)).toEqual({ ok: true });
  });

  it.each([
    ['GRANT_EXPIRED', { ...ctx, now: claims.exp * 1_000 }],
    ['BUNDLE_CHANGED', { ...ctx, active_bundle_id: 'sha256:bundle2' }],
    ['DIGEST_MISMATCH', { ...ctx, step: { ...ctx.step, digest: `sha256:${'d'.repeat(64)}` } }],
    ['DIGEST_MISMATCH', { ...ctx, step: { ...ctx.step, environment: 'Prod' } }],
    ['DIGEST_MISMATCH', { ...ctx, step: { ...ctx.step, target: 'ledger-worker' } }],
  ] as const)('refuses with %s', (code, c) => {
    expect(checkGrantClaims(claims, c)).toEqual({ ok: false, code });
  });

  it('checks expiry before bundle before step', () => {
    const everything = { now: claims.exp * 1_000 + 1, active_bundle_id: 'other', step: { digest: 'x', environment: 'x', target: 'x' } };
    expect(checkGrantClaims(claims, everything)).toEqual({ ok: false, code: 'GRANT_EXPIRED' });
    expect(checkGrantClaims(claims, { ...everything, now: ctx.now })).toEqual({ ok: false, code: 'BUNDLE_CHANGED' });
  });

  it('parses claims strictly', () => {
    expect(parseGrantClaims({ ...claims, lease_id: null })).toEqual({ ...claims, lease_id: null });
    for (const bad of [{ ...claims, exp: 1.5 }, { ...claims, admin: true }, { ...claims, step_digest: 'sha256:zz' }]) {
      try {
        parseGrantClaims(bad);
        expect.unreachable('should have thrown');
      } catch (err) {
        expect((err as CountersignError).code).toBe('STATEMENT_INVALID');
      }
    }
  });
});
