import type { PeerCertificate } from 'node:tls';

/**
 * Client certificates for executor surfaces (issue 16, part 4). A token is a
 * bearer secret: whoever holds it acts. For the surfaces an operator names
 * (`tls.client_cert_surfaces`), a token counts only when it arrives over a
 * TLS connection whose client certificate chains to the configured CA
 * (`tls.client_ca`) and names the token's principal. A stolen executor token
 * is then useless without that executor's private key.
 *
 * The certificate names a principal by a URI subject alternative name
 * `countersign:principal/<id>` (RFC 5280 §4.2.1.6); a certificate without
 * such a URI names the principal of its one subject CN. The surface is the
 * token's: a certificate proves who, the token says through what.
 */

export const PRINCIPAL_URI_PREFIX = 'countersign:principal/';

/** The rule an `authority.rejected` entry cites for a refusal here. */
export const CLIENT_CERT_RULE = 'tls:client_cert';

export type ClientCertCode = 'CLIENT_CERT_MISSING' | 'CLIENT_CERT_INVALID' | 'CLIENT_CERT_MISMATCH';

export interface ClientCertRefusal {
  readonly code: ClientCertCode;
  readonly message: string;
}

/** What the check reads of a connection: node:tls's TLSSocket, or a plain socket that has none of it. */
export interface PeerConnection {
  readonly authorized?: boolean;
  /** An empty object when the peer sent no certificate (node:tls), whatever the type says. */
  getPeerCertificate?(detailed?: boolean): PeerCertificate;
}

/**
 * The entries of node:tls's `subjectaltname` string: `TYPE:value` joined by
 * `, `, a value JSON-quoted when it holds a character that would make the
 * list ambiguous (Node >= 17.3, CVE-2021-44532).
 */
export function subjectAltNames(text: string | undefined): { readonly type: string; readonly value: string }[] {
  if (text === undefined || text === '') return [];
  const names: { type: string; value: string }[] = [];
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
  while (entry.lastIndex < text.length) {
    const start = entry.lastIndex;
    const m = entry.exec(text);
    // INVARIANT: a list that does not parse names nobody (fail closed), rather than a guess
    if (m === null || entry.lastIndex === start) return [];
    const raw = m[2]!;
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        return [];
      }
    }
    names.push({ type: m[1]!, value });
  }
  return names;
}

/** The principals a certificate names: its `countersign:principal/<id>` URIs, else its one subject CN. */
export function certificatePrincipals(cert: Pick<PeerCertificate, 'subject' | 'subjectaltname'>): string[] {
  const uris = subjectAltNames(cert.subjectaltname)
    .filter((n) => n.type === 'URI' && n.value.startsWith(PRINCIPAL_URI_PREFIX))
    .map((n) => n.value.slice(PRINCIPAL_URI_PREFIX.length))
    .filter((id) => id !== '');
  if (uris.length > 0) return uris;
  const cn = (cert.subject as Record<string, string | string[] | undefined> | undefined)?.['CN'];
  // several CNs: which one is meant is a guess, so none is
  return typeof cn === 'string' && cn !== '' ? [cn] : [];
}

/**
 * Null when `connection` carries a client certificate that chains to the
 * configured CA and names `principal`; the refusal otherwise. The chain was
 * checked by node:tls during the handshake (`requestCert` with
 * `rejectUnauthorized: false`, so callers on other surfaces connect without
 * one); `authorized` is its verdict, expiry included.
 */
export function clientCertRefusal(connection: PeerConnection, principal: string): ClientCertRefusal | null {
  const cert = connection.getPeerCertificate?.(false);
  if (cert === undefined || (cert.raw as Buffer | undefined) === undefined) {
    return { code: 'CLIENT_CERT_MISSING', message: 'this surface needs a client certificate; present one issued for your principal' };
  }
  // a failed check says only that it failed: which step of the chain is not the caller's business
  if (connection.authorized !== true) return { code: 'CLIENT_CERT_INVALID', message: 'the client certificate is not one this gateway accepts' };
  const named = certificatePrincipals(cert);
  if (!named.includes(principal)) {
    return { code: 'CLIENT_CERT_MISMATCH', message: `the client certificate does not name the token's principal \`${principal}\`` };
  }
  return null;
}
