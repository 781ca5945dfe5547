import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { assertCanonicalValue, canonicalBytes, canonicalJson, MAX_CANONICAL_DEPTH, type CanonicalValue } from './canonical.js';
import { canonicalDigest } from './digest.js';
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

  it('refuses an unpaired surrogate, in strings at any depth, naming the pointer (RFC 8785 §3.1, I-JSON)', () => {
    for (const [value, pointer] of [
      ['\ud800', ''],
      [{ a: ['ok', 'x\udfffy'] }, '/a/1'],
      [{ a: { 'b~c': 'tail\udbff' } }, '/a/b~0c'],
    ] as const) {
      expect(() => canonicalize(value)).toThrow();
      expect(refusal(() => canonicalJson(value))).toEqual({ code: 'NOT_CANONICALIZABLE', pointer });
    }
    // a well-formed pair is one code point and passes through as JSON.stringify writes it
    expect(canonicalJson('\ud83d\ude00')).toBe('"\ud83d\ude00"');
  });

  it('refuses holes, cycles and nesting beyond the depth limit with a pointer', () => {
    // eslint-disable-next-line no-sparse-arrays -- the hole is the point
    expect(refusal(() => canonicalJson({ a: [1, , 3] }))).toEqual({ code: 'NOT_CANONICALIZABLE', pointer: '/a/1' });
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic['self'] = cyclic;
    expect(refusal(() => canonicalJson(cyclic))?.code).toBe('NOT_CANONICALIZABLE');
    let deep: unknown = 1;
    for (let i = 0; i < MAX_CANONICAL_DEPTH; i++) deep = [deep];
    expect(canonicalJson(deep)).toBe(`${'['.repeat(MAX_CANONICAL_DEPTH)}1${']'.repeat(MAX_CANONICAL_DEPTH)}`);
    expect(refusal(() => canonicalJson([deep]))).toEqual({ code: 'NOT_CANONICALIZABLE', pointer: '/0'.repeat(MAX_CANONICAL_DEPTH) });
  });

  it('prefixes the pointer it is given', () => {
    expect(refusal(() => assertCanonicalValue({ a: 0.5 }, '/payload'))).toEqual({ code: 'NOT_CANONICALIZABLE', pointer: '/payload/a' });
  });
});

// --- the `canonicalize` package (RFC 8785 reference behaviour) as the oracle ---

function refusal(fn: () => unknown): { code: string; pointer: unknown } | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (!(err instanceof CountersignError)) throw err;
    return { code: err.code, pointer: err.details?.['pointer'] };
  }
}

const asciiChar = fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c));
// any ASCII, including `"`, `\`, `/`, `~` and control characters
const asciiKey = fc.oneof(fc.string({ unit: asciiChar, maxLength: 6 }), fc.constantFrom('a', 'b', 'A', 'Z', '_', '~', '/', ''));
const canonicalString = fc.oneof(
  fc.string({ unit: 'grapheme-ascii', maxLength: 12 }),
  fc.string({ unit: asciiChar, maxLength: 12 }),
  // every code point, surrogate pairs included, never an unpaired surrogate
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('\u2028\u2029', '\u007f', '\ud83d\ude00', 'é', '"\\/'),
);
const canonicalScalar: fc.Arbitrary<CanonicalValue> = fc.oneof(
  canonicalString,
  fc.maxSafeInteger(),
  fc.integer({ min: -1000, max: 1000 }),
  fc.constantFrom(0, -0, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
  fc.boolean(),
  fc.constant(null),
);
const { canonicalTree } = fc.letrec<{ canonicalTree: CanonicalValue }>((tie) => ({
  canonicalTree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    canonicalScalar,
    fc.array(tie('canonicalTree'), { maxLength: 4 }),
    fc.dictionary(asciiKey, tie('canonicalTree'), { maxKeys: 24 }),
    fc.dictionary(asciiKey, tie('canonicalTree'), { maxKeys: 3, noNullPrototype: false }),
  ),
}));

type Segment = { readonly index: number } | { readonly key: string };

/** Values outside the domain, each with what `canonicalJson` must say about it. */
const offender = fc.oneof(
  fc.constantFrom<unknown>(0.5, -1.25, 2 ** 53, -(2 ** 60), Number.NaN, Number.POSITIVE_INFINITY, undefined, () => 1, Symbol('s'), 10n, new Date(0), new Map(), new Uint8Array(1)),
  fc.double({ noInteger: true }),
  fc.tuple(canonicalString, fc.integer({ min: 0xd800, max: 0xdfff }), canonicalString).map(([a, s, b]) => `${a}${String.fromCharCode(s)}${b}`.replace(/[\ud800-\udbff][\udc00-\udfff]/g, '')),
  // a non-ASCII key: refused at the object that holds it
  fc.tuple(fc.string({ unit: 'binary', minLength: 1, maxLength: 4 }).filter((k) => [...k].some((c) => c.charCodeAt(0) > 0x7f)), canonicalScalar).map(([k, v]) => ({ [k]: v })),
);

/** `bad` placed at `path` inside containers with in-domain siblings. */
function place(path: readonly Segment[], bad: unknown, siblings: readonly CanonicalValue[]): unknown {
  let value = bad;
  for (let i = path.length - 1; i >= 0; i--) {
    const segment = path[i] as Segment;
    if ('index' in segment) {
      const items: unknown[] = siblings.slice(0, segment.index);
      while (items.length < segment.index) items.push(null);
      items.push(value);
      value = [...items, ...siblings.slice(segment.index, segment.index + 2)];
    } else {
      const record: Record<string, unknown> = {};
      siblings.forEach((s, j) => (record[`k${j}`] = s));
      record[segment.key] = value;
      value = record;
    }
  }
  return value;
}

const escapeSegment = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

describe('canonicalJson against the canonicalize package', () => {
  it('is byte-identical on every value of the restricted domain', () => {
    fc.assert(
      fc.property(canonicalTree, (value) => {
        const expected = canonicalize(value);
        expect(canonicalJson(value)).toBe(expected);
        expect(Buffer.from(canonicalBytes(value)).toString('hex')).toBe(Buffer.from(expected as string, 'utf8').toString('hex'));
      }),
      { numRuns: 2000 },
    );
  });

  it('is byte-identical on objects of 17 to 60 keys, where the native sort takes over from insertion sort', () => {
    // The tree above is sized `small` and rarely reaches 17 keys: this one always does.
    const wide = fc.dictionary(asciiKey, fc.oneof(canonicalScalar, fc.dictionary(asciiKey, canonicalScalar, { minKeys: 17, maxKeys: 20 })), { minKeys: 17, maxKeys: 60 });
    fc.assert(
      fc.property(wide, (value) => {
        expect(Object.keys(value).length).toBeGreaterThan(16);
        expect(canonicalJson(value)).toBe(canonicalize(value));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses every value outside the domain with NOT_CANONICALIZABLE naming its pointer', () => {
    const segment: fc.Arbitrary<Segment> = fc.oneof(fc.record({ index: fc.nat(3) }), fc.record({ key: asciiKey.filter((k) => !/^k\d+$/.test(k)) }));
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 4 }), offender, fc.array(canonicalScalar, { maxLength: 3 }), (path, bad, siblings) => {
        const value = place(path, bad, siblings);
        const pointer = path.map((s) => `/${'index' in s ? s.index : escapeSegment(s.key)}`).join('');
        expect(refusal(() => canonicalJson(value))).toEqual({ code: 'NOT_CANONICALIZABLE', pointer });
        // the oracle refuses unpaired surrogates too; floats and non-ASCII keys are
        // valid RFC 8785 input that only OUR narrower domain excludes
        if (typeof bad === 'string') expect(() => canonicalize(value)).toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});

