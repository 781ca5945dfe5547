import type { PeerCertificate } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { certificatePrincipals, clientCertRefusal, subjectAltNames } from './client-cert.js';

const cert = (subject: Record<string, string | string[]>, subjectaltname?: string) =>
  ({ subject, ...(subjectaltname === undefined ? {} : { subjectaltname }), raw: Buffer.from('x') }) as unknown as PeerCertificate;

describe('subjectAltNames', () => {
  it('reads node:tls entries, quoted ones included, and names nothing from a list it cannot read', () => {
    expect(subjectAltNames('DNS:a.example, URI:countersign:principal/exec-1, IP Address:127.0.0.1')).toEqual([
      { type: 'DNS', value: 'a.example' },
      { type: 'URI', value: 'countersign:principal/exec-1' },
      { type: 'IP Address', value: '127.0.0.1' },
    ]);
    // Node >= 17.3 quotes a value holding a comma, so it cannot smuggle a second entry
    expect(subjectAltNames('URI:"countersign:principal/a, URI:countersign:principal/b"')).toEqual([{ type: 'URI', value: 'countersign:principal/a, URI:countersign:principal/b' }]);
    expect(subjectAltNames(undefined)).toEqual([]);
    expect(subjectAltNames('URI:"unterminated')).toEqual([]);
  });
});

describe('certificatePrincipals', () => {
  it('takes the principal URIs, else the one subject CN', () => {
    expect(certificatePrincipals(cert({ CN: 'host-7' }, 'DNS:host-7, URI:countersign:principal/exec-1'))).toEqual(['exec-1']);
    expect(certificatePrincipals(cert({ CN: 'exec-2' }, 'URI:https://example.com/x'))).toEqual(['exec-2']);
    expect(certificatePrincipals(cert({ CN: 'exec-2' }))).toEqual(['exec-2']);
    // two CNs, or none: no principal
    expect(certificatePrincipals(cert({ CN: ['a', 'b'] }))).toEqual([]);
    expect(certificatePrincipals(cert({ O: 'org' }))).toEqual([]);
    // an empty id after the prefix names nobody
    expect(certificatePrincipals(cert({}, 'URI:countersign:principal/'))).toEqual([]);
  });
});

describe('clientCertRefusal', () => {
  const socket = (authorized: boolean, peer: PeerCertificate | Record<string, never>) => ({ authorized, getPeerCertificate: () => peer as PeerCertificate });
  it('is missing without a certificate or on a plain socket, invalid when the chain failed, a mismatch for another principal', () => {
    expect(clientCertRefusal({}, 'exec-1')?.code).toBe('CLIENT_CERT_MISSING');
    expect(clientCertRefusal(socket(false, {}), 'exec-1')?.code).toBe('CLIENT_CERT_MISSING');
    expect(clientCertRefusal(socket(false, cert({ CN: 'exec-1' })), 'exec-1')?.code).toBe('CLIENT_CERT_INVALID');
    expect(clientCertRefusal(socket(true, cert({ CN: 'exec-2' })), 'exec-1')).toEqual({ code: 'CLIENT_CERT_MISMATCH', message: "the client certificate does not name the token's principal `exec-1`" });
    // a URI outranks the CN: a CN that happens to match does not
    expect(clientCertRefusal(socket(true, cert({ CN: 'exec-1' }, 'URI:countersign:principal/exec-2')), 'exec-1')?.code).toBe('CLIENT_CERT_MISMATCH');
    expect(clientCertRefusal(socket(true, cert({ CN: 'host' }, 'URI:countersign:principal/exec-1')), 'exec-1')).toBeNull();
  });
});
