import { sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { CountersignError } from '../errors.js';
import { UTC_TIMESTAMP } from '../authority/nfc.js';
import type { Roster } from '../policy/roster.js';
import { verifyPasskeyAssertion, type PasskeyAssertion, type PasskeyKey } from './passkey.js';
import { statementText, type AttestationKind } from './statement-text.js';

const TOKEN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const PRINCIPAL_ID = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const STEP_DIGEST = /^sha256:[0-9a-f]{64}$/;
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/**
 * What an approver says about one step of one request. Every field is bound by
 * the signature: the request, the exact step (its digest covers action,
 * environment, target, parameters and bundle id, DESIGN.md invariant 3), the
 * bundle, the decision, who, through which surface, why and when.
 */
export const ApprovalStatement = z.strictObject({
  request: z.string().regex(TOKEN),
  step_digest: z.string().regex(STEP_DIGEST),
  bundle_id: z.string().regex(TOKEN),
  decision: z.enum(['approve', 'deny']),
  approver: z.string().regex(PRINCIPAL_ID),
  surface: z.string().regex(PRINCIPAL_ID),
  reason: z.string().max(2_000),
  signed_at: z.string().regex(UTC_TIMESTAMP),
});
export type ApprovalStatement = z.infer<typeof ApprovalStatement>;

/**
 * How a statement is vouched for. `key`: signed by the approver with a key of
 * theirs in the roster. `passkey`: signed by the approver's own registered
 * passkey (WebAuthn), whose challenge is derived from the statement. Both are
 * the approver's own key: a risk class that demands `key` takes either.
 * `gateway`: the approver clicked in an authenticated console session and the
 * gateway signs the statement with its own key, naming the credential that
 * session used.
 */
export type ApprovalAttestation =
  | { readonly kind: 'key'; readonly key_id: string; readonly signature: string }
  | { readonly kind: 'gateway'; readonly credential_id: string; readonly signature: string }
  | PasskeyAssertion;

/** Whether an attestation is the approver's own key (a roster key or a registered passkey): what `attestation: key` demands. */
export function isOwnKey(kind: ApprovalAttestation['kind']): boolean {
  return kind === 'key' || kind === 'passkey';
}

/** Validate a statement that arrived from outside; throws STATEMENT_INVALID. */
export function parseStatement(input: unknown): ApprovalStatement {
  const parsed = ApprovalStatement.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue ? `/${issue.path.join('/')}` : '/';
    throw new CountersignError('STATEMENT_INVALID', `approval statement is invalid at \`${at}\``, { pointer: at });
  }
  return parsed.data;
}

/** The exact bytes signed: context line, then RFC 8785 canonical JSON of the NFC-normalised statement. */
export function statementBytes(stmt: ApprovalStatement, attestation: AttestationKind = 'key'): Uint8Array {
  return new TextEncoder().encode(statementText(stmt, attestation));
}

/** Ed25519 signature (base64url, no padding) by an approver over the statement. */
export function signStatement(stmt: ApprovalStatement, privateKey: KeyObject): string {
  return sign(null, statementBytes(stmt, 'key'), privateKey).toString('base64url');
}

/** Ed25519 attestation (base64url) by the gateway's own key, for a console approval. */
export function attestStatement(stmt: ApprovalStatement, gatewayPrivateKey: KeyObject): string {
  return sign(null, statementBytes(stmt, 'gateway'), gatewayPrivateKey).toString('base64url');
}

export type StatementVerification = { readonly verified: true; readonly keyId: string } | { readonly verified: false };

/**
 * Check a key signature against the approver's own roster keys. Only the keys
 * of the principal the statement names are tried, so a valid signature by
 * someone else never verifies. Any malformed input is simply "not verified".
 */
export function verifyStatement(stmt: ApprovalStatement, signature: string, roster: Roster, keyId?: string): StatementVerification {
  const approver = roster.get(stmt.approver);
  if (!approver || !SIGNATURE.test(signature)) return { verified: false };
  let bytes: Uint8Array;
  try {
    bytes = statementBytes(stmt, 'key');
  } catch {
    return { verified: false };
  }
  const sig = Buffer.from(signature, 'base64url');
  for (const [id, key] of approver.keys) {
    if (keyId !== undefined && id !== keyId) continue;
    if (verify(null, bytes, key, sig)) return { verified: true, keyId: id };
  }
  return { verified: false };
}

/** Check a gateway attestation against the gateway's public key. */
export function verifyAttestation(stmt: ApprovalStatement, signature: string, gatewayPublicKey: KeyObject): boolean {
  if (!SIGNATURE.test(signature)) return false;
  try {
    return verify(null, statementBytes(stmt, 'gateway'), gatewayPublicKey, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}

/**
 * Verify whichever attestation a statement carries. `passkeys` finds a
 * registered passkey by credential id (the ledger's registry, state.passkeys);
 * a passkey must be the approver's own and not revoked when it signed.
 */
export function verifyApprovalAttestation(
  stmt: ApprovalStatement,
  attestation: ApprovalAttestation,
  roster: Roster,
  gatewayPublicKey: KeyObject,
  passkeys: (credentialId: string) => PasskeyKey | undefined = () => undefined,
): boolean {
  switch (attestation.kind) {
    case 'key':
      return verifyStatement(stmt, attestation.signature, roster, attestation.key_id).verified;
    case 'gateway':
      return verifyAttestation(stmt, attestation.signature, gatewayPublicKey);
    case 'passkey': {
      const key = passkeys(attestation.credential_id);
      return key !== undefined && verifyPasskeyAssertion(stmt, attestation, key);
    }
  }
}
