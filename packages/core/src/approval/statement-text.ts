import { canonicalJson } from '../canonical.js';
import { nfcDeep } from '../authority/nfc.js';

/**
 * The text an approval statement is signed as, without hashing or keys: the
 * one piece the approver console also computes, in the browser, to derive
 * the passkey challenge from what it shows (browser.ts). Nothing here may
 * import node:* modules.
 */

/** How a statement is vouched for; each signs different bytes (see CONTEXTS). */
export type AttestationKind = 'key' | 'gateway' | 'passkey';

/** The statement's fields, as signed. Validated with `parseStatement` before they reach here. */
export interface StatementFields {
  readonly request: string;
  readonly step_digest: string;
  readonly bundle_id: string;
  readonly decision: 'approve' | 'deny';
  readonly approver: string;
  readonly surface: string;
  readonly reason: string;
  readonly signed_at: string;
}

// Domain separation: the signed bytes start with a context line, so a
// signature over an approval can never be replayed as an override signature,
// a checkpoint or a grant, and one attestation never reads as another (same
// idea as the C2SP signed-note and DSSE PAE prefixes).
const CONTEXTS: Readonly<Record<AttestationKind, string>> = {
  key: 'countersign/approval/v1\n',
  gateway: 'countersign/approval-gateway/v1\n',
  passkey: 'countersign/approval-passkey/v1\n',
};

/** Context line, then RFC 8785 canonical JSON of the NFC-normalised statement. */
export function statementText(stmt: StatementFields, attestation: AttestationKind): string {
  return CONTEXTS[attestation] + canonicalJson(nfcDeep({ ...stmt }));
}
