import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unsatisfiable, type ApproverRequirement, type RosterCandidate } from './satisfiable.js';

const KEY = [{ id: 'k', public_key: 'ed25519:…' }];
const human = (id: string, roles: string[], keyed = true): RosterCandidate => ({ id, kind: 'human', roles, keys: keyed ? KEY : [] });

const ROSTER: RosterCandidate[] = [
  { id: 'bot', kind: 'agent', roles: ['lead'], keys: KEY },
  { id: 'cron', kind: 'service', roles: ['owner'], keys: KEY },
  human('lena', ['lead']),
  human('leo', ['lead'], false),
  human('priya', ['owner']),
];

const need = (quorum: ApproverRequirement['quorum'], attestation: 'key' | 'any' = 'any', surfaces = ['signed-cli']): ApproverRequirement => ({ quorum, surfaces, attestation });

describe('unsatisfiable', () => {
  it('finds nothing when some set of people could meet the requirement', () => {
    expect(unsatisfiable(need([{ roles: ['lead'], count: 2 }]), ROSTER)).toEqual([]);
    expect(unsatisfiable(need([{ roles: ['lead'], count: 1 }, { roles: ['owner'], count: 1 }], 'key'), ROSTER)).toEqual([]);
  });

  it('an empty surface list allows no approval at all', () => {
    expect(unsatisfiable(need([{ roles: ['lead'], count: 1 }], 'any', []), ROSTER)).toEqual([
      { code: 'NO_APPROVAL_SURFACE', factor: null, message: 'no surface is allowed, so no approval can ever arrive' },
    ]);
  });

  it('a factor needing more people than hold its roles; agents and services never count', () => {
    expect(unsatisfiable(need([{ roles: ['owner'], count: 1 }, { roles: ['lead', 'sre'], count: 3 }]), ROSTER)).toEqual([
      { code: 'QUORUM_UNREACHABLE', factor: 1, message: '3 people holding `lead` or `sre` are needed, and the roster has 2' },
    ]);
    expect(unsatisfiable(need([{ roles: ['sre'], count: 1 }]), ROSTER)).toEqual([
      { code: 'QUORUM_UNREACHABLE', factor: 0, message: '1 person holding `sre` is needed, and the roster has none' },
    ]);
    // `cron` holds `owner` but is a service, `bot` holds `lead` but is an agent
    expect(unsatisfiable(need([{ roles: ['owner'], count: 2 }]), ROSTER).map((p) => p.code)).toEqual(['QUORUM_UNREACHABLE']);
  });

  it('key attestation with eligible people who have no key', () => {
    const noKeys = [human('lena', ['lead'], false), human('leo', ['lead'], false), human('priya', ['owner'])];
    expect(unsatisfiable(need([{ roles: ['lead'], count: 1 }], 'key'), noKeys)).toEqual([
      { code: 'APPROVER_KEY_MISSING', factor: 0, message: '1 person holding `lead` and signing with a roster key is needed, and none of the 2 who hold it has a key' },
    ]);
    expect(unsatisfiable(need([{ roles: ['lead'], count: 2 }], 'key'), ROSTER)).toEqual([
      { code: 'APPROVER_KEY_MISSING', factor: 0, message: '2 people holding `lead` and signing with a roster key are needed, and only 1 of the 2 who hold it has a key' },
    ]);
    // a console click attested by the gateway needs no key
    expect(unsatisfiable(need([{ roles: ['lead'], count: 1 }], 'any'), noKeys)).toEqual([]);
  });

  it('judges the factors together: one person fills one seat', () => {
    // each factor alone can be met by priya, both together need two people
    const onePerson = [human('priya', ['lead', 'owner'])];
    expect(unsatisfiable(need([{ roles: ['lead'], count: 1 }, { roles: ['lead', 'owner'], count: 1 }]), onePerson)).toEqual([
      { code: 'QUORUM_UNREACHABLE', factor: null, message: 'the factors together need 2 people, one person counting for one factor, and the roster cannot seat them' },
    ]);
    // two leads, one with a key: either factor alone has a keyed lead, not both at once
    expect(unsatisfiable(need([{ roles: ['lead'], count: 1 }, { roles: ['lead', 'owner'], count: 1 }], 'key'), [human('lena', ['lead']), human('leo', ['lead'], false)])).toEqual([
      {
        code: 'APPROVER_KEY_MISSING',
        factor: null,
        message: 'the factors together need 2 people signing with a roster key, one person counting for one factor, and those with a key cannot fill them',
      },
    ]);
  });

  it('a duplicated id does not hide a person (validation reports the duplicate)', () => {
    expect(unsatisfiable(need([{ roles: ['lead'], count: 1 }, { roles: ['owner'], count: 1 }]), [human('olivia', ['lead']), human('olivia', ['owner'])])).toEqual([]);
  });

  // The law: nothing is reported exactly when some set of eligible people can
  // be seated, one per seat, every factor full. Checked against brute force.
  it('reports a requirement exactly when no assignment of people to seats meets it (property)', () => {
    const ROLES = ['a', 'b', 'c'];
    const candidate = fc.record({
      kind: fc.constantFrom('human', 'human', 'agent', 'service') as fc.Arbitrary<RosterCandidate['kind']>,
      roles: fc.subarray(ROLES),
      keyed: fc.boolean(),
    });
    const requirement = fc.record({
      quorum: fc.array(fc.record({ roles: fc.subarray(ROLES, { minLength: 1 }), count: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 3 }),
      attestation: fc.constantFrom('key', 'any') as fc.Arbitrary<'key' | 'any'>,
    });
    fc.assert(
      fc.property(fc.array(candidate, { maxLength: 6 }), requirement, (people, req) => {
        const roster = people.map((p, i): RosterCandidate => ({ id: `p${i}`, kind: p.kind, roles: p.roles, keys: p.keyed ? KEY : [] }));
        const found = unsatisfiable({ ...req, surfaces: ['signed-cli'] }, roster);
        const eligible = roster.filter((p) => p.kind === 'human' && (req.attestation === 'any' || p.keys.length > 0));
        expect(found.length === 0).toBe(canSeat(req.quorum, eligible));
        // the cause is named right: keys are blamed only where people would otherwise suffice
        const humans = roster.filter((p) => p.kind === 'human');
        for (const problem of found) {
          const factors = problem.factor === null ? req.quorum : [req.quorum[problem.factor]!];
          expect(problem.code).toBe(canSeat(factors, humans) ? 'APPROVER_KEY_MISSING' : 'QUORUM_UNREACHABLE');
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** Brute force: try every way of giving each person one seat or none. */
function canSeat(quorum: readonly { roles: readonly string[]; count: number }[], people: readonly RosterCandidate[]): boolean {
  const filled = quorum.map(() => 0);
  const go = (i: number): boolean => {
    if (filled.every((n, f) => n >= (quorum[f]?.count ?? 0))) return true;
    if (i === people.length) return false;
    if (go(i + 1)) return true;
    const person = people[i] as RosterCandidate;
    for (let f = 0; f < quorum.length; f++) {
      const factor = quorum[f] as { roles: readonly string[]; count: number };
      if (filled[f]! < factor.count && factor.roles.some((r) => person.roles.includes(r))) {
        filled[f]! += 1;
        if (go(i + 1)) return true;
        filled[f]! -= 1;
      }
    }
    return false;
  };
  return go(0);
}
