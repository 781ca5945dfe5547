import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import * as oidc from 'openid-client';
import { principalForIdentity } from '@countersign/core';
import { authenticate, authorize, type Identity } from '../auth/credentials.js';
import type { CredentialStore } from '../auth/credential-store.js';
import { issueCredential, revokeCredential } from '../auth/credentials.js';
import { clearedCookie, cookieOf, credentialHeader, csrfToken, IDENTITY_COOKIE, identityCookie, SESSION_COOKIE, sessionCookie } from '../auth/session.js';
import { ApiError } from '../server/api-error.js';
import { activePolicy, type ServerContext } from '../server/context.js';
import type { SessionEvent } from '../service/gateway.js';

/**
 * The approver console (issue 14): its page and assets, sign-in through the
 * organisation's OpenID Connect provider (authorization code with PKCE), and
 * the session that follows. Everything it shows and does goes through the
 * same `/v1` API as every other client; the console adds no authority.
 *
 * No state lives in this process: the sign-in's PKCE verifier, state and
 * nonce travel in a short-lived HttpOnly cookie, and the session is a
 * credential in the shared table, so any replica completes a sign-in another
 * began and serves a session another opened.
 */
export interface ConsoleOptions {
  /** The surface every console session acts from; the policy must declare it. */
  readonly surface: string;
  /** The origin browsers reach the gateway at (asked when needed: it may be known only once listening); the OIDC redirect and the links point here. */
  readonly publicUrl: () => string;
  /** OpenID Connect sign-in; absent: no identity-provider sign-in. */
  readonly oidc?: { readonly issuer: string; readonly clientId: string; readonly clientSecret?: string };
  /** Development only: sign in by pasting a token of the console's surface. Off unless set. */
  readonly tokenSignIn?: boolean;
  /** How long a session lasts. Default 8 h. */
  readonly sessionMs?: number;
}

/** Where the page and its assets are: the static files beside the package, the compiled script in dist. */
const STATIC_DIR = fileURLToPath(new URL('../../console/', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../console-app/app.js', import.meta.url));
const FLOW_COOKIE = '__Host-countersign-signin';
const FLOW_MS = 10 * 60_000;
const DEFAULT_SESSION_MS = 8 * 3_600_000;

/** The page's headers: nothing from elsewhere runs, nothing frames it, nothing is cached. */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

interface SignInFlow {
  readonly verifier: string;
  readonly state: string;
  readonly nonce: string;
  readonly expires: number;
}

function isLoopback(url: URL): boolean {
  return url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';
}

export function registerConsole(app: FastifyInstance, ctx: ServerContext, credentials: CredentialStore, options: ConsoleOptions, record: (event: SessionEvent) => Promise<void>): void {
  const sessionMs = options.sessionMs ?? DEFAULT_SESSION_MS;
  const assets: Record<string, { type: string; body: Buffer }> = {
    'app.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(SCRIPT) },
    'style.css': { type: 'text/css; charset=utf-8', body: readFileSync(`${STATIC_DIR}style.css`) },
  };
  const page = readFileSync(`${STATIC_DIR}index.html`);
  const redirectUri = (): string => `${options.publicUrl().replace(/\/+$/, '')}/console/callback`;

  let discovered: Promise<oidc.Configuration> | null = null;
  const provider = (): Promise<oidc.Configuration> => {
    const settings = options.oidc;
    if (settings === undefined) throw new ApiError('NOT_FOUND', 'this gateway has no identity provider configured');
    const issuer = new URL(settings.issuer);
    // plain http only for a provider on this machine (development and tests)
    const execute = isLoopback(issuer) && issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [];
    discovered ??= oidc
      .discovery(issuer, settings.clientId, settings.clientSecret === undefined ? { token_endpoint_auth_method: 'none' } : settings.clientSecret, undefined, { execute })
      .catch((err: unknown) => {
        discovered = null;
        throw err;
      });
    return discovered;
  };

  /** A session's principal and surface must still be declared by the bundle in force, as for any call. */
  const authorizeSession = (identity: Identity): void => {
    const served = activePolicy(ctx);
    if (served === null) throw new ApiError('BUNDLE_NOT_LOADED', 'the active bundle is not loaded on this replica');
    authorize(identity, 'status', served.roster, served.surfaces);
  };

  const sendPage = (reply: FastifyReply): FastifyReply => reply.headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(page);
  app.get('/console', async (_request, reply) => sendPage(reply));
  app.get('/console/requests/:id', async (_request, reply) => sendPage(reply));
  app.get('/console/passkeys', async (_request, reply) => sendPage(reply));
  app.get('/console/authority', async (_request, reply) => sendPage(reply));
  app.get('/console/overrides/:id', async (_request, reply) => sendPage(reply));
  app.get<{ Params: { file: string } }>('/console/assets/:file', async (request, reply) => {
    const asset = Object.hasOwn(assets, request.params.file) ? assets[request.params.file] : undefined;
    if (asset === undefined) throw new ApiError('NOT_FOUND', 'no such asset');
    return reply.headers({ 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' }).type(asset.type).send(asset.body);
  });

  /** Who is signed in, the CSRF token for their changes, and how one signs in otherwise (401). */
  app.get('/console/session', async (request, reply) => {
    const ways = { oidc: options.oidc !== undefined, token: options.tokenSignIn === true };
    const header = credentialHeader(request);
    if (header === undefined || request.headers.authorization !== undefined) {
      return reply.code(401).headers({ 'cache-control': 'no-store' }).send({ error: { code: 'TOKEN_MISSING', message: 'not signed in' }, sign_in: ways });
    }
    let identity;
    try {
      identity = await authenticate(credentials, header, ctx.clock());
    } catch (err) {
      return reply
        .code(401)
        .headers({ 'cache-control': 'no-store', 'set-cookie': clearedCookie(SESSION_COOKIE) })
        .send({ error: { code: err instanceof ApiError ? err.code : 'TOKEN_UNKNOWN', message: 'the session has ended; sign in again' }, sign_in: ways });
    }
    try {
      authorizeSession(identity);
    } catch (err) {
      return reply.code(403).headers({ 'cache-control': 'no-store' }).send({ error: { code: err instanceof ApiError ? err.code : 'FORBIDDEN', message: err instanceof Error ? err.message : 'forbidden' }, sign_in: ways });
    }
    const session = cookieOf(request, SESSION_COOKIE)!;
    return reply.headers({ 'cache-control': 'no-store' }).send({
      principal: identity.principal,
      surface: identity.surface,
      credential: identity.credentialId,
      csrf: csrfToken(session),
      sign_in: ways,
    });
  });

  /**
   * Server-Sent Events for the inbox: `changed` when this replica's ledger
   * grew (its follower included), a comment line otherwise every 15 s. A
   * closed stream waits out its current wait rather than waking every other
   * waiter of the process.
   */
  app.get('/console/events', async (request, reply) => {
    const header = credentialHeader(request);
    if (header === undefined || request.headers.authorization !== undefined) throw new ApiError('TOKEN_MISSING', 'not signed in');
    authorizeSession(await authenticate(credentials, header, ctx.clock()));
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    let open = true;
    request.raw.once('close', () => (open = false));
    const started = ctx.clock();
    let seen = ctx.reader.size;
    // bounded: a stream lasts ten minutes at most, the browser reconnects
    while (open && !ctx.feed.closed && ctx.clock() - started < 10 * 60_000) {
      await ctx.feed.next(15_000);
      if (!open) break;
      const size = ctx.reader.size;
      res.write(size === seen ? ': keep-alive\n\n' : 'event: changed\ndata: {}\n\n');
      seen = size;
    }
    res.end();
  });

  app.get('/console/login', async (_request, reply) => {
    const config = await provider();
    const flow: SignInFlow = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce(), expires: ctx.clock() + FLOW_MS };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri(),
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(flow.verifier),
      code_challenge_method: 'S256',
      state: flow.state,
      nonce: flow.nonce,
    });
    // Lax: the provider's redirect back is a cross-site navigation that must carry it
    const cookie = `${FLOW_COOKIE}=${Buffer.from(JSON.stringify(flow)).toString('base64url')}; Path=/; Max-Age=${FLOW_MS / 1000}; HttpOnly; Secure; SameSite=Lax`;
    return reply.headers({ 'set-cookie': cookie, 'cache-control': 'no-store' }).redirect(url.href, 302);
  });

  app.get('/console/callback', async (request, reply) => {
    const config = await provider();
    const flow = readFlow(cookieOf(request, FLOW_COOKIE), ctx.clock());
    if (flow === null) return refusePage(reply, 'SIGN_IN_EXPIRED', 'This sign-in was not started here, or took longer than ten minutes. Start again.');
    let claims: oidc.IDToken | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, new URL(request.url, options.publicUrl()), {
        pkceCodeVerifier: flow.verifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (err) {
      request.log.warn({ err: { name: (err as Error).name, code: (err as { code?: string }).code } }, 'sign-in failed at the identity provider');
      return refusePage(reply, 'SIGN_IN_FAILED', 'The identity provider did not complete the sign-in. Start again.');
    }
    if (claims === undefined) return refusePage(reply, 'SIGN_IN_FAILED', 'The identity provider sent no ID token.');
    const served = activePolicy(ctx);
    if (served === null) throw new ApiError('BUNDLE_NOT_LOADED', 'the active bundle is not loaded on this replica');
    const email = typeof claims['email'] === 'string' ? claims['email'] : undefined;
    const groups = Array.isArray(claims['groups']) ? claims['groups'].filter((g): g is string => typeof g === 'string') : undefined;
    const mapped = principalForIdentity(served.loaded.bundle, {
      iss: claims.iss,
      sub: claims.sub,
      email,
      email_verified: claims['email_verified'] === true,
      groups,
    });
    if ('code' in mapped) {
      await record({ kind: 'refused', surface: options.surface, issuer: claims.iss, subject: claims.sub, email: email ?? null, code: mapped.code });
      return refusePage(reply, mapped.code, 'Your identity is not mapped to anyone in the policy, so you cannot sign in here. Ask the policy owners to add you under `identities`.');
    }
    const now = ctx.clock();
    const issued = await issueCredential(credentials, { principal: mapped.principal, surface: options.surface, expiresAt: now + sessionMs }, now);
    await record({
      kind: 'opened',
      principal: mapped.principal,
      surface: options.surface,
      credential: issued.credential.id,
      issuer: claims.iss,
      subject: claims.sub,
      expires_at: new Date(now + sessionMs).toISOString(),
    });
    const identityOf = identityCookie(issued.credential.id, { issuer: claims.iss, subject: claims.sub }, ctx.key, sessionMs / 1000);
    return reply.headers({ 'set-cookie': [sessionCookie(issued.token, sessionMs / 1000), identityOf, clearedCookie(FLOW_COOKIE)], 'cache-control': 'no-store' }).redirect('/console', 302);
  });

  /** Development only (`--console-token-sign-in`): a token of the console's surface becomes the session. */
  app.post<{ Body: { token?: unknown } }>('/console/login/token', async (request, reply) => {
    if (options.tokenSignIn !== true) throw new ApiError('NOT_FOUND', 'token sign-in is off; start the gateway with --console-token-sign-in for development');
    const token = typeof request.body?.token === 'string' ? request.body.token.trim() : '';
    const identity = await authenticate(credentials, `Bearer ${token}`, ctx.clock());
    if (identity.surface !== options.surface) throw new ApiError('FORBIDDEN', `a console session acts from \`${options.surface}\`; this token is for \`${identity.surface}\``);
    return reply.headers({ 'set-cookie': sessionCookie(token, sessionMs / 1000), 'cache-control': 'no-store' }).code(204).send();
  });

  app.post('/console/logout', async (request, reply) => {
    // the CSRF check of any cookie-authenticated change applies
    const header = credentialHeader(request);
    if (header !== undefined && request.headers.authorization === undefined) {
      const identity = await authenticate(credentials, header, ctx.clock()).catch(() => null);
      if (identity !== null) {
        await revokeCredential(credentials, identity.credentialId, ctx.clock());
        await record({ kind: 'closed', principal: identity.principal, surface: identity.surface, credential: identity.credentialId });
      }
    }
    return reply.headers({ 'set-cookie': [clearedCookie(SESSION_COOKIE), clearedCookie(IDENTITY_COOKIE)], 'cache-control': 'no-store' }).code(204).send();
  });
}

function readFlow(cookie: string | undefined, now: number): SignInFlow | null {
  if (cookie === undefined) return null;
  try {
    const flow = JSON.parse(Buffer.from(cookie, 'base64url').toString('utf8')) as Partial<SignInFlow>;
    if (typeof flow.verifier !== 'string' || typeof flow.state !== 'string' || typeof flow.nonce !== 'string' || typeof flow.expires !== 'number') return null;
    return flow.expires > now ? (flow as SignInFlow) : null;
  } catch {
    return null;
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A refused sign-in, as a page a person reads: the code, why, and the way back. */
function refusePage(reply: FastifyReply, code: string, message: string): FastifyReply {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in refused · Countersign</title><link rel="stylesheet" href="/console/assets/style.css"></head><body><main class="refused"><h1>Sign-in refused</h1><p><code id="code">${escapeHtml(code)}</code></p><p>${escapeHtml(message)}</p><p><a href="/console">Back to the console</a></p></main></body></html>`;
  return reply.code(403).headers({ ...PAGE_HEADERS, 'set-cookie': clearedCookie(FLOW_COOKIE) }).type('text/html; charset=utf-8').send(html);
}

