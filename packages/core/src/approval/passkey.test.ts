import { describe, expect, it } from 'vitest';
import { softPasskey } from '../../../../test/helpers/soft-passkey.js';
import { passkeyChallenge, verifyPasskeyAssertion, type PasskeyAssertion } from './passkey.js';
import { statementBytes, verifyApprovalAttestation, type ApprovalStatement } from './statement.js';
import { statementText } from './statement-text.js';
import { buildRoster } from '../policy/roster.js';
import { newEd25519KeyPair } from '../ledger/key.js';

const STATEMENT: ApprovalStatement = {
  request: 'req_1',
  step_digest: `sha256:${'a'.repeat(64)}`,
  bundle_id: `sha256:${'b'.repeat(64)}`,
  decision: 'approve',
  approver: 'lena',
  surface: 'approver-console',
  reason: 'looked at the queue: café',
  signed_at: '2026-12-06T10:00:00.000Z',
};

function assertion(passkey: ReturnType<typeof softPasskey>, stmt = STATEMENT, tamper = {}): PasskeyAssertion {
  return { kind: 'passkey', credential_id: passkey.credentialId, ...passkey.assert(passkeyChallenge(stmt), tamper) };
}

describe('passkey approvals', () => {
  it.each([-7, -8, -257] as const)('verifies a passkey signature over the statement (COSE alg %i)', (algorithm) => {
    const passkey = softPasskey('lena', { algorithm });
    expect(verifyPasskeyAssertion(STATEMENT, assertion(passkey), passkey.key)).toBe(true);
  });

  it('binds every statement field: the same assertion fails for another decision, step, bundle, surface or time', () => {
    const passkey = softPasskey('lena');
    const signed = assertion(passkey);
    for (const changed of [
      { decision: 'deny' as const },
      { step_digest: `sha256:${'c'.repeat(64)}` },
      { bundle_id: `sha256:${'d'.repeat(64)}` },
      { surface: 'signed-cli' },
      { signed_at: '2026-12-06T10:00:01.000Z' },
      { reason: 'looked at the queue: cafe' },
    ]) {
      expect(verifyPasskeyAssertion({ ...STATEMENT, ...changed }, signed, passkey.key), JSON.stringify(changed)).toBe(false);
    }
  });

  it('signs the NFC form, so the two spellings of é verify alike', () => {
    const passkey = softPasskey('lena');
    const decomposed = { ...STATEMENT, reason: STATEMENT.reason.normalize('NFD') };
    expect(verifyPasskeyAssertion(decomposed, assertion(passkey), passkey.key)).toBe(true);
  });

  it('refuses what WebAuthn says a relying party must: wrong type, origin, RP ID, cross-origin, no user presence or verification', () => {
    const passkey = softPasskey('lena');
    for (const tamper of [{ type: 'webauthn.create' }, { origin: 'http://localhost:9999' }, { rpId: 'evil.example' }, { crossOrigin: true }, { flags: 0x04 }, { flags: 0x01 }]) {
      expect(verifyPasskeyAssertion(STATEMENT, assertion(passkey, STATEMENT, tamper), passkey.key), JSON.stringify(tamper)).toBe(false);
    }
  });

  it("refuses someone else's passkey, another credential id, another key, and malformed fields", () => {
    const lena = softPasskey('lena');
    const sam = softPasskey('sam');
    // sam's own passkey, over lena's statement
    expect(verifyPasskeyAssertion(STATEMENT, assertion(sam), sam.key)).toBe(false);
    // lena's assertion checked against a key registered under her id but another key pair
    expect(verifyPasskeyAssertion(STATEMENT, assertion(lena), { ...sam.key, principal: 'lena', credential_id: lena.credentialId })).toBe(false);
    expect(verifyPasskeyAssertion(STATEMENT, { ...assertion(lena), credential_id: sam.credentialId }, lena.key)).toBe(false);
    expect(verifyPasskeyAssertion(STATEMENT, { ...assertion(lena), signature: 'not base64url!' }, lena.key)).toBe(false);
    expect(verifyPasskeyAssertion(STATEMENT, { ...assertion(lena), client_data_json: Buffer.from('{').toString('base64url') }, lena.key)).toBe(false);
    expect(verifyPasskeyAssertion(STATEMENT, { ...assertion(lena), authenticator_data: 'AAAA' }, lena.key)).toBe(false);
    // an algorithm that does not match the key's type
    expect(verifyPasskeyAssertion(STATEMENT, assertion(lena), { ...lena.key, algorithm: -8 })).toBe(false);
  });

  it('derives the challenge from a context line of its own: never the bytes a roster key or the gateway signs', () => {
    expect(statementText(STATEMENT, 'passkey').startsWith('countersign/approval-passkey/v1\n')).toBe(true);
    const challenge = passkeyChallenge(STATEMENT);
    for (const kind of ['key', 'gateway'] as const) {
      expect(Buffer.from(statementBytes(STATEMENT, kind)).toString()).not.toContain('approval-passkey');
      expect(statementText(STATEMENT, kind)).not.toBe(statementText(STATEMENT, 'passkey'));
    }
    expect(challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('verifies through verifyApprovalAttestation only with a registered key for it', () => {
    const passkey = softPasskey('lena');
    const roster = buildRoster({ principals: [], keys: [] } as never);
    const gateway = newEd25519KeyPair().publicKey;
    const signed = assertion(passkey);
    expect(verifyApprovalAttestation(STATEMENT, signed, roster, gateway, (id) => (id === passkey.credentialId ? passkey.key : undefined))).toBe(true);
    // not registered (or revoked: the registry returns nothing)
    expect(verifyApprovalAttestation(STATEMENT, signed, roster, gateway)).toBe(false);
  });
});
