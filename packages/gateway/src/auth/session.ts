import { createHash, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../server/api-error.js';

/**
 * The approver console's session (issue 14): a credential of the console's
 * surface, minted at sign-in, kept in an HttpOnly, Secure, SameSite=Strict
 * cookie. Every replica reads it from the shared credential table, so a
 * session works behind a load balancer, and signing out revokes it
 * everywhere. A call authenticated by the cookie that changes anything must
 * carry the CSRF token, a digest of the session token the console reads from
 * `GET /console/session` (same origin only); a bearer header needs none.
 */
export const SESSION_COOKIE = '__Host-countersign-session';
export const CSRF_HEADER = 'x-countersign-csrf';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The value of one cookie of the request, or undefined. */
export function cookieOf(request: Pick<FastifyRequest, 'headers'>, name: string): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at === -1) continue;
    if (part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}

/** The CSRF token of a session: derived, so no replica needs to have stored it. */
export function csrfToken(sessionToken: string): string {
  return createHash('sha256').update(`countersign-csrf\u0000${sessionToken}`, 'utf8').digest('base64url');
}

/**
 * The `Authorization` value a request authenticates with: its bearer header,
 * or else its session cookie, in which case a state-changing method must
 * carry the session's CSRF token (CSRF_FAILED, 403, otherwise).
 */
export function credentialHeader(request: Pick<FastifyRequest, 'headers' | 'method'>): string | undefined {
  if (request.headers.authorization !== undefined) return request.headers.authorization;
  const session = cookieOf(request, SESSION_COOKIE);
  if (session === undefined || session === '') return undefined;
  if (!SAFE_METHODS.has(request.method)) {
    const given = request.headers[CSRF_HEADER];
    const expected = Buffer.from(csrfToken(session));
    const presented = Buffer.from(typeof given === 'string' ? given : '');
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      throw new ApiError('CSRF_FAILED', `a console call that changes anything must carry \`${CSRF_HEADER}\` from GET /console/session`);
    }
  }
  return `Bearer ${session}`;
}

/** `Set-Cookie` for a session: HttpOnly, Secure, SameSite=Strict, host-only (`__Host-`), until it expires. */
export function sessionCookie(token: string, maxAgeS: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeS))}; HttpOnly; Secure; SameSite=Strict`;
}

export function clearedCookie(name: string): string {
  return `${name}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict`;
}

/**
 * Who the identity provider said signed in, for the session that sign-in
 * opened: `{ credential, issuer, subject }` signed by the gateway's key, in
 * its own HttpOnly cookie beside the session's. A passkey registered from the
 * session records it (issue 14). No replica stores it: any replica holding
 * the gateway's key verifies it, and it names its session, so it is worth
 * nothing beside another.
 */
export const IDENTITY_COOKIE = '__Host-countersign-identity';
const IDENTITY_CONTEXT = 'countersign/session-identity/v1\n';

export interface SessionIdentity {
  readonly issuer: string;
  readonly subject: string;
}

/** `Set-Cookie` for the identity behind session `credential`, signed with the gateway's private key. */
export function identityCookie(credential: string, identity: SessionIdentity, gatewayKey: KeyObject, maxAgeS: number): string {
  const body = Buffer.from(JSON.stringify({ c: credential, i: identity.issuer, s: identity.subject }));
  const signature = sign(null, Buffer.concat([Buffer.from(IDENTITY_CONTEXT), body]), gatewayKey);
  return `${IDENTITY_COOKIE}=${body.toString('base64url')}.${signature.toString('base64url')}; Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeS))}; HttpOnly; Secure; SameSite=Strict`;
}

/** The identity the cookie vouches for, if the gateway signed it for session `credential`; null otherwise (a token sign-in has none). */
export function sessionIdentity(request: Pick<FastifyRequest, 'headers'>, credential: string, gatewayPublicKey: KeyObject): SessionIdentity | null {
  const value = cookieOf(request, IDENTITY_COOKIE);
  const [body, signature, extra] = (value ?? '').split('.');
  if (body === undefined || body === '' || signature === undefined || extra !== undefined) return null;
  try {
    const bytes = Buffer.from(body, 'base64url');
    if (!verify(null, Buffer.concat([Buffer.from(IDENTITY_CONTEXT), bytes]), gatewayPublicKey, Buffer.from(signature, 'base64url'))) return null;
    const claims = JSON.parse(bytes.toString('utf8')) as { c?: unknown; i?: unknown; s?: unknown };
    return claims.c === credential && typeof claims.i === 'string' && typeof claims.s === 'string' ? { issuer: claims.i, subject: claims.s } : null;
  } catch {
    return null;
  }
}
