import type { PasskeyAlgorithm, PasskeyJwk } from '../approval/passkey.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { assertActive, draftsFor, reject, standingOf, type Caller, type CommandContext, type CommandOutput } from './command.js';
import type { AuthorityState } from './state.js';

/**
 * The passkey registry (issue 14, ADR 004): a human registers a passkey of
 * their own from a signed-in console session, and it, or a token
 * administrator, revokes it. The WebAuthn ceremony is the gateway's (it
 * verifies the attestation and hands over the key it found); these commands
 * decide who may, and record `passkey.registered` / `passkey.revoked`.
 */
export interface RegisterPasskeyCommand {
  readonly kind: 'passkey_register';
  /** The console session registering: the passkey becomes its principal's. */
  readonly caller: Caller;
  readonly passkey: {
    readonly credential_id: string;
    readonly public_key: PasskeyJwk;
    readonly algorithm: PasskeyAlgorithm;
    readonly rp_id: string;
    readonly origin: string;
  };
  /** The identity-provider identity the session signed in as; null for a development token sign-in. */
  readonly identity: { readonly issuer: string; readonly subject: string } | null;
}

export interface RevokePasskeyCommand {
  readonly kind: 'passkey_revoke';
  readonly caller: Caller;
  readonly credential_id: string;
}

export interface PasskeyResult {
  readonly ok: true;
  readonly credential_id: string;
  readonly principal: string;
  readonly revoked: boolean;
}

export function registerPasskey(state: AuthorityState, policy: CompiledPolicy | null, command: RegisterPasskeyCommand, ctx: CommandContext): CommandOutput<PasskeyResult> {
  const compiled = assertActive(state, policy);
  const { caller, passkey } = command;
  const d = draftsFor(state, caller, ctx.now);
  const standing = standingOf(compiled, caller.principal);
  if (standing.kind === 'unknown') return reject(d, caller, 'passkey_register', 'UNKNOWN_PRINCIPAL', 'caller is not in the roster', passkey.credential_id);
  // DESIGN invariant 1: an agent holds no key that could approve
  if (standing.kind === 'agent') return reject(d, caller, 'passkey_register', 'AGENT_CANNOT_REGISTER', 'an agent cannot register a passkey', passkey.credential_id);
  // INVARIANT: a credential id belongs to one principal for good, revoked or not, so a signature by it names one person
  if (state.passkeys.has(passkey.credential_id)) {
    return reject(d, caller, 'passkey_register', 'PASSKEY_EXISTS', 'this passkey is already registered', passkey.credential_id);
  }
  d.push(
    'passkey.registered',
    { principal: caller.principal, passkey: passkey.credential_id },
    {
      credential_id: passkey.credential_id,
      principal: caller.principal,
      public_key: { ...passkey.public_key },
      algorithm: passkey.algorithm,
      rp_id: passkey.rp_id,
      origin: passkey.origin,
      identity: command.identity === null ? null : { issuer: command.identity.issuer, subject: command.identity.subject },
      credential: caller.credential,
    },
  );
  return { entries: d.list, result: { ok: true, credential_id: passkey.credential_id, principal: caller.principal, revoked: false } };
}

/** The passkey's own principal revokes it, or a holder of a `credentials.admin_roles` role (a lost device, a leaver). */
export function revokePasskey(state: AuthorityState, policy: CompiledPolicy | null, command: RevokePasskeyCommand, ctx: CommandContext): CommandOutput<PasskeyResult> {
  const compiled = assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const passkey = state.passkeys.get(command.credential_id);
  if (passkey === undefined || passkey.revoked_at !== null) {
    return reject(d, caller, 'passkey_revoke', 'PASSKEY_UNKNOWN', 'no registered passkey with this id', command.credential_id);
  }
  const standing = standingOf(compiled, caller.principal);
  const admin = standing.kind === 'human' && standing.principal.roles.some((role) => compiled.bundle.credentials?.admin_roles.includes(role) ?? false);
  if (passkey.principal !== caller.principal && !admin) {
    return reject(d, caller, 'passkey_revoke', 'PASSKEY_NOT_YOURS', 'only its own principal or a token administrator revokes a passkey', command.credential_id);
  }
  d.push(
    'passkey.revoked',
    { principal: passkey.principal, passkey: passkey.credential_id },
    { credential_id: passkey.credential_id, principal: passkey.principal, revoked_by: caller.principal, credential: caller.credential },
  );
  return { entries: d.list, result: { ok: true, credential_id: passkey.credential_id, principal: passkey.principal, revoked: true } };
}
