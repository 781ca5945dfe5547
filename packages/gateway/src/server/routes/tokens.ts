import { ENDPOINTS } from '@countersign/client/contract';
import { parseDuration, type Caller, type PolicyBundle } from '@countersign/core';
import { credentialView, type CredentialStore } from '../../auth/credential-store.js';
import { issueCredential, revokeCredential } from '../../auth/credentials.js';
import type { CredentialEvent } from '../../service/gateway.js';
import { ApiError, route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, type ServerContext } from '../context.js';

/**
 * Token administration over the API (issue 16): holders of a role the
 * bundle's `credentials.admin_roles` lists issue, list and revoke tokens, so
 * nobody needs the database file. Every issue and revocation is a ledger
 * entry naming who did it (`credential.issued`, `credential.revoked`, never
 * the secret); every refusal is `authority.rejected` (operation
 * `token_admin`).
 *
 * An administrator never issues a token for themselves: a second token on
 * another surface is exactly what the surface rules of approval exist to
 * prevent (approving from "elsewhere"), so minting one's own authority goes
 * through someone else. Nor a token for another human on a surface that
 * approvals, override signatures or release signatures may come from: such a
 * token signs as that person (a gateway-attested approval is theirs), so an
 * administrator holding one could approve as someone else. People get those
 * surfaces by signing in themselves (the console) or from whoever runs the
 * gateway (`token issue --db`). An agent's token is an agent's whoever
 * issues it: the operations table keeps it from approving, holding or
 * overriding.
 */

/** The longest a token issued over the API may live. */
export const MAX_TOKEN_LIFETIME_MS = 365 * 24 * 3_600_000;

/**
 * Surfaces where a token alone signs as its holder: those of every approval
 * requirement the gateway attests (`attestation: any`). Where a key is
 * required (override signatures, the default release quorum, `attestation:
 * key`), a token without the person's private key signs nothing.
 */
function signingSurfaces(bundle: PolicyBundle): Set<string> {
  const requirements = [...bundle.risk_classes.flatMap((c) => (c.approval === undefined ? [] : [c.approval])), ...(bundle.release === undefined ? [] : [bundle.release.approval])];
  return new Set(requirements.filter((r) => r.attestation === 'any').flatMap((r) => r.surfaces));
}


export function tokenRoutes(ctx: ServerContext, credentials: CredentialStore, record: (event: CredentialEvent) => Promise<void>): RouteSpec[] {
  /** A refusal, recorded before it is answered (DESIGN invariant 7); if it cannot be recorded, 503. */
  const refuse = async (caller: Caller, code: string, message: string, details: Record<string, unknown> = {}): Promise<never> => {
    try {
      await ctx.gateway.recordRefusal(caller, { operation: 'token_admin', code, rule: 'policy:credentials' });
    } catch {
      throw new ApiError('STORE_UNAVAILABLE', 'the refusal could not be recorded; try again');
    }
    ctx.feed.changed();
    throw new ApiError(code, message, details);
  };

  /** The caller administers tokens under the bundle in force, or the call is refused. */
  const administrator = async (caller: Caller): Promise<void> => {
    const served = activePolicy(ctx);
    if (served === null) throw new ApiError('BUNDLE_NOT_LOADED', 'the active bundle is not loaded on this replica');
    const roles = new Set(served.loaded.bundle.credentials?.admin_roles ?? []);
    const principal = served.loaded.bundle.principals.find((p) => p.id === caller.principal);
    if (principal === undefined || principal.kind !== 'human' || !principal.roles.some((r) => roles.has(r))) {
      await refuse(caller, 'NOT_TOKEN_ADMIN', roles.size === 0 ? 'the policy names no token administrators (`credentials.admin_roles`)' : `only holders of ${[...roles].join(', ')} administer tokens`);
    }
  };

  return [
    route(ENDPOINTS.issueToken, {
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        await administrator(caller);
        const bundle = activePolicy(ctx)!.loaded.bundle;
        if (body.principal === caller.principal) await refuse(caller, 'TOKEN_SELF_ISSUE', 'an administrator never issues a token for themselves: ask another administrator');
        if (!bundle.principals.some((p) => p.id === body.principal)) await refuse(caller, 'TOKEN_PRINCIPAL_UNKNOWN', `principal \`${body.principal}\` is not declared in the active policy`);
        if (!bundle.surfaces.some((s) => s.id === body.surface)) await refuse(caller, 'TOKEN_SURFACE_UNKNOWN', `surface \`${body.surface}\` is not declared in the active policy`);
        const human = bundle.principals.find((p) => p.id === body.principal)?.kind === 'human';
        if (human && signingSurfaces(bundle).has(body.surface)) {
          await refuse(caller, 'TOKEN_SIGNING_SURFACE', `a token on \`${body.surface}\` would sign approvals as \`${body.principal}\`: people get it by signing in themselves, or from whoever runs the gateway`);
        }
        let lifetime = 30 * 24 * 3_600_000;
        if (body.expires_in !== undefined) {
          try {
            lifetime = parseDuration(body.expires_in);
          } catch {
            throw new ApiError('VALIDATION_FAILED', '`expires_in` is a duration such as `12h` or `30d`');
          }
          if (!(lifetime > 0 && lifetime <= MAX_TOKEN_LIFETIME_MS)) throw new ApiError('VALIDATION_FAILED', '`expires_in` is at most 365d');
        }
        const now = ctx.clock();
        const issued = await issueCredential(credentials, { principal: body.principal, surface: body.surface, expiresAt: now + lifetime }, now);
        const view = credentialView(issued.credential);
        await record({ kind: 'issued', credential: view.id, principal: view.principal, surface: view.surface, expires_at: view.expires_at, by: caller });
        return { token: issued.token, ...view };
      },
    }),
    route(ENDPOINTS.listTokens, {
      handler: async ({ query, request }) => {
        await administrator(callerFrom(request));
        const all = await credentials.list();
        return {
          tokens: all
            .filter((c) => query.principal === undefined || c.principal === query.principal)
            .map(credentialView),
        };
      },
    }),
    route(ENDPOINTS.revokeToken, {
      handler: async ({ params, request }) => {
        const caller = callerFrom(request);
        await administrator(caller);
        const known = (await credentials.status(params.id)) !== null;
        if (!known) throw new ApiError('CREDENTIAL_UNKNOWN', `no token \`${params.id}\``);
        const revoked = await revokeCredential(credentials, params.id, ctx.clock());
        const view = credentialView(revoked);
        await record({ kind: 'revoked', credential: view.id, principal: view.principal, surface: view.surface, expires_at: view.expires_at, by: caller });
        return view;
      },
    }),
  ];
}
