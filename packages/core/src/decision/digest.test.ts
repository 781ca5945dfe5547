import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalDigest, sha256Hex } from '../digest.js';
import { stepCanonicalJson, stepDigest } from './digest.js';

const BUNDLE = 'sha256:' + '0'.repeat(64);
const step = { action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling', batch: 2 } };

describe('stepDigest', () => {
  it('is sha256 over the canonical JSON of action, environment, target, params and bundle id', () => {
    expect(stepDigest(step, BUNDLE)).toBe(canonicalDigest({ ...step, bundle_id: BUNDLE }));
    // RFC 8785 orders keys, so this is the exact preimage
    expect(stepDigest(step, BUNDLE)).toBe(
      canonicalDigest(JSON.parse(`{"action":"workers.restart_pool","bundle_id":"${BUNDLE}","environment":"prod","params":{"batch":2,"strategy":"rolling"},"target":"payments-worker"}`)),
    );
  });

  it('does not depend on key order or on prose fields', () => {
    const reordered = { params: { batch: 2, strategy: 'rolling' }, target: 'payments-worker', environment: 'prod', action: 'workers.restart_pool', rationale: 'because' };
    expect(stepDigest(reordered, BUNDLE)).toBe(stepDigest(step, BUNDLE));
  });

  it('changes when any bound field changes by one character (property)', () => {
    const base = stepDigest(step, BUNDLE);
    fc.assert(
      fc.property(fc.constantFrom('action', 'environment', 'target', 'bundle'), fc.string({ minLength: 1, maxLength: 3 }), (field, suffix) => {
        const changed =
          field === 'bundle' ? stepDigest(step, BUNDLE + suffix) : stepDigest({ ...step, [field]: step[field as 'action'] + suffix }, BUNDLE);
        expect(changed).not.toBe(base);
      }),
    );
    expect(stepDigest({ ...step, params: { strategy: 'rolling', batch: 3 } }, BUNDLE)).not.toBe(base);
    expect(stepDigest({ ...step, environment: 'prod ' }, BUNDLE)).not.toBe(base);
  });

  it('takes the fast path only where it agrees byte for byte with the general canonicaliser (property)', () => {
    const scalar = fc.oneof(fc.string({ unit: 'binary' }), fc.boolean(), fc.constant(null), fc.maxSafeInteger(), fc.integer());
    const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 4 }), scalar, { maxKeys: 3 }));
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.string({ unit: 'binary' }),
        fc.string({ unit: 'binary' }),
        fc.dictionary(fc.string({ maxLength: 6 }), value, { maxKeys: 6 }),
        (action, environment, target, params) => {
          const s = { action, environment, target, params };
          expect(stepDigest(s, BUNDLE)).toBe(canonicalDigest({ ...s, bundle_id: BUNDLE }));
          expect(stepDigest(s, BUNDLE)).toBe(`sha256:${sha256Hex(stepCanonicalJson(s, BUNDLE))}`);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('hashes params that are not a plain object (a caller past the parser) as the general canonicaliser does', () => {
    const listed = { ...step, params: ['rolling', 2] as unknown as typeof step.params };
    expect(stepDigest(listed, BUNDLE)).toBe(canonicalDigest({ ...listed, bundle_id: BUNDLE }));
  });

  it('refuses what has no canonical form, on the fast path as on the slow one', () => {
    expect(() => stepDigest({ ...step, params: { n: 1.5 } }, BUNDLE)).toThrow();
    expect(() => stepDigest({ ...step, params: { ключ: 1 } }, BUNDLE)).toThrow();
  });

  it('refuses a lone surrogate anywhere in the step, as the canonicaliser does', () => {
    const lone = 'queue-\ud800';
    for (const bad of [{ ...step, params: { channel: lone } }, { ...step, target: lone }, { ...step, action: lone }, { ...step, environment: lone }]) {
      expect(() => stepDigest(bad, BUNDLE)).toThrow(expect.objectContaining({ code: 'NOT_CANONICALIZABLE' }));
    }
    // every field at once: no well-formed field sends the step down the general path first
    expect(() => stepDigest({ action: lone, environment: lone, target: lone, params: { channel: lone } }, lone)).toThrow(expect.objectContaining({ code: 'NOT_CANONICALIZABLE' }));
    // a well-formed pair is fine and agrees with the general path
    const pair = { ...step, params: { channel: 'status \ud83d\ude80' } };
    expect(stepDigest(pair, BUNDLE)).toBe(`sha256:${sha256Hex(stepCanonicalJson(pair, BUNDLE))}`);
  });
});
