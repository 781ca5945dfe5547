import { describe, expect, it } from 'vitest';
import { newEd25519KeyPair } from '@countersign/core';
import { cookieOf, credentialHeader, CSRF_HEADER, csrfToken, identityCookie, SESSION_COOKIE, sessionCookie, sessionIdentity } from './session.js';

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

describe('the identity behind a session', () => {
  const gateway = newEd25519KeyPair();
  const cookieHeader = (setCookie: string): string => setCookie.split(';')[0]!;

  it('is read back for the session it names, signed by the gateway: HttpOnly, Secure, SameSite=Strict', () => {
    const set = identityCookie('cred-1', { issuer: 'https://idp.example', subject: 'priya' }, gateway.privateKey, 3_600);
    expect(set).toMatch(/^__Host-countersign-identity=[^;]+; Path=\/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict$/);
    expect(sessionIdentity({ headers: { cookie: cookieHeader(set) } }, 'cred-1', gateway.publicKey)).toEqual({ issuer: 'https://idp.example', subject: 'priya' });
  });

  it('is nothing beside another session, under another key, edited, or absent', () => {
    const set = cookieHeader(identityCookie('cred-1', { issuer: 'https://idp.example', subject: 'priya' }, gateway.privateKey, 3_600));
    expect(sessionIdentity({ headers: { cookie: set } }, 'cred-2', gateway.publicKey)).toBeNull();
    expect(sessionIdentity({ headers: { cookie: set } }, 'cred-1', newEd25519KeyPair().publicKey)).toBeNull();
    const [name, value] = set.split('=') as [string, string];
    const [body, signature] = value.split('.') as [string, string];
    const forged = Buffer.from(Buffer.from(body, 'base64url').toString('utf8').replace('priya', 'mallory')).toString('base64url');
    expect(sessionIdentity({ headers: { cookie: `${name}=${forged}.${signature}` } }, 'cred-1', gateway.publicKey)).toBeNull();
    expect(sessionIdentity({ headers: {} }, 'cred-1', gateway.publicKey)).toBeNull();
  });
});
