import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalDigest, canonicalJson } from './canonical.js';
import { CountersignError } from './errors.js';

describe('canonicalJson', () => {
  it('orders keys and drops insignificant whitespace (RFC 8785)', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'] })).toBe('{"a":[true,null,"x"],"b":1}');
  });

  it('gives the same digest whatever the key order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.integer()), (obj) => {
        const reversed = Object.fromEntries(Object.entries(obj).reverse());
        expect(canonicalDigest(reversed)).toBe(canonicalDigest(obj));
      }),
    );
  });

  it.each([
    ['a float', { n: 1.5 }, '/n'],
    ['an unsafe integer', { n: 2 ** 60 }, '/n'],
    ['a non-ASCII key', { 'é': 1 }, ''],
    ['undefined', { u: undefined }, '/u'],
    ['a Date', { d: new Date(0) }, '/d'],
  ])('refuses %s with NOT_CANONICALIZABLE naming the pointer', (_label, value, pointer) => {
    try {
      canonicalJson(value);
      expect.unreachable('should have thrown');
    } catch (err) {
      expect(err).toBeInstanceOf(CountersignError);
      expect((err as CountersignError).code).toBe('NOT_CANONICALIZABLE');
      expect((err as CountersignError).details?.['pointer']).toBe(pointer);
    }
  });
});
