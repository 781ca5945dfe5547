import { randomBytes, sign, verify } from 'node:crypto';
import { generateRegistrationOptions, verifyRegistrationResponse, type RegistrationResponseJSON } from '@simplewebauthn/server';
import { cose, decodeCredentialPublicKey } from '@simplewebauthn/server/helpers';
import type { z } from 'zod';
import { ENDPOINTS, type PasskeyCreationOptions, type PasskeyView } from '@countersign/client/contract';
import { PASSKEY_ALGORITHMS, type PasskeyAlgorithm, type PasskeyJwk, type PasskeyRecord } from '@countersign/core';
import { sessionIdentity } from '../../auth/session.js';
import { ApiError, route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, type ServerContext } from '../context.js';

/**
 * Passkeys (issue 14, ADR 004): a person signed in to the console registers
 * a passkey of their own, and from then on approves with it where a risk
 * class demands the approver's own key. The WebAuthn registration ceremony
 * is verified here (@simplewebauthn/server); the authority model records the
 * key (`passkey.registered`) and checks every later signature against it
 * without the library (core approval/passkey.ts), as `ledger verify` does.
 *
 * No state between the two calls of a registration: the challenge is the
 * gateway's own signature over the session credential and an expiry, so any
 * replica verifies the answer, and a challenge issued to one session is
 * useless to another.
 */
export interface PasskeyRouteOptions {
  /** The console's surface: registrations come from a signed-in console session only. */
  readonly surface: string;
  /** The origin browsers reach the console at; its host name is the WebAuthn RP ID. */
  readonly publicUrl: () => string;
}

const CHALLENGE_MS = 5 * 60_000;
const CHALLENGE_CONTEXT = 'countersign/passkey-registration/v1\n';

function passkeyView(p: PasskeyRecord): z.input<typeof PasskeyView> {
  return { credential_id: p.credential_id, principal: p.principal, algorithm: p.algorithm, origin: p.origin, registered_at: p.registered_at, revoked_at: p.revoked_at, revoked_by: p.revoked_by };
}

/** The RP ID and origin of the console, from its public URL. */
function relyingParty(options: PasskeyRouteOptions): { readonly rpId: string; readonly origin: string } {
  const url = new URL(options.publicUrl());
  return { rpId: url.hostname, origin: url.origin };
}

/** The COSE key WebAuthn registered, as the JWK the ledger records; null for a key type we do not accept. */
function jwkOf(publicKey: Uint8Array<ArrayBuffer>): { readonly jwk: PasskeyJwk; readonly algorithm: PasskeyAlgorithm } | null {
  const key = decodeCredentialPublicKey(publicKey);
  const alg = key.get(cose.COSEKEYS.alg);
  const b64 = (v: unknown): string | null => (v instanceof Uint8Array ? Buffer.from(v).toString('base64url') : null);
  if (!PASSKEY_ALGORITHMS.includes(alg as PasskeyAlgorithm)) return null;
  if (cose.isCOSEPublicKeyEC2(key) && alg === -7 && key.get(cose.COSEKEYS.crv) === cose.COSECRV.P256) {
    const x = b64(key.get(cose.COSEKEYS.x));
    const y = b64(key.get(cose.COSEKEYS.y));
    return x === null || y === null ? null : { jwk: { kty: 'EC', crv: 'P-256', x, y }, algorithm: -7 };
  }
  if (cose.isCOSEPublicKeyOKP(key) && alg === -8 && key.get(cose.COSEKEYS.crv) === cose.COSECRV.ED25519) {
    const x = b64(key.get(cose.COSEKEYS.x));
    return x === null ? null : { jwk: { kty: 'OKP', crv: 'Ed25519', x }, algorithm: -8 };
  }
  if (cose.isCOSEPublicKeyRSA(key) && alg === -257) {
    const n = b64(key.get(cose.COSEKEYS.n));
    const e = b64(key.get(cose.COSEKEYS.e));
    return n === null || e === null ? null : { jwk: { kty: 'RSA', n, e }, algorithm: -257 };
  }
  return null;
}

export function passkeyRoutes(ctx: ServerContext, options: PasskeyRouteOptions | undefined): RouteSpec[] {
  /** A challenge only this gateway could have made, for this session, until it expires. */
  const challengeFor = (credential: string, now: number): string => {
    const body = Buffer.from(JSON.stringify({ c: credential, e: now + CHALLENGE_MS, n: randomBytes(16).toString('base64url') }));
    const signature = sign(null, Buffer.concat([Buffer.from(CHALLENGE_CONTEXT), body]), ctx.key);
    return `${body.toString('base64url')}.${signature.toString('base64url')}`;
  };
  const challengeValid = (challenge: string, credential: string, now: number): boolean => {
    const [body, signature, extra] = challenge.split('.');
    if (body === undefined || signature === undefined || extra !== undefined) return false;
    const bytes = Buffer.from(body, 'base64url');
    try {
      if (!verify(null, Buffer.concat([Buffer.from(CHALLENGE_CONTEXT), bytes]), ctx.reader.publicKey, Buffer.from(signature, 'base64url'))) return false;
      const claims = JSON.parse(bytes.toString('utf8')) as { c?: unknown; e?: unknown };
      return claims.c === credential && typeof claims.e === 'number' && now < claims.e;
    } catch {
      return false;
    }
  };
  /**
   * Registration is the console's: a session of its surface, for the
   * principal signed in. Another surface is refused and the refusal recorded
   * like any other (DESIGN invariant 7: 503 if it cannot be).
   */
  const consoleCaller = async (request: Parameters<typeof callerFrom>[0]) => {
    if (options === undefined) throw new ApiError('NOT_FOUND', 'this gateway serves no console: passkeys are registered from a console session');
    const caller = callerFrom(request);
    if (caller.surface !== options.surface) {
      try {
        await ctx.gateway.recordRefusal(caller, { operation: 'passkey_register', code: 'SURFACE_NOT_ALLOWED', rule: 'passkey:console_session' });
      } catch {
        throw new ApiError('STORE_UNAVAILABLE', 'the refusal could not be recorded; try again');
      }
      throw new ApiError('SURFACE_NOT_ALLOWED', `passkeys are registered from a console session (\`${options.surface}\`), not from \`${caller.surface}\``);
    }
    return { caller, options };
  };

  return [
    route(ENDPOINTS.passkeyRegistrationOptions, {
      handler: async ({ request }) => {
        const { caller, options: console } = await consoleCaller(request);
        const { rpId } = relyingParty(console);
        const own = [...ctx.reader.state.passkeys.values()].filter((p) => p.principal === caller.principal && p.revoked_at === null);
        const generated = await generateRegistrationOptions({
          rpName: 'Countersign',
          rpID: rpId,
          userName: caller.principal,
          userID: new TextEncoder().encode(caller.principal),
          challenge: new TextEncoder().encode(challengeFor(caller.credential, ctx.clock())),
          attestationType: 'none',
          // an authenticator that already holds one of this person's passkeys is not asked for a second
          excludeCredentials: own.map((p) => ({ id: p.credential_id })),
          authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
          supportedAlgorithmIDs: [...PASSKEY_ALGORITHMS],
        });
        return generated as unknown as z.input<typeof PasskeyCreationOptions>;
      },
    }),
    route(ENDPOINTS.registerPasskey, {
      handler: async ({ body, request }) => {
        const { caller, options: console } = await consoleCaller(request);
        const { rpId, origin } = relyingParty(console);
        const now = ctx.clock();
        let verification;
        try {
          verification = await verifyRegistrationResponse({
            response: body as RegistrationResponseJSON,
            expectedChallenge: (challenge) => challengeValid(Buffer.from(challenge, 'base64url').toString('utf8'), caller.credential, now),
            expectedOrigin: origin,
            expectedRPID: rpId,
            requireUserVerification: true,
            supportedAlgorithmIDs: [...PASSKEY_ALGORITHMS],
          });
        } catch (err) {
          // the library's message says which check failed; it carries nothing secret
          throw new ApiError('PASSKEY_REGISTRATION_FAILED', `the passkey registration did not verify: ${err instanceof Error ? err.message : 'unknown error'}`);
        }
        if (!verification.verified) throw new ApiError('PASSKEY_REGISTRATION_FAILED', 'the passkey registration did not verify');
        const key = jwkOf(new Uint8Array(verification.registrationInfo.credential.publicKey));
        if (key === null) throw new ApiError('PASSKEY_REGISTRATION_FAILED', 'the passkey uses a key type the gateway does not accept (ES256, EdDSA or RS256)');
        const result = await run(ctx, () =>
          ctx.gateway.registerPasskey(
            caller,
            { credential_id: verification.registrationInfo.credential.id, public_key: key.jwk, algorithm: key.algorithm, rp_id: rpId, origin },
            // who the identity provider said signed in to this session (null for a development token sign-in)
            sessionIdentity(request, caller.credential, ctx.reader.publicKey),
          ),
        );
        const recorded = ctx.reader.state.passkeys.get(result.credential_id);
        if (recorded === undefined) throw new ApiError('INTERNAL', 'the passkey was recorded but is not in the state');
        return passkeyView(recorded);
      },
    }),
    route(ENDPOINTS.listPasskeys, {
      handler: async ({ query, request }) => {
        const caller = callerFrom(request);
        const principal = query.principal ?? caller.principal;
        if (principal !== caller.principal) {
          const served = activePolicy(ctx);
          const roles = new Set(served?.loaded.bundle.credentials?.admin_roles ?? []);
          const mine = served?.roster.get(caller.principal)?.roles ?? new Set<string>();
          if (![...mine].some((r) => roles.has(r))) throw new ApiError('FORBIDDEN', "only a token administrator lists another person's passkeys");
        }
        return { passkeys: [...ctx.reader.state.passkeys.values()].filter((p) => p.principal === principal).map(passkeyView) };
      },
    }),
    route(ENDPOINTS.revokePasskey, {
      handler: async ({ params, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.revokePasskey(caller, params.id));
        const recorded = ctx.reader.state.passkeys.get(result.credential_id);
        if (recorded === undefined) throw new ApiError('INTERNAL', 'the passkey was revoked but is not in the state');
        return passkeyView(recorded);
      },
    }),
  ];
}
