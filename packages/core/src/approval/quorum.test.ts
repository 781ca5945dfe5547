import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { assignQuorum, type QuorumFactorSpec } from './quorum.js';

const rolesOf: Record<string, readonly string[]> = {
  both: ['lead', 'owner'],
  lead: ['lead'],
  owner: ['owner'],
  finance: ['finance'],
  delegate: ['owner', 'finance'],
};
const hasRole = (p: string, r: string): boolean => rolesOf[p]?.includes(r) ?? false;

describe('assignQuorum', () => {
  it('meets a two-factor quorum with one person per factor', () => {
    const factors = [{ roles: ['lead'], count: 1 }, { roles: ['owner', 'finance'], count: 1 }];
    const state = assignQuorum(factors, ['lead', 'finance'], hasRole);
    expect(state.met).toBe(true);
    expect(state.seats).toEqual([{ approver: 'lead', factor: 0 }, { approver: 'finance', factor: 1 }]);
    expect(state.remaining).toEqual([]);
  });

  it('never lets one person count for two factors', () => {
    const factors = [{ roles: ['lead'], count: 1 }, { roles: ['owner'], count: 1 }];
    const state = assignQuorum(factors, ['both', 'both'], hasRole);
    expect(state.met).toBe(false);
    expect(state.seats).toHaveLength(1);
    expect(state.remaining).toEqual([{ factor: 1, roles: ['owner'], needed: 1 }]);
  });

  it('moves an earlier approver to another factor when that lets a later one count', () => {
    // greedy would seat `both` on factor 0 and then have no seat for `lead`
    const factors = [{ roles: ['lead'], count: 1 }, { roles: ['owner'], count: 1 }];
    const state = assignQuorum(factors, ['both', 'lead'], hasRole);
    expect(state.met).toBe(true);
    expect(state.seats).toEqual([{ approver: 'both', factor: 1 }, { approver: 'lead', factor: 0 }]);
  });

  it('moves approvers along a chain of factors when that lets a later one count', () => {
    // both sits on lead, delegate on owner; a plain lead needs both to move to
    // owner, which needs delegate to move to finance: an augmenting path of two moves
    const factors = [{ roles: ['lead'], count: 1 }, { roles: ['owner'], count: 1 }, { roles: ['finance'], count: 1 }];
    const state = assignQuorum(factors, ['both', 'delegate', 'lead'], hasRole);
    expect(state.met).toBe(true);
    expect(state.seats).toEqual([{ approver: 'both', factor: 1 }, { approver: 'delegate', factor: 2 }, { approver: 'lead', factor: 0 }]);
    expect(state.remaining).toEqual([]);
  });

  it('needs distinct people for a count above one, and says how many are still missing', () => {
    const factors = [{ roles: ['lead', 'owner'], count: 2 }];
    expect(assignQuorum(factors, [], hasRole).remaining).toEqual([{ factor: 0, roles: ['lead', 'owner'], needed: 2 }]);
    expect(assignQuorum(factors, ['lead'], hasRole).remaining).toEqual([{ factor: 0, roles: ['lead', 'owner'], needed: 1 }]);
    expect(assignQuorum(factors, ['lead', 'owner'], hasRole).met).toBe(true);
  });

  // The schema allows 1..16; a count that slipped past it must never be met, however many approve.
  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('fails closed on a factor whose count is %s', (count) => {
    const state = assignQuorum([{ roles: ['lead', 'owner'], count }], ['lead', 'owner', 'both'], hasRole);
    expect(state.met).toBe(false);
    expect(state.seats).toEqual([]);
    expect(state.remaining).toEqual([{ factor: 0, roles: ['lead', 'owner'], needed: 1 }]);
  });

  it('seats as many approvers as the best assignment, for random factors', () => {
    const people = Object.keys(rolesOf);
    const roles = ['lead', 'owner', 'finance'];
    fc.assert(
      fc.property(
        fc.array(fc.record({ roles: fc.subarray(roles, { minLength: 1 }), count: fc.integer({ min: 1, max: 2 }) }), { minLength: 1, maxLength: 3 }),
        fc.subarray(people),
        (factors: QuorumFactorSpec[], approvers) => {
          const state = assignQuorum(factors, approvers, hasRole);
          // valid: distinct approvers, each holding a role of its factor, no factor over its count
          expect(new Set(state.seats.map((s) => s.approver)).size).toBe(state.seats.length);
          for (const s of state.seats) expect(factors[s.factor]!.roles.some((r) => hasRole(s.approver, r))).toBe(true);
          factors.forEach((f, i) => expect(state.seats.filter((s) => s.factor === i).length).toBeLessThanOrEqual(f.count));
          // maximum: no assignment found by exhaustive search seats more
          expect(state.seats.length).toBe(bestSeats(factors, approvers));
        },
      ),
    );
  });
});

function bestSeats(factors: readonly QuorumFactorSpec[], approvers: readonly string[], i = 0, load: number[] = factors.map(() => 0)): number {
  if (i === approvers.length) return 0;
  let best = bestSeats(factors, approvers, i + 1, load);
  factors.forEach((f, k) => {
    if (load[k]! < f.count && f.roles.some((r) => hasRole(approvers[i]!, r))) {
      const next = [...load];
      next[k] = next[k]! + 1;
      best = Math.max(best, 1 + bestSeats(factors, approvers, i + 1, next));
    }
  });
  return best;
}
