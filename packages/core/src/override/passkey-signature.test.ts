import { describe, expect, it } from 'vitest';
import { softPasskey, type SoftPasskey } from '../../../../test/helpers/soft-passkey.js';
import { caller, EVIDENCE, examplePolicy, ok, refused, restartOverride, restartStep, World } from '../../../../test/scenario/world.js';
import { passkeyChallenge } from '../approval/passkey.js';
import type { HoldResult } from '../state/hold.js';
import type { RequestOverrideResult, SubmitOverrideResult } from '../state/override.js';
import type { RegisterRollbackResult } from '../state/rollback.js';
import { checkTraceContract } from '../trace/check.js';
import type { LedgerEntry } from '../ledger/entry.js';
import type { OverrideBody } from './body.js';
import { overrideBodyHash, overrideBodyValue } from './body.js';
import { overridePasskeyChallenge, verifyOverrideSignature, type OverridePasskeySignature, type OverrideSignerClaim } from './evidence.js';
import { overrideBodyText, overrideSignatureText } from './signature-text.js';
import { createHash } from 'node:crypto';

/**
 * Override signatures made with a passkey (issue 14 part 6): a WebAuthn
 * assertion whose challenge is the SHA-256 of the signature's own text,
 * checked against the passkey the ledger has registered to the signer, in
 * ledger order, and offline from the entries alone. A real software
 * authenticator makes the bytes (test/helpers/soft-passkey.ts).
 */

const ORIGIN = 'https://countersign.example';
const RP_ID = 'countersign.example';
const CONSOLE = 'approver-console';

function passkeySignature(key: SoftPasskey, overrideId: string, body: OverrideBody, claim: Omit<OverrideSignerClaim, 'key_id'>, challengeFor: Partial<OverrideSignerClaim> = {}): OverridePasskeySignature {
  const bodyHash = overrideBodyHash(body);
  const full: OverrideSignerClaim = { ...claim, key_id: key.credentialId };
  // the authenticator signs the challenge of `challengeFor` over the claim: a mismatch is how a refusal is made
  const assertion = key.assert(overridePasskeyChallenge(overrideId, bodyHash, { ...full, ...challengeFor }));
  return { kind: 'passkey', ...full, body_hash: bodyHash, ...assertion };
}

/** A K1 hold on prod, the restart held under it with its rollback, lena's and fatima's passkeys registered, and an override requested by olivia from the copilot console. */
function world(): { w: World; requested: RequestOverrideResult; lena: SoftPasskey; fatima: SoftPasskey; step: string } {
  const w = new World(examplePolicy());
  const lena = softPasskey('lena', { origin: ORIGIN, rpId: RP_ID });
  const fatima = softPasskey('fatima', { origin: ORIGIN, rpId: RP_ID, algorithm: -8 });
  ok(w.run({ kind: 'passkey_register', caller: caller('lena', CONSOLE), passkey: { ...lena.key }, identity: null }));
  ok(w.run({ kind: 'passkey_register', caller: caller('fatima', CONSOLE), passkey: { ...fatima.key }, identity: null }));
  const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: caller('lena', 'signed-cli'), trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE })).hold;
  const s = ok(w.propose([restartStep()])).steps[0]!;
  const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: caller('olivia', 'copilot-console'), step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
  const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: caller('olivia', 'copilot-console'), ...restartOverride(w, hold, s.digest!, artifact) }));
  return { w, requested, lena, fatima, step: s.step };
}

const signedAt = (w: World): string => new Date(w.now).toISOString();

function submit(w: World, requested: RequestOverrideResult, signatures: OverridePasskeySignature[]) {
  return w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('fatima', CONSOLE), override: requested.override, signatures });
}

describe('override signatures by passkey', () => {
  it('grants a lease on two passkey signatures, records their WebAuthn data, and the export verifies them offline', () => {
    const { w, requested, lena, fatima } = world();
    const a = passkeySignature(lena, requested.override, requested.body, { role: 'a', signer: 'lena', surface: CONSOLE, signed_at: signedAt(w) });
    const b = passkeySignature(fatima, requested.override, requested.body, { role: 'b', signer: 'fatima', surface: CONSOLE, signed_at: signedAt(w) });
    const granted = ok(submit(w, requested, [a, b]));
    expect(granted.lease).toMatch(/^lease-/);
    const entry = w.machine.entries.find((e) => e.type === 'override.granted')!;
    expect(entry.payload['signers']).toEqual([
      expect.objectContaining({ role: 'a', principal: 'lena', key_id: lena.credentialId, signature_verified: true, passkey: { credential_id: lena.credentialId, authenticator_data: a.authenticator_data, client_data_json: a.client_data_json } }),
      expect.objectContaining({ role: 'b', principal: 'fatima', key_id: fatima.credentialId, signature_verified: true }),
    ]);
    const entries = [...w.machine.entries];
    expect(checkTraceContract(entries).filter((p) => p.field === 'signature')).toEqual([]);
    // offline: a signed time edited afterwards, or the registration missing, no longer verifies
    const at = entries.findIndex((e) => e.type === 'override.granted');
    const signers = entry.payload['signers'] as Record<string, unknown>[];
    const edited: LedgerEntry[] = entries.map((e, i) => (i === at ? { ...e, payload: { ...e.payload, signers: [{ ...signers[0], signed_at: '2025-06-01T09:00:00.000Z' }, signers[1]] } as LedgerEntry['payload'] } : e));
    expect(checkTraceContract(edited).filter((p) => p.field === 'signature')).toEqual([expect.objectContaining({ seq: entries[at]!.seq, type: 'override.granted' })]);
    expect(checkTraceContract(entries.filter((e) => e.type !== 'passkey.registered')).filter((p) => p.field === 'signature')).toHaveLength(2);
  });

  it('refuses a passkey registered to someone else, a revoked one, and one that signed another claim: BAD_SIGNATURE, recorded unverified', () => {
    for (const bend of ['another-person', 'revoked', 'other-seat', 'other-time'] as const) {
      const { w, requested, lena, fatima } = world();
      if (bend === 'revoked') ok(w.run({ kind: 'passkey_revoke', caller: caller('lena', CONSOLE), credential_id: lena.credentialId }));
      const a =
        bend === 'another-person'
          ? // fatima's passkey presented as lena's signature
            { ...passkeySignature(fatima, requested.override, requested.body, { role: 'a', signer: 'lena', surface: CONSOLE, signed_at: signedAt(w) }) }
          : passkeySignature(lena, requested.override, requested.body, { role: 'a', signer: 'lena', surface: CONSOLE, signed_at: signedAt(w) }, bend === 'other-seat' ? { role: 'b' } : bend === 'other-time' ? { signed_at: '2025-06-01T09:00:00.000Z' } : {});
      const b = passkeySignature(fatima, requested.override, requested.body, { role: 'b', signer: 'fatima', surface: CONSOLE, signed_at: signedAt(w) });
      const refusal = refused(submit(w, requested, [a, b]));
      expect(refusal.codes, bend).toContain('BAD_SIGNATURE');
      const denied = w.machine.entries.find((e) => e.type === 'override.denied')!;
      expect((denied.payload['signers'] as { signature_verified: boolean }[]).map((s) => s.signature_verified), bend).toEqual([false, true]);
      // an unverified signature on the record is the denial's reason, not a forgery: trace --check does not flag it
      expect(checkTraceContract([...w.machine.entries]).filter((p) => p.field === 'signature'), bend).toEqual([]);
    }
  });

  it('refuses a passkey nobody registered: BAD_SIGNATURE, recorded unverified, rather than failing', () => {
    const { w, requested, fatima } = world();
    const stranger = softPasskey('lena', { origin: ORIGIN, rpId: RP_ID });
    expect(w.state.passkeys.has(stranger.credentialId)).toBe(false);
    const a = passkeySignature(stranger, requested.override, requested.body, { role: 'a', signer: 'lena', surface: CONSOLE, signed_at: signedAt(w) });
    const b = passkeySignature(fatima, requested.override, requested.body, { role: 'b', signer: 'fatima', surface: CONSOLE, signed_at: signedAt(w) });
    expect(refused(submit(w, requested, [a, b])).codes).toContain('BAD_SIGNATURE');
    const denied = w.machine.entries.find((e) => e.type === 'override.denied')!;
    expect((denied.payload['signers'] as { signature_verified: boolean }[]).map((s) => s.signature_verified)).toEqual([false, true]);
  });

  it('keeps the surface rule: a passkey signature from the surface the override was requested on is O5_NOT_ELIGIBLE', () => {
    const w = new World(examplePolicy());
    const lena = softPasskey('lena', { origin: ORIGIN, rpId: RP_ID });
    const fatima = softPasskey('fatima', { origin: ORIGIN, rpId: RP_ID });
    ok(w.run({ kind: 'passkey_register', caller: caller('lena', CONSOLE), passkey: { ...lena.key }, identity: null }));
    ok(w.run({ kind: 'passkey_register', caller: caller('fatima', CONSOLE), passkey: { ...fatima.key }, identity: null }));
    const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: caller('lena', 'signed-cli'), trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE })).hold;
    const s = ok(w.propose([restartStep()])).steps[0]!;
    const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: caller('olivia', CONSOLE), step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
    // requested from the console the signers use
    const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: caller('olivia', CONSOLE), ...restartOverride(w, hold, s.digest!, artifact) }));
    const a = passkeySignature(lena, requested.override, requested.body, { role: 'a', signer: 'lena', surface: CONSOLE, signed_at: signedAt(w) });
    const b = passkeySignature(fatima, requested.override, requested.body, { role: 'b', signer: 'fatima', surface: CONSOLE, signed_at: signedAt(w) });
    expect(refused(submit(w, requested, [a, b])).codes).toEqual(['O5_NOT_ELIGIBLE']);
  });
});

describe('verifyOverrideSignature for a passkey', () => {
  const { w, requested, lena } = world();
  const registry = (id: string) => (id === lena.credentialId ? lena.key : undefined);
  const claim = { role: 'a' as const, signer: 'lena', surface: CONSOLE, signed_at: signedAt(w) };
  const roster = { keys: new Map() } as unknown as Parameters<typeof verifyOverrideSignature>[2];

  it('verifies over the challenge the browser derives: SHA-256 of the passkey text, which names the body through its hash', () => {
    const sig = passkeySignature(lena, requested.override, requested.body, claim);
    expect(verifyOverrideSignature(requested.override, sig, roster, registry)).toBe(true);
    // what the console computes from the body it shows, with core's browser entry and a hash
    const bodyHash = `sha256:${createHash('sha256').update(overrideBodyText(overrideBodyValue(requested.body))).digest('hex')}`;
    expect(bodyHash).toBe(requested.body_hash);
    const challenge = createHash('sha256').update(overrideSignatureText(requested.override, bodyHash, { ...claim, key_id: lena.credentialId }, 'passkey')).digest('base64url');
    expect(challenge).toBe(overridePasskeyChallenge(requested.override, bodyHash, { ...claim, key_id: lena.credentialId }));
  });

  it('refuses without the registry, for another override, another body hash, another origin, without user verification, and over an approval statement', () => {
    const sig = passkeySignature(lena, requested.override, requested.body, claim);
    expect(verifyOverrideSignature(requested.override, sig, roster)).toBe(false);
    expect(verifyOverrideSignature('override-other', sig, roster, registry)).toBe(false);
    expect(verifyOverrideSignature(requested.override, { ...sig, body_hash: `sha256:${'0'.repeat(64)}` }, roster, registry)).toBe(false);
    const challenge = overridePasskeyChallenge(requested.override, sig.body_hash, { ...claim, key_id: lena.credentialId });
    expect(verifyOverrideSignature(requested.override, { ...sig, ...lena.assert(challenge, { origin: 'https://evil.example' }) }, roster, registry)).toBe(false);
    expect(verifyOverrideSignature(requested.override, { ...sig, ...lena.assert(challenge, { flags: 0x01 }) }, roster, registry)).toBe(false);
    // domain separation: an assertion over an approval statement never counts as an override signature
    const statement = { request: 'request-1', step_digest: requested.body.step_digests[0]!, bundle_id: w.policy.bundleId, decision: 'approve' as const, approver: 'lena', surface: CONSOLE, reason: 'ok', signed_at: claim.signed_at };
    expect(verifyOverrideSignature(requested.override, { ...sig, ...lena.assert(passkeyChallenge(statement)) }, roster, registry)).toBe(false);
    // a roster-key signature field set cannot pass as a passkey one
    expect(verifyOverrideSignature(requested.override, { ...sig, kind: 'key' } as never, roster, registry)).toBe(false);
  });
});
