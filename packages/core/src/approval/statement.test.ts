import { sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CountersignError } from '../errors.js';
import { buildRoster, formatPublicKey } from '../policy/roster.js';
import {
  attestStatement,
  parseStatement,
  signStatement,
  statementBytes,
  verifyApprovalAttestation,
  verifyAttestation,
  verifyStatement,
  type ApprovalStatement,
} from './statement.js';
import { newEd25519KeyPair } from '../ledger/key.js';

const lenaKeys = newEd25519KeyPair();
const lenaOld = newEd25519KeyPair();
const samKeys = newEd25519KeyPair();
const gateway = newEd25519KeyPair();

const roster = buildRoster({
  principals: [
    {
      id: 'lena',
      kind: 'human',
      roles: ['incident-lead'],
      keys: [
        { id: 'lena-2024', public_key: formatPublicKey(lenaOld.publicKey) },
        { id: 'lena-2025', public_key: formatPublicKey(lenaKeys.publicKey) },
      ],
    },
    { id: 'sam', kind: 'human', roles: ['sre'], keys: [{ id: 'sam-2025', public_key: formatPublicKey(samKeys.publicKey) }] },
  ],
});

const stmt: ApprovalStatement = {
  request: 'req_01',
  step_digest: `sha256:${'a'.repeat(64)}`,
  bundle_id: 'sha256:b1',
  decision: 'approve',
  approver: 'lena',
  surface: 'signed-cli',
  reason: 'restart is the runbook step for a stuck pool',
  signed_at: '2025-06-01T10:00:00.000Z',
};

describe('approval statements', () => {
  it('signs with a domain-separation prefix followed by canonical JSON', () => {
    const text = new TextDecoder().decode(statementBytes(stmt));
    expect(text.startsWith('countersign/approval/v1\n{"approver":"lena","bundle_id"')).toBe(true);
    expect(new TextDecoder().decode(statementBytes(stmt, 'gateway')).startsWith('countersign/approval-gateway/v1\n')).toBe(true);
  });

  it('verifies a signature by any of the approver’s own keys and names the key', () => {
    expect(verifyStatement(stmt, signStatement(stmt, lenaKeys.privateKey), roster)).toEqual({ verified: true, keyId: 'lena-2025' });
    expect(verifyStatement(stmt, signStatement(stmt, lenaOld.privateKey), roster)).toEqual({ verified: true, keyId: 'lena-2024' });
    expect(verifyStatement(stmt, signStatement(stmt, lenaOld.privateKey), roster, 'lena-2025').verified).toBe(false);
  });

  it('refuses a valid signature by someone other than the named approver', () => {
    expect(verifyStatement(stmt, signStatement(stmt, samKeys.privateKey), roster).verified).toBe(false);
    expect(verifyStatement({ ...stmt, approver: 'ghost' }, signStatement(stmt, lenaKeys.privateKey), roster).verified).toBe(false);
  });

  it.each(Object.keys(stmt) as (keyof ApprovalStatement)[])('no longer verifies once `%s` changes', (field) => {
    const signature = signStatement(stmt, lenaKeys.privateKey);
    const changed = { ...stmt, [field]: field === 'decision' ? 'deny' : field === 'step_digest' ? `sha256:${'b'.repeat(64)}` : `${stmt[field]}x` };
    expect(verifyStatement(changed, signature, roster).verified).toBe(false);
  });

  it('never accepts a signature over the bare canonical JSON, or a gateway attestation, as a key signature', () => {
    const bare = new TextEncoder().encode(new TextDecoder().decode(statementBytes(stmt)).replace('countersign/approval/v1\n', ''));
    expect(verifyStatement(stmt, sign(null, bare, lenaKeys.privateKey).toString('base64url'), roster).verified).toBe(false);
    const asGateway = sign(null, statementBytes(stmt, 'gateway'), lenaKeys.privateKey).toString('base64url');
    expect(verifyStatement(stmt, asGateway, roster).verified).toBe(false);
  });

  it('verifies gateway attestations with the gateway key only', () => {
    const att = attestStatement(stmt, gateway.privateKey);
    expect(verifyAttestation(stmt, att, gateway.publicKey)).toBe(true);
    expect(verifyAttestation(stmt, att, lenaKeys.publicKey)).toBe(false);
    expect(verifyApprovalAttestation(stmt, { kind: 'gateway', credential_id: 'cred-1', signature: att }, roster, gateway.publicKey)).toBe(true);
    expect(verifyApprovalAttestation(stmt, { kind: 'key', key_id: 'lena-2025', signature: att }, roster, gateway.publicKey)).toBe(false);
  });

  it('treats malformed signatures as not verified rather than throwing', () => {
    expect(verifyStatement(stmt, 'not base64!', roster).verified).toBe(false);
    expect(verifyStatement(stmt, '', roster).verified).toBe(false);
    expect(verifyAttestation(stmt, 'A'.repeat(86), gateway.publicKey)).toBe(false);
  });

  it('signs the NFC form, so a reason typed in NFD verifies against the NFC statement', () => {
    const nfc = { ...stmt, reason: 'caf\u00e9 outage' };
    const nfd = { ...stmt, reason: 'cafe\u0301 outage' };
    expect(verifyStatement(nfc, signStatement(nfd, lenaKeys.privateKey), roster).verified).toBe(true);
  });

  it('verifies against the key id the attestation names, and only that key', () => {
    const signature = signStatement(stmt, lenaKeys.privateKey);
    expect(verifyStatement(stmt, signature, roster, 'lena-2025')).toEqual({ verified: true, keyId: 'lena-2025' });
    expect(verifyStatement(stmt, signature, roster, 'lena-2024').verified).toBe(false);
    expect(verifyApprovalAttestation(stmt, { kind: 'key', key_id: 'lena-2025', signature }, roster, gateway.publicKey)).toBe(true);
    expect(verifyApprovalAttestation(stmt, { kind: 'key', key_id: 'lena-2024', signature }, roster, gateway.publicKey)).toBe(false);
  });

  // Node's base64url decoder skips characters outside the alphabet, so a
  // valid signature with junk around it would decode to the same 64 bytes:
  // only the one exact encoding may verify, or a signature is malleable.
  it.each([
    ['a prefix', (sig: string) => `!${sig}`],
    ['a suffix', (sig: string) => `${sig}!`],
    ['padding', (sig: string) => `${sig}==`],
    ['a newline', (sig: string) => `${sig}\n`],
  ])('verifies a signature only in its exact encoding, not with %s', (_label, mangle) => {
    const signature = signStatement(stmt, lenaKeys.privateKey);
    expect(verifyStatement(stmt, signature, roster).verified).toBe(true);
    expect(verifyStatement(stmt, mangle(signature), roster).verified).toBe(false);
    const att = attestStatement(stmt, gateway.privateKey);
    expect(verifyAttestation(stmt, att, gateway.publicKey)).toBe(true);
    expect(verifyAttestation(stmt, mangle(att), gateway.publicKey)).toBe(false);
  });

  it('treats a malformed attestation, or a statement that has no canonical form, as not verified', () => {
    expect(verifyAttestation(stmt, 'not base64!', gateway.publicKey)).toBe(false);
    // an unpaired surrogate has no canonical JSON (RFC 8785 §3.1): nothing was signed, nothing verifies
    const broken = { ...stmt, reason: 'restart \ud800' };
    expect(verifyStatement(broken, signStatement(stmt, lenaKeys.privateKey), roster)).toEqual({ verified: false });
    expect(verifyAttestation(broken, attestStatement(stmt, gateway.privateKey), gateway.publicKey)).toBe(false);
  });

  it('parses a denial as well as an approval', () => {
    expect(parseStatement({ ...stmt, decision: 'deny' }).decision).toBe('deny');
  });

  // Every identifier is matched whole: a valid id with junk before or after it is refused, naming the field.
  it.each(['request', 'bundle_id', 'approver', 'surface', 'step_digest'] as const)('refuses `%s` with anything around a valid value', (field) => {
    for (const bad of [`!${stmt[field]}`, `${stmt[field]}!`]) {
      try {
        parseStatement({ ...stmt, [field]: bad });
        expect.unreachable('should have thrown');
      } catch (err) {
        expect((err as CountersignError).code).toBe('STATEMENT_INVALID');
        expect((err as CountersignError).details?.['pointer']).toBe(`/${field}`);
      }
    }
  });

  it('parses statements strictly with STATEMENT_INVALID', () => {
    expect(parseStatement({ ...stmt })).toEqual(stmt);
    for (const bad of [{ ...stmt, extra: 1 }, { ...stmt, decision: 'maybe' }, { ...stmt, signed_at: 'yesterday' }, { ...stmt, step_digest: 'abc' }]) {
      try {
        parseStatement(bad);
        expect.unreachable('should have thrown');
      } catch (err) {
        expect((err as CountersignError).code).toBe('STATEMENT_INVALID');
      }
    }
  });
});
