import { describe, expect, it } from 'vitest';
import { principalForIdentity } from './identity.js';
import type { PolicyBundle } from './schema.js';

const ISSUER = 'https://idp.example.com';
const bundle: Pick<PolicyBundle, 'identities' | 'principals'> = {
  principals: [
    { id: 'priya', kind: 'human', roles: ['sre'], keys: [] },
    { id: 'fatima', kind: 'human', roles: ['payments-owner'], keys: [] },
    { id: 'payments-copilot', kind: 'agent', roles: [], keys: [] },
  ],
  identities: [
    { issuer: ISSUER, subject: 'sub-priya', principal: 'priya' },
    { issuer: ISSUER, email: 'Fatima@Example.com', groups: ['payments'], principal: 'fatima' },
    { issuer: ISSUER, subject: 'sub-bot', principal: 'payments-copilot' },
  ],
};

describe('principalForIdentity', () => {
  it('maps an issuer and subject to its human', () => {
    expect(principalForIdentity(bundle, { iss: ISSUER, sub: 'sub-priya' })).toEqual({ principal: 'priya' });
  });

  it('maps a verified email, case aside, with every group required', () => {
    const claims = { iss: ISSUER, sub: 'x', email: 'fatima@example.com', email_verified: true, groups: ['payments', 'staff'] };
    expect(principalForIdentity(bundle, claims)).toEqual({ principal: 'fatima' });
    expect(principalForIdentity(bundle, { ...claims, email_verified: false })).toEqual({ code: 'IDENTITY_UNMAPPED' });
    expect(principalForIdentity(bundle, { ...claims, email_verified: undefined })).toEqual({ code: 'IDENTITY_UNMAPPED' });
    expect(principalForIdentity(bundle, { ...claims, groups: ['staff'] })).toEqual({ code: 'IDENTITY_UNMAPPED' });
  });

  it('signs in as no one: another issuer, an unknown subject, or no identities at all', () => {
    expect(principalForIdentity(bundle, { iss: 'https://evil.example.com', sub: 'sub-priya' })).toEqual({ code: 'IDENTITY_UNMAPPED' });
    expect(principalForIdentity(bundle, { iss: ISSUER, sub: 'sub-nobody' })).toEqual({ code: 'IDENTITY_UNMAPPED' });
    expect(principalForIdentity({ principals: bundle.principals }, { iss: ISSUER, sub: 'sub-priya' })).toEqual({ code: 'IDENTITY_UNMAPPED' });
  });

  it('signs in as no one when two entries name different people', () => {
    const twice = { ...bundle, identities: [...bundle.identities!, { issuer: ISSUER, email: 'priya@example.com', principal: 'fatima' }] };
    expect(principalForIdentity(twice, { iss: ISSUER, sub: 'sub-priya', email: 'priya@example.com', email_verified: true })).toEqual({ code: 'IDENTITY_AMBIGUOUS' });
    expect(principalForIdentity(twice, { iss: ISSUER, sub: 'sub-priya' })).toEqual({ principal: 'priya' });
  });

  it('never signs an agent in, even when an entry names one', () => {
    expect(principalForIdentity(bundle, { iss: ISSUER, sub: 'sub-bot' })).toEqual({ code: 'IDENTITY_NOT_HUMAN' });
  });
});
