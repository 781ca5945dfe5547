import { describe, expect, it } from 'vitest';
import { cookieOf, credentialHeader, CSRF_HEADER, csrfToken, SESSION_COOKIE, sessionCookie } from './session.js';

const TOKEN = 'cst_aaaaaaaaaaaaaaaa_secret';

describe('console sessions', () => {
  it('prefers the bearer header, and needs no CSRF token with it', () => {
    expect(credentialHeader({ method: 'POST', headers: { authorization: 'Bearer x', cookie: `${SESSION_COOKIE}=${TOKEN}` } })).toBe('Bearer x');
  });

  it('reads the session cookie for safe methods without a CSRF token', () => {
    expect(credentialHeader({ method: 'GET', headers: { cookie: `other=1; ${SESSION_COOKIE}=${TOKEN}` } })).toBe(`Bearer ${TOKEN}`);
  });

  it('refuses a change by cookie without the session’s own CSRF token', () => {
    const headers = { cookie: `${SESSION_COOKIE}=${TOKEN}` };
    expect(() => credentialHeader({ method: 'POST', headers })).toThrow(expect.objectContaining({ code: 'CSRF_FAILED' }));
    expect(() => credentialHeader({ method: 'POST', headers: { ...headers, [CSRF_HEADER]: csrfToken('cst_other_secret') } })).toThrow(expect.objectContaining({ code: 'CSRF_FAILED' }));
    expect(credentialHeader({ method: 'POST', headers: { ...headers, [CSRF_HEADER]: csrfToken(TOKEN) } })).toBe(`Bearer ${TOKEN}`);
  });

  it('finds a cookie by its exact name only', () => {
    expect(cookieOf({ headers: { cookie: `x${SESSION_COOKIE}=1; a=2` } }, SESSION_COOKIE)).toBeUndefined();
    expect(cookieOf({ headers: { cookie: 'a=1;b=2' } }, 'b')).toBe('2');
    expect(cookieOf({ headers: {} }, 'a')).toBeUndefined();
  });

  it('sets the session cookie HttpOnly, Secure, SameSite=Strict and host-only', () => {
    expect(sessionCookie(TOKEN, 3600)).toBe(`${SESSION_COOKIE}=${TOKEN}; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict`);
  });
});
