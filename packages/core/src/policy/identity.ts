import type { IdentityMapping, PolicyBundle } from './schema.js';

/** What an ID token says about its holder, as far as the console's sign-in reads it. */
export interface IdentityClaims {
  readonly iss: string;
  readonly sub: string;
  readonly email?: string | undefined;
  readonly email_verified?: boolean | undefined;
  readonly groups?: readonly string[] | undefined;
}

/** Why an identity signs in as no one: a stable code for the refusal recorded. */
export type UnmappedCode = 'IDENTITY_UNMAPPED' | 'IDENTITY_NOT_HUMAN' | 'IDENTITY_AMBIGUOUS';

/**
 * The roster human an identity signs in as, by the bundle's `identities`
 * (issue 14): the first entry whose issuer matches exactly and whose subject
 * matches, or whose email matches one the provider verified (compared
 * case-insensitively, as mail systems do), with every group it lists among
 * the token's. Fails closed: no entry, entries naming different people
 * (IDENTITY_AMBIGUOUS: by subject one person, by email another), or an
 * entry naming anything but a human of the roster, is no one.
 */
export function principalForIdentity(bundle: Pick<PolicyBundle, 'identities' | 'principals'>, claims: IdentityClaims): { principal: string } | { code: UnmappedCode } {
  const entries = (bundle.identities ?? []).filter((m) => matches(m, claims));
  const entry = entries[0];
  if (entry === undefined) return { code: 'IDENTITY_UNMAPPED' };
  if (entries.some((m) => m.principal !== entry.principal)) return { code: 'IDENTITY_AMBIGUOUS' };
  const who = bundle.principals.find((p) => p.id === entry.principal);
  if (who === undefined || who.kind !== 'human') return { code: 'IDENTITY_NOT_HUMAN' };
  return { principal: who.id };
}

function matches(mapping: IdentityMapping, claims: IdentityClaims): boolean {
  if (mapping.issuer !== claims.iss) return false;
  if (mapping.subject !== undefined && mapping.subject !== claims.sub) return false;
  if (mapping.email !== undefined) {
    if (claims.email_verified !== true || claims.email === undefined) return false;
    if (mapping.email.toLowerCase() !== claims.email.toLowerCase()) return false;
  }
  const groups = new Set(claims.groups ?? []);
  return (mapping.groups ?? []).every((g) => groups.has(g));
}
