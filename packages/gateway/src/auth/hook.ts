import type { FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { ApiError } from '../server/api-error.js';
import { FORBIDDEN_RULE } from '../server/forbidden.js';
import { CLIENT_CERT_RULE, clientCertRefusal, type PeerConnection } from './client-cert.js';
import type { CredentialStore } from './credential-store.js';
import { authenticate, authorize, VerifiedCredentials, type AuthorityRoster, type Identity, type Operation } from './credentials.js';
import { credentialHeader } from './session.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook once the bearer token checked out; absent on unauthenticated routes. */
    identity?: Identity;
  }
}

/** The slice of the active bundle authorization reads; a getter, because activating a bundle replaces it. */
export interface AuthorityView {
  readonly roster: AuthorityRoster;
  /** Surface ids the bundle declares; a credential of any other surface gets nothing. */
  readonly surfaces?: ReadonlySet<string>;
}

export interface GuardOptions {
  readonly credentials: CredentialStore;
  /** Epoch ms, injected so tests control expiry. */
  readonly clock: () => number;
  readonly authority: () => AuthorityView;
  /**
   * Called on every 403, and every refused client certificate, before it is
   * thrown, with the rule that refused, so the gateway can write the denial
   * to the ledger (`authority.rejected`, DESIGN.md invariant 7). If it
   * throws, its error is answered instead of the refusal: a refusal that
   * could not be recorded is never answered as if it were (it throws a 503).
   */
  readonly onForbidden?: (identity: Identity, operation: Operation, error: ApiError, rule: string) => void | Promise<void>;
  /**
   * Surfaces whose tokens count only with a client certificate naming their
   * principal (auth/client-cert.ts): 401 CLIENT_CERT_MISSING or _INVALID,
   * 403 CLIENT_CERT_MISMATCH, each recorded through `onForbidden`.
   */
  readonly clientCertSurfaces?: ReadonlySet<string>;
}

/** Authenticate and authorize one request: `const identity = await guard(request, 'propose')`. */
export type Guard = (request: FastifyRequest, operation: Operation) => Promise<Identity>;

/**
 * The one-line check for route handlers. Sets `request.identity` and returns
 * it, or throws ApiError with a 401 code (token) or FORBIDDEN (403, right).
 */
export function createGuard(options: GuardOptions): Guard {
  // one per guard: the credentials of this server's callers, revocation still read on every call
  const verified = new VerifiedCredentials();
  return async (request, operation) => {
    // a bearer header, or the console's session cookie (with its CSRF token on any change)
    const identity = await authenticate(options.credentials, credentialHeader(request), options.clock(), verified);
    // the certificate completes the credential, so it is checked before any right the credential carries
    if (options.clientCertSurfaces?.has(identity.surface) === true) {
      const refusal = clientCertRefusal(request.raw.socket as PeerConnection, identity.principal);
      if (refusal !== null) {
        const error = new ApiError(refusal.code, refusal.message);
        if (options.onForbidden) await options.onForbidden(identity, operation, error, CLIENT_CERT_RULE);
        throw error;
      }
    }
    request.identity = identity;
    const { roster, surfaces } = options.authority();
    try {
      authorize(identity, operation, roster, surfaces);
    } catch (err) {
      // still refused either way: a failure to record answers 503, never the operation
      if (options.onForbidden) await options.onForbidden(identity, operation, err as ApiError, FORBIDDEN_RULE);
      throw err;
    }
    return identity;
  };
}

/**
 * A Fastify preHandler that authenticates the bearer token and sets
 * `request.identity`. With `access`, it also authorizes `access.operation`.
 * Errors are ApiErrors, so the app's error handler maps them to 401/403.
 *
 *   app.addHook('preHandler', requireAuth(credentials, clock));
 *   app.post('/v1/proposals', { preHandler: requireAuth(credentials, clock, { operation: 'propose', authority }) }, handler);
 */
export function requireAuth(
  credentials: CredentialStore,
  clock: () => number,
  access?: { readonly operation: Operation } & Pick<GuardOptions, 'authority' | 'onForbidden'>,
): preHandlerAsyncHookHandler {
  if (access === undefined) {
    const verified = new VerifiedCredentials();
    return async (request) => {
      request.identity = await authenticate(credentials, request.headers.authorization, clock(), verified);
    };
  }
  const guard = createGuard({ credentials, clock, ...access });
  return async (request) => {
    await guard(request, access.operation);
  };
}

/** The identity the hook set; a route that forgot its hook fails closed instead of acting as nobody. */
export function identityOf(request: FastifyRequest): Identity {
  if (request.identity === undefined) {
    throw new Error('route reached without authentication: wire requireAuth or a guard before it');
  }
  return request.identity;
}
