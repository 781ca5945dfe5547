import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { JsonBodyError, numberProblem, parseJsonBody, type JsonBodyCode } from './json-body.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

/** The code and pointer a body is refused with, or null when it parses. */
function refusal(body: Buffer | string): { code: JsonBodyCode; pointer: unknown } | null {
  try {
    parseJsonBody(typeof body === 'string' ? bytes(body) : body);
    return null;
  } catch (err) {
    if (!(err instanceof JsonBodyError)) throw err;
    return { code: err.code, pointer: err.details?.['pointer'] };
  }
}

// RFC 6901 §3
const escapePointer = (name: string): string => name.replace(/~/g, '~0').replace(/\//g, '~1');

/** A member name as JSON writes it, or with every character as a \u escape: the same name to a parser. */
const spelled = (name: string, escaped: boolean): string =>
  escaped ? `"${Array.from({ length: name.length }, (_, i) => `\\u${name.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')}"` : JSON.stringify(name);

/** Names with quotes, backslashes, `~`, `/` and non-ASCII; never the two refused for prototype poisoning. */
const memberName = fc.string({ unit: fc.constantFrom('a', 'b', '"', '\\', '~', '/', 'é', '😀', ' ', '\n'), maxLength: 6 }).filter((k) => k !== '__proto__' && k !== 'constructor');

/** JSON values whose numbers a double holds exactly as written: what the rules accept. */
const { value: acceptedValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.string({ unit: 'grapheme' }),
    fc.string({ unit: 'binary' }),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d) || Number.isSafeInteger(d)),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(memberName, tie('value'), { maxKeys: 24 }),
  ),
}));

describe('parseJsonBody', () => {
  it('parses anything JSON.stringify writes exactly as JSON.parse does, when its numbers are exact', () => {
    fc.assert(
      fc.property(acceptedValue, fc.boolean(), (value, pretty) => {
        const text = JSON.stringify(value, null, pretty ? 2 : undefined);
        expect(parseJsonBody(bytes(text))).toEqual(JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses any member named twice, at any depth and however it is spelled, with the pointer of the second', () => {
    const path = fc.array(fc.oneof(memberName, fc.nat({ max: 3 })), { maxLength: 4 });
    const siblings = fc.uniqueArray(memberName, { maxLength: 30 });
    fc.assert(
      fc.property(path, memberName, siblings, fc.boolean(), acceptedValue, (segments, name, others, escaped, filler) => {
        const members = others.filter((k) => k !== name).map((k) => `${JSON.stringify(k)}:${JSON.stringify(filler)}`);
        // the duplicate comes after every sibling, so objects beyond the 16 searched in place are covered
        let text = `{${[`${JSON.stringify(name)}:1`, ...members, `${spelled(name, escaped)}:2`].join(',')}}`;
        for (const segment of [...segments].reverse()) {
          text = typeof segment === 'number' ? `[${'0,'.repeat(segment)}${text}]` : `{"before":{"${'x'}":1},${JSON.stringify(segment)}:${text}}`;
        }
        const pointer = [...segments, name].map((s) => `/${typeof s === 'number' ? s : escapePointer(s)}`).join('');
        expect(refusal(text)).toEqual({ code: 'BODY_DUPLICATE_KEY', pointer });
      }),
      { numRuns: 500 },
    );
  });

  it('does not take the same name in two different objects for a duplicate', () => {
    expect(parseJsonBody(bytes('{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}],"c":{"a":1,"b":2}}'))).toEqual({ a: { a: { a: 1 } }, b: [{ a: 1 }, { a: 2 }], c: { a: 1, b: 2 } });
    expect(parseJsonBody(bytes('{"a":"}","b":"\\"","c":"\\\\","d":{"e":"{"}}'))).toEqual({ a: '}', b: '"', c: '\\', d: { e: '{' } });
    // an empty object leaves no name expected: the string after it is an element
    expect(parseJsonBody(bytes('{"":1,"a":[{},""],"b":[{},""]}'))).toEqual({ '': 1, a: [{}, ''], b: [{}, ''] });
  });

  it('refuses any body with bytes that are not UTF-8, wherever they are', () => {
    const invalid = fc.constantFrom([0xff], [0xc0, 0x80], [0x80], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x98]);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.nat(), invalid, (text, at, sequence) => {
        const encoded = bytes(text);
        const cut = at % (encoded.length + 1);
        // cut at a character boundary: what is inserted is the only malformed sequence
        const prefix = bytes(encoded.subarray(0, cut).toString('utf8').replace(/\ufffd$/, ''));
        const body = Buffer.concat([bytes('{"text":"'), prefix, Buffer.from(sequence), encoded.subarray(prefix.length), bytes('"}')]);
        expect(refusal(body)?.code).toBe('BODY_INVALID_UTF8');
      }),
    );
    expect(refusal(Buffer.from('{"rationale":"look \xff before"}', 'latin1'))).toEqual({ code: 'BODY_INVALID_UTF8', pointer: undefined });
  });

  it('refuses an escaped unpaired surrogate (no UTF-8 can carry it), and takes an escaped pair', () => {
    expect(refusal('{"a":["ok","x\\ud800"]}')).toEqual({ code: 'BODY_INVALID_UTF8', pointer: '/a/1' });
    expect(refusal('{"a":{"b":"\\uDFFF"}}')).toEqual({ code: 'BODY_INVALID_UTF8', pointer: '/a/b' });
    expect(parseJsonBody(bytes('{"a":"\\ud83d\\ude00","b":"\\\\ud800"}'))).toEqual({ a: '😀', b: '\\ud800' });
  });

  it('drops a leading byte order mark, as RFC 8259 §8.1 allows', () => {
    expect(parseJsonBody(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes('{"a":1}')]))).toEqual({ a: 1 });
  });

  it.each([
    ['-0', 'is negative zero'],
    ['-0.0', 'is negative zero'],
    ['-0e-5', 'is negative zero'],
    ['-1e-400', 'is negative zero'],
    ['1e-400', 'underflows to zero'],
    ['0.0000e-400', null],
    ['1e309', 'overflows to infinity'],
    ['-1.5e400', 'overflows to infinity'],
    ['9007199254740992', 'is an integer beyond 2^53 - 1, which a double cannot hold exactly'],
    ['-9007199254740993', 'is an integer beyond 2^53 - 1, which a double cannot hold exactly'],
    ['1e20', 'is an integer beyond 2^53 - 1, which a double cannot hold exactly'],
    ['9007199254740991', null],
    ['-9007199254740991', null],
    ['0', null],
    ['0.0', null],
    ['1.5', null],
    ['1E2', null],
    ['5e-324', null],
  ])('the number %s: %s', (literal, problem) => {
    expect(numberProblem(literal)).toBe(problem);
    expect(refusal(`{"n":[1,{"m":${literal}}]}`)).toEqual(problem === null ? null : { code: 'BODY_NUMBER_NOT_CANONICAL', pointer: '/n/1/m' });
  });

  it('refuses any integer literal beyond 2^53 - 1 and any non-zero literal that underflows, whatever its spelling', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 2n ** 53n, max: 2n ** 80n }), fc.boolean(), (n, negative) => {
        expect(refusal(`[${negative ? '-' : ''}${n}]`)).toEqual({ code: 'BODY_NUMBER_NOT_CANONICAL', pointer: '/0' });
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 999 }), fc.integer({ min: 330, max: 5000 }), (mantissa, exponent) => {
        expect(refusal(`{"n":${mantissa}e-${exponent}}`)?.code).toBe('BODY_NUMBER_NOT_CANONICAL');
      }),
    );
  });

  it('refuses the members Fastify’s parser refused for prototype poisoning, at any depth and spelling', () => {
    expect(refusal('{"a":[{"__proto__":{"admin":true}}]}')).toEqual({ code: 'BODY_FORBIDDEN_KEY', pointer: '/a/0/__proto__' });
    expect(refusal('{"\\u005f_proto__":1}')).toEqual({ code: 'BODY_FORBIDDEN_KEY', pointer: '/__proto__' });
    expect(refusal('{"constructor":{"prototype":{"x":1}}}')).toEqual({ code: 'BODY_FORBIDDEN_KEY', pointer: '/constructor/prototype' });
    // each name alone is harmless
    expect(parseJsonBody(bytes('{"constructor":1,"prototype":{"constructor":2}}'))).toEqual({ constructor: 1, prototype: { constructor: 2 } });
  });

  it('refuses empty and malformed text with BAD_REQUEST', () => {
    for (const text of ['', ' ', '{', '{"a":1,}', "{'a':1}", '[1 2]', 'NaN', '{"a":1}x']) expect(refusal(text)?.code, text).toBe('BAD_REQUEST');
  });

  it('names a pointer whatever the member name holds (RFC 6901 escapes)', () => {
    expect(refusal('{"a/b":{"c~d":{"":1,"":2}}}')).toEqual({ code: 'BODY_DUPLICATE_KEY', pointer: '/a~1b/c~0d/' });
    const long = 'k'.repeat(500);
    try {
      parseJsonBody(bytes(`{"${long}":1,"${long}":2}`));
      expect.unreachable('should have thrown');
    } catch (err) {
      // the message quotes a clipped pointer; the details carry it whole
      expect((err as JsonBodyError).message.length).toBeLessThan(200);
      expect((err as JsonBodyError).details?.['pointer']).toBe(`/${long}`);
    }
  });
});
