import * as crypto from 'node:crypto';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Id, type Roster } from '@countersign/core';
import { GatewayError } from '../errors.js';
import { ApiError } from '../server/api-error.js';
import type { CredentialRecord, CredentialStatus, CredentialStore } from './credential-store.js';

/**
 * Bearer credentials, one principal and one surface each (DESIGN.md "Surface").
 *
 * A token reads `cst_<id>_<secret>`:
 *   - `id`: 16 characters of RFC 4648 base32, lower case (80 random bits). It
 *     names the row and is safe to show (`token list`, ledger trace fields).
 *     Base32 has no `_`, so the token splits without ambiguity.
 *   - `secret`: 32 random bytes, base64url without padding (43 characters).
 * The store keeps SHA-256 of the secret, never the secret. A slow password
 * hash (scrypt, argon2) exists to make guessing low-entropy human passwords
 * expensive; a 256-bit random secret cannot be guessed at any speed, so a
 * fast hash loses nothing and keeps authentication off the hot path's budget.
 */
export const TOKEN_PREFIX = 'cst_';
const TOKEN_PATTERN = /^cst_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/;
const CREDENTIAL_ID_PATTERN = /^[a-z2-7]{16}$/;
const SECRET_BYTES = 32;
const ID_BYTES = 10;

/** Who is calling, as the credential says: the surface of a call is the token's, never a field the caller chooses. */
export interface Identity {
  readonly credentialId: string;
  readonly principal: string;
  readonly surface: string;
}

/**
 * Every operation of the HTTP API and whether an agent's credential may
 * perform it (DESIGN.md invariant 1: proposal is not authority). An agent may
 * propose, read the status of requests and proposals, wait for a decision,
 * execute (consume) what was granted and report the outcome; nothing else.
 * Humans and services may call every operation; the workflow then applies
 * the authority rules (quorum, independence, hold and halt roles).
 */
export const OPERATIONS = {
  propose: { agent: true },
  status: { agent: true },
  wait: { agent: true },
  execute: { agent: true },
  report_outcome: { agent: true },
  decide: { agent: false },
  approve: { agent: false },
  deny: { agent: false },
  hold_open: { agent: false },
  hold_evidence: { agent: false },
  hold_lift: { agent: false },
  override_request: { agent: false },
  override_submit: { agent: false },
  rollback_register: { agent: false },
  rollback: { agent: false },
  halt: { agent: false },
  halt_lift: { agent: false },
  bundle_activate: { agent: false },
  release_propose: { agent: false },
  release_sign: { agent: false },
  token_admin: { agent: false },
  passkey_register: { agent: false },
  passkey_revoke: { agent: false },
  policy_read: { agent: false },
  ledger_read: { agent: false },
  checkpoint: { agent: false },
  prove: { agent: false },
  trace: { agent: false },
} as const satisfies Record<string, { readonly agent: boolean }>;

export type Operation = keyof typeof OPERATIONS;

export function isOperation(name: string): name is Operation {
  return Object.hasOwn(OPERATIONS, name);
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** RFC 4648 §6 base32, lower case, no padding. */
function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

// SHA-256 of the secret; the one-shot `crypto.hash` (Node 20.12+) skips the Hash object `createHash` builds
const secretHash: (secret: string) => Buffer =
  typeof crypto.hash === 'function'
    ? (secret) => crypto.hash('sha256', secret, 'buffer')
    : (secret) => crypto.createHash('sha256').update(secret, 'utf8').digest();

export interface IssueRequest {
  readonly principal: string;
  readonly surface: string;
  /** Epoch ms; null for a credential that never expires. */
  readonly expiresAt: number | null;
}

export interface IssuedCredential {
  /** The bearer token. Shown once; nothing can recover it afterwards. */
  readonly token: string;
  readonly credential: CredentialRecord;
}

/** Mint a token and store its hash. The caller shows `token` once and forgets it. */
export async function issueCredential(store: CredentialStore, request: IssueRequest, now: number): Promise<IssuedCredential> {
  for (const [field, value] of [['principal', request.principal], ['surface', request.surface]] as const) {
    if (!Id.safeParse(value).success) {
      throw new GatewayError('USAGE', `${field} \`${value}\` is not a policy id (a-z, 0-9, \`.\`, \`_\`, \`-\`)`);
    }
  }
  if (request.expiresAt !== null && !(request.expiresAt > now)) {
    throw new GatewayError('USAGE', 'a credential must expire in the future');
  }
  const id = base32(randomBytes(ID_BYTES));
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  const credential: CredentialRecord = {
    id,
    principal: request.principal,
    surface: request.surface,
    createdAt: now,
    expiresAt: request.expiresAt,
    revokedAt: null,
  };
  await store.insert({ ...credential, secretSha256: secretHash(secret) });
  return { token: `${TOKEN_PREFIX}${id}_${secret}`, credential };
}

/** Revoke by id; revoking twice keeps the first time. Unknown ids are a USAGE error naming the id. */
export async function revokeCredential(store: CredentialStore, id: string, now: number): Promise<CredentialRecord> {
  if (!CREDENTIAL_ID_PATTERN.test(id)) {
    throw new GatewayError('USAGE', `\`${id}\` is not a credential id (16 characters a-z, 2-7; the part after \`cst_\`)`);
  }
  const revoked = await store.revoke(id, now);
  if (revoked === null) throw new GatewayError('USAGE', `no credential with id \`${id}\``);
  return revoked;
}

/** What a credential fixes when it is issued and binds to its secret: never changed afterwards. */
interface VerifiedCredential {
  readonly secretSha256: Buffer;
  readonly principal: string;
  readonly surface: string;
}

const NO_SECRET = Buffer.alloc(32);

/**
 * Credentials whose secret was presented and matched, by id: what lets
 * authentication skip reading (and copying) the whole row on every call.
 *
 * Only the parts fixed at issue are kept (principal, surface, secret hash).
 * Expiry and revocation are never cached: every call still reads them from
 * the store (`CredentialStore.status`), so a `token revoke` committed by any
 * process or replica refuses the very next call, as without the cache.
 *
 * An entry is used only when the presented secret matches the cached hash
 * (constant-time); any other presenter takes the full path, as if nothing
 * were cached, so the cache tells someone who knows only an id nothing.
 * Bounded: the oldest entry goes when it is full, and it is refilled by
 * the next call of its holder.
 */
export class VerifiedCredentials {
  readonly #entries = new Map<string, VerifiedCredential>();

  constructor(readonly capacity = 10_000) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The cached credential of `id` if `presented` is its secret's hash; undefined otherwise. */
  match(id: string, presented: Buffer): VerifiedCredential | undefined {
    const entry = this.#entries.get(id);
    // compare even on a miss, so a hit and a miss differ only by what follows
    const same = timingSafeEqual(entry?.secretSha256 ?? NO_SECRET, presented);
    return same ? entry : undefined;
  }

  remember(id: string, credential: VerifiedCredential): void {
    if (!this.#entries.has(id) && this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#entries.delete(oldest.value);
    }
    this.#entries.set(id, credential);
  }

  forget(id: string): void {
    this.#entries.delete(id);
  }
}

/**
 * Authenticate an `Authorization` header value: `Bearer cst_<id>_<secret>`.
 * Throws ApiError TOKEN_MISSING, TOKEN_MALFORMED, TOKEN_UNKNOWN, TOKEN_REVOKED
 * or TOKEN_EXPIRED (all 401). Messages never quote the token.
 *
 * Revocation and expiry are only reported once the secret matched: whoever
 * merely knows an id (it is shown in listings and traces) learns nothing
 * about its state, and sees TOKEN_UNKNOWN like any wrong secret.
 *
 * With `verified`, a credential whose secret matched before is checked
 * against its current expiry and revocation only (one small read); see
 * `VerifiedCredentials`.
 */
export async function authenticate(store: CredentialStore, header: string | undefined, now: number, verified?: VerifiedCredentials): Promise<Identity> {
  if (header === undefined || header.trim() === '') {
    throw new ApiError('TOKEN_MISSING', 'this call needs `Authorization: Bearer <token>`');
  }
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header);
  const token = match?.[1];
  const parts = token === undefined ? null : TOKEN_PATTERN.exec(token);
  if (!parts) {
    throw new ApiError('TOKEN_MALFORMED', 'the authorization header is not `Bearer cst_<id>_<secret>`');
  }
  const id = parts[1] as string;
  const secret = parts[2] as string;
  const presented = secretHash(secret);
  const cached = verified?.match(id, presented);
  if (cached !== undefined) {
    const status = await store.status(id);
    if (status === null) {
      // the row is gone: nothing vouches for the secret any more
      verified?.forget(id);
      throw new ApiError('TOKEN_UNKNOWN', 'the token is not known to this gateway');
    }
    return admitted(id, cached, status, now, verified);
  }
  const stored = await store.find(id);
  // an unknown id is compared like a known one, so both paths cost the same
  const expected = stored ? Buffer.from(stored.secretSha256) : NO_SECRET;
  const matches = expected.length === presented.length && timingSafeEqual(expected, presented);
  if (!stored || !matches) {
    throw new ApiError('TOKEN_UNKNOWN', 'the token is not known to this gateway');
  }
  const identity = admitted(id, stored, stored, now, verified);
  verified?.remember(id, { secretSha256: expected, principal: stored.principal, surface: stored.surface });
  return identity;
}

/** The identity of a credential whose secret matched, unless it is revoked or expired (then forgotten by the cache). */
function admitted(
  id: string,
  credential: { readonly principal: string; readonly surface: string },
  status: CredentialStatus,
  now: number,
  verified: VerifiedCredentials | undefined,
): Identity {
  // any revocation counts, even one stamped ahead of this replica's clock: fail closed
  if (status.revokedAt !== null) {
    verified?.forget(id);
    throw new ApiError('TOKEN_REVOKED', 'the token has been revoked', { credential_id: id });
  }
  if (status.expiresAt !== null && !(now < status.expiresAt)) {
    verified?.forget(id);
    throw new ApiError('TOKEN_EXPIRED', 'the token has expired', { credential_id: id });
  }
  return { credentialId: id, principal: credential.principal, surface: credential.surface };
}

/** What authorization needs of the active bundle: its principals, and optionally its surfaces. */
export type AuthorityRoster = Pick<Roster, 'get'>;

/**
 * May this identity call this operation? Throws ApiError FORBIDDEN (403)
 * otherwise. Fails closed: a principal or surface the active bundle no longer
 * declares gets nothing, and an agent gets only the agent operations.
 * `surfaces`, when given, is the bundle's declared surface ids.
 */
export function authorize(identity: Identity, operation: Operation, roster: AuthorityRoster, surfaces?: ReadonlySet<string>): void {
  const right = OPERATIONS[operation] as { readonly agent: boolean } | undefined;
  if (right === undefined) {
    throw new ApiError('FORBIDDEN', `operation \`${String(operation)}\` is not known`);
  }
  const principal = roster.get(identity.principal);
  if (principal === undefined) {
    throw new ApiError('FORBIDDEN', `principal \`${identity.principal}\` is not declared in the active policy`, { operation });
  }
  if (surfaces !== undefined && !surfaces.has(identity.surface)) {
    throw new ApiError('FORBIDDEN', `surface \`${identity.surface}\` is not declared in the active policy`, { operation });
  }
  if (principal.kind === 'agent' && !right.agent) {
    throw new ApiError('FORBIDDEN', `an agent credential cannot \`${operation}\``, { operation, principal: identity.principal });
  }
}

/** The core's `Caller` shape, for commands: principal and surface come from the credential. */
export function callerOf(identity: Identity): { principal: string; surface: string; credential: string } {
  return { principal: identity.principal, surface: identity.surface, credential: identity.credentialId };
}
