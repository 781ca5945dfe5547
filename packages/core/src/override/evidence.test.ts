import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalJson } from '../canonical.js';
import { sha256Hex } from '../digest.js';
import { buildRoster, formatPublicKey } from '../policy/roster.js';
import { overrideBodyHash, parseOverrideBody, type OverrideBody } from './body.js';
import { overrideEvidenceHash, overrideSignatureBytes, signOverride, verifyOverrideSignature, type OverrideSignerClaim } from './evidence.js';
import type { CountersignError } from '../errors.js';
import { newEd25519KeyPair } from '../ledger/key.js';

const body: OverrideBody = {
  id: 'ovr_1',
  hold_ref: 'hold_1',
  step_digests: [`sha256:${'a'.repeat(64)}`],
  trip_gate_ack: 'K4',
  valid_from: '2025-06-01T10:00:00.000Z',
  valid_to: '2025-06-01T12:00:00.000Z',
  scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['payments-worker'] },
  reason_code: 'CUSTOMER_IMPACT',
  reason_text: 'Zahlungsrückstau wächst; café-Partner betroffen',
  rollback_ref: 'rb_1',
  requester: 'olivia',
  request_surface: 'copilot-console',
};
const signers: OverrideSignerClaim[] = [
  { role: 'a', signer: 'lena', key_id: 'lena-2025', surface: 'signed-cli', signed_at: '2025-06-01T09:58:00.000Z' },
  { role: 'b', signer: 'fatima', key_id: 'fatima-2025', surface: 'approver-console', signed_at: '2025-06-01T09:59:00.000Z' },
];

describe('override body and evidence hashes', () => {
  it('hash the same reason text identically in NFC and NFD', () => {
    const nfc = { ...body, reason_text: body.reason_text.normalize('NFC') };
    const nfd = { ...body, reason_text: body.reason_text.normalize('NFD') };
    expect(nfd.reason_text).not.toBe(nfc.reason_text);
    expect(overrideBodyHash(nfd)).toBe(overrideBodyHash(nfc));
    expect(overrideEvidenceHash(nfd, signers)).toBe(overrideEvidenceHash(nfc, signers));
  });

  it('hash any text identically in NFC and NFD (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-composite', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }), (text, target) => {
        const make = (form: 'NFC' | 'NFD'): OverrideBody => ({
          ...body,
          reason_text: text.normalize(form),
          scope: { ...body.scope, targets: [`t${target}`.normalize(form)] },
        });
        expect(overrideBodyHash(make('NFD'))).toBe(overrideBodyHash(make('NFC')));
        expect(overrideEvidenceHash(make('NFD'), signers)).toBe(overrideEvidenceHash(make('NFC'), signers));
      }),
    );
  });

  it('change the body hash with any field, and the evidence hash with any signer detail', () => {
    const base = overrideBodyHash(body);
    expect(overrideBodyHash({ ...body, step_digests: [`sha256:${'b'.repeat(64)}`] })).not.toBe(base);
    expect(overrideBodyHash({ ...body, valid_to: '2025-06-01T12:00:01.000Z' })).not.toBe(base);
    expect(overrideBodyHash({ ...body, scope: { ...body.scope, targets: ['payments-worker', 'ledger-worker'] } })).not.toBe(base);
    expect(overrideBodyHash({ ...body, incident_class: 'sev1' })).not.toBe(base);
    expect(overrideBodyHash({ ...body, hold_ref: null })).not.toBe(base);
    const evidence = overrideEvidenceHash(body, signers);
    expect(overrideEvidenceHash(body, [signers[0]!, { ...signers[1]!, signed_at: '2025-06-01T09:59:01.000Z' }])).not.toBe(evidence);
    expect(overrideEvidenceHash(body, [signers[0]!, { ...signers[1]!, signer: 'priya' }])).not.toBe(evidence);
    expect(overrideEvidenceHash(body, [signers[0]!])).not.toBe(evidence);
    expect(overrideEvidenceHash({ ...body, reason_code: 'APPROVER_UNAVAILABLE' }, signers)).not.toBe(evidence);
  });

  it('signs the body hash under a domain-separation prefix, with the signer’s own roster key only', () => {
    const lena = newEd25519KeyPair();
    const fatima = newEd25519KeyPair();
    const roster = buildRoster({
      principals: [
        { id: 'lena', kind: 'human', roles: [], keys: [{ id: 'lena-2025', public_key: formatPublicKey(lena.publicKey) }] },
        { id: 'fatima', kind: 'human', roles: [], keys: [{ id: 'fatima-2025', public_key: formatPublicKey(fatima.publicKey) }] },
      ],
    });
    const sig = signOverride(body, signers[0]!, lena.privateKey);
    expect(sig.body_hash).toBe(overrideBodyHash(body));
    expect(new TextDecoder().decode(overrideSignatureBytes(body.id, sig.body_hash, sig)).startsWith('countersign/override/v1\n')).toBe(true);
    expect(verifyOverrideSignature(body.id, sig, roster)).toBe(true);
    expect(verifyOverrideSignature('ovr_2', sig, roster)).toBe(false);
    expect(verifyOverrideSignature(body.id, { ...sig, role: 'b' }, roster)).toBe(false);
    expect(verifyOverrideSignature(body.id, { ...sig, signer: 'fatima', key_id: 'fatima-2025' }, roster)).toBe(false);
    expect(verifyOverrideSignature(body.id, { ...sig, key_id: 'fatima-2025' }, roster)).toBe(false);
    expect(verifyOverrideSignature(body.id, { ...sig, signature: 'x' }, roster)).toBe(false);
  });

  it('is the sha256 of the canonical JSON of the body as sent: anyone can recompute it from the request', () => {
    const nfc = { ...body, reason_text: body.reason_text.normalize('NFC') };
    expect(overrideBodyHash(nfc)).toBe(`sha256:${sha256Hex(canonicalJson(nfc))}`);
    const classed = { ...nfc, incident_class: 'sev1' };
    expect(overrideBodyHash(classed)).toBe(`sha256:${sha256Hex(canonicalJson(classed))}`);
  });

  it('verifies only the exact base64url encoding of a signature, never one with junk around it', () => {
    const { publicKey, privateKey } = newEd25519KeyPair();
    const roster = buildRoster({ principals: [{ id: 'lena', kind: 'human', roles: [], keys: [{ id: 'lena-2025', public_key: formatPublicKey(publicKey) }] }] });
    const sig = signOverride(body, signers[0]!, privateKey);
    expect(verifyOverrideSignature(body.id, sig, roster)).toBe(true);
    for (const mangled of [`!${sig.signature}`, `${sig.signature}!`, `${sig.signature}==`]) {
      expect(verifyOverrideSignature(body.id, { ...sig, signature: mangled }, roster)).toBe(false);
    }
  });

  it('refuses a signature by one person’s key that claims to be another’s, and a key the roster does not know', () => {
    const lena = newEd25519KeyPair();
    const fatima = newEd25519KeyPair();
    const roster = buildRoster({
      principals: [
        { id: 'lena', kind: 'human', roles: [], keys: [{ id: 'lena-2025', public_key: formatPublicKey(lena.publicKey) }] },
        { id: 'fatima', kind: 'human', roles: [], keys: [{ id: 'fatima-2025', public_key: formatPublicKey(fatima.publicKey) }] },
      ],
    });
    // a valid Ed25519 signature by fatima's key over a claim that names lena as the signer
    const borrowed = signOverride(body, { ...signers[0]!, signer: 'lena', key_id: 'fatima-2025' }, fatima.privateKey);
    expect(verifyOverrideSignature(body.id, borrowed, roster)).toBe(false);
    expect(verifyOverrideSignature(body.id, { ...signOverride(body, signers[0]!, lena.privateKey), key_id: 'lena-2019' }, roster)).toBe(false);
  });

  it('treats a claim that has no canonical form as not verified rather than throwing', () => {
    const lena = newEd25519KeyPair();
    const roster = buildRoster({ principals: [{ id: 'lena', kind: 'human', roles: [], keys: [{ id: 'lena-2025', public_key: formatPublicKey(lena.publicKey) }] }] });
    const sig = signOverride(body, signers[0]!, lena.privateKey);
    // an unpaired surrogate cannot be canonical JSON (RFC 8785 §3.1)
    expect(verifyOverrideSignature(body.id, { ...sig, surface: 'signed-cli\ud800' }, roster)).toBe(false);
  });

  // Every identifier is matched whole; the error names the field, nested paths included.
  it.each([
    ['id', { id: '!ovr_1' }, '/id'],
    ['id', { id: 'ovr_1!' }, '/id'],
    ['hold_ref', { hold_ref: 'hold_1!' }, '/hold_ref'],
    ['rollback_ref', { rollback_ref: '!rb_1' }, '/rollback_ref'],
    ['requester', { requester: '!olivia' }, '/requester'],
    ['requester', { requester: 'olivia!' }, '/requester'],
    ['request_surface', { request_surface: 'copilot-console!' }, '/request_surface'],
    ['incident_class', { incident_class: '!sev1' }, '/incident_class'],
    ['a step digest', { step_digests: [`!sha256:${'a'.repeat(64)}`] }, '/step_digests/0'],
    ['a step digest', { step_digests: [`sha256:${'a'.repeat(64)}`, `sha256:${'a'.repeat(64)}!`] }, '/step_digests/1'],
    ['a scope target', { scope: { ...body.scope, targets: ['t'.repeat(257)] } }, '/scope/targets/0'],
  ])('refuses %s with anything around a valid value, pointing at it', (_label, change, pointer) => {
    try {
      parseOverrideBody({ ...body, ...change });
      expect.unreachable('should have thrown');
    } catch (err) {
      expect((err as CountersignError).code).toBe('STATEMENT_INVALID');
      expect((err as CountersignError).details?.['pointer']).toBe(pointer);
    }
  });

  it('parses override requests strictly', () => {
    expect(parseOverrideBody({ ...body })).toEqual(body);
    for (const bad of [{ ...body, step_digests: [] }, { ...body, extra: true }, { ...body, valid_to: 'later' }]) {
      try {
        parseOverrideBody(bad);
        expect.unreachable('should have thrown');
      } catch (err) {
        expect((err as CountersignError).code).toBe('STATEMENT_INVALID');
      }
    }
    // a wildcard parses, so the gate can refuse it on the record as O2
    expect(parseOverrideBody({ ...body, scope: { ...body.scope, targets: ['*'] } }).scope.targets).toEqual(['*']);
  });
});
