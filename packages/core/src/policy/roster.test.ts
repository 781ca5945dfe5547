import { sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CountersignError } from '../errors.js';
import { buildRoster, formatPublicKey, parsePublicKey } from './roster.js';
import type { Principal } from './schema.js';
import { newEd25519KeyPair } from '../ledger/key.js';

const human = (id: string, extra: Partial<Principal> = {}): Principal => ({ id, kind: 'human', roles: [], keys: [], ...extra });

describe('buildRoster', () => {
  it('indexes principals, roles, kinds and keys', () => {
    const { publicKey, privateKey } = newEd25519KeyPair();
    const roster = buildRoster({
      principals: [
        human('lena', { roles: ['incident-lead'], keys: [{ id: 'lena-2025', public_key: formatPublicKey(publicKey) }] }),
        { id: 'bot', kind: 'agent', roles: ['agent'], keys: [] },
      ],
    });
    expect(roster.get('lena')?.kind).toBe('human');
    expect(roster.get('bot')?.kind).toBe('agent');
    expect(roster.hasRole('lena', 'incident-lead')).toBe(true);
    expect(roster.hasRole('lena', 'agent')).toBe(false);
    expect(roster.hasRole('nobody', 'agent')).toBe(false);
    const key = roster.keys.get('lena-2025');
    expect(key?.principal).toBe('lena');
    const msg = Buffer.from('x');
    expect(verify(null, msg, key!.key, sign(null, msg, privateKey))).toBe(true);
  });

  it('parses each key text once and reuses the KeyObject', () => {
    const { publicKey } = newEd25519KeyPair();
    const text = formatPublicKey(publicKey);
    expect(parsePublicKey(text)).toBe(parsePublicKey(text));
    expect(formatPublicKey(parsePublicKey(text))).toBe(text);
  });

  it.each([
    ['a malformed key', 'ed25519:short'],
    ['another algorithm', `rsa:${'A'.repeat(43)}`],
  ])('refuses %s with POLICY_INVALID', (_label, text) => {
    expect(() => parsePublicKey(text)).toThrow(CountersignError);
  });

  it('refuses duplicate principal ids and duplicate key ids', () => {
    const text = formatPublicKey(newEd25519KeyPair().publicKey);
    expect(() => buildRoster({ principals: [human('a'), human('a')] })).toThrow(/declared twice/);
    expect(() =>
      buildRoster({
        principals: [human('a', { keys: [{ id: 'k', public_key: text }] }), human('b', { keys: [{ id: 'k', public_key: text }] })],
      }),
    ).toThrow(/declared twice/);
  });

  it('follows reporting lines transitively and not upwards or sideways', () => {
    // olivia -> lena -> priya, omar -> leo -> priya
    const roster = buildRoster({
      principals: [
        human('priya'),
        human('lena', { reports_to: 'priya' }),
        human('leo', { reports_to: 'priya' }),
        human('olivia', { reports_to: 'lena' }),
        human('omar', { reports_to: 'leo' }),
      ],
    });
    expect(roster.reportsTo('olivia', 'lena')).toBe(true);
    expect(roster.reportsTo('olivia', 'priya')).toBe(true);
    expect(roster.reportsTo('lena', 'olivia')).toBe(false);
    expect(roster.reportsTo('olivia', 'leo')).toBe(false);
    expect(roster.reportsTo('olivia', 'olivia')).toBe(false);
    expect(roster.reportsTo('priya', 'priya')).toBe(false);
    expect(roster.get('olivia')?.chain).toEqual(['lena', 'priya']);
  });

  it('fails closed on a cycle or an undeclared manager: the principal reports to everyone', () => {
    const roster = buildRoster({
      principals: [human('a', { reports_to: 'b' }), human('b', { reports_to: 'a' }), human('c', { reports_to: 'ghost' }), human('d')],
    });
    expect(roster.get('a')?.chain).toBeNull();
    expect(roster.reportsTo('a', 'd')).toBe(true);
    expect(roster.reportsTo('c', 'd')).toBe(true);
    expect(roster.reportsTo('d', 'a')).toBe(false);
    expect(roster.reportsTo('unknown', 'a')).toBe(false);
  });

  it('agrees with walking reports_to for random forests', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.nat(), { nil: undefined }), { minLength: 1, maxLength: 12 }), (parents) => {
        // principal i may only report to some j < i: a forest, never a cycle
        const principals = parents.map((p, i) => human(`p${i}`, p === undefined || i === 0 ? {} : { reports_to: `p${p % i}` }));
        const roster = buildRoster({ principals });
        const walk = (a: number, b: number): boolean => {
          let cur = principals[a]?.reports_to;
          while (cur !== undefined) {
            if (cur === `p${b}`) return true;
            cur = principals[Number(cur.slice(1))]?.reports_to;
          }
          return false;
        };
        for (let a = 0; a < principals.length; a += 1) {
          for (let b = 0; b < principals.length; b += 1) {
            expect(roster.reportsTo(`p${a}`, `p${b}`)).toBe(walk(a, b));
          }
        }
      }),
    );
  });
});
