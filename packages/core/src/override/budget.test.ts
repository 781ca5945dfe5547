import { describe, expect, it } from 'vitest';
import { budgetStanding, budgetUsed, nearExhaustion, type OverrideBudget } from './budget.js';

const prod: OverrideBudget = { environment: 'prod', max: 2, window: '7d', extra_signer_roles: ['payments-owner'] };
const now = Date.parse('2026-03-10T12:00:00.000Z');
const day = 86_400_000;
const at = (ms: number): string => new Date(ms).toISOString();

describe('override budgets', () => {
  it('counts grants in the environment within the window that ends now, never later ones', () => {
    const past = [
      { environments: ['prod'], granted_at: at(now - 8 * day) }, // before the window
      { environments: ['prod'], granted_at: at(now - 7 * day) }, // on its edge: out (at > since)
      { environments: ['prod', 'staging'], granted_at: at(now - day) },
      { environments: ['staging'], granted_at: at(now - day) },
      { environments: ['prod'], granted_at: at(now + 1) }, // after now
    ];
    expect(budgetUsed(prod, past, now)).toBe(1);
  });

  it('counts an unreadable timestamp against the budget (fail closed)', () => {
    expect(budgetUsed(prod, [{ environments: ['prod'], granted_at: 'yesterday' }], now)).toBe(1);
  });

  it('is near exhaustion with one override left or none, not with two', () => {
    const grant = { environments: ['prod'], granted_at: at(now - day) };
    const fresh = budgetStanding(prod, [], now);
    expect(fresh).toEqual({ environment: 'prod', max: 2, window: '7d', used: 0, remaining: 2, spent: false });
    expect(nearExhaustion(fresh)).toBe(false);
    const one = budgetStanding(prod, [grant], now);
    expect(one).toMatchObject({ used: 1, remaining: 1, spent: false });
    expect(nearExhaustion(one)).toBe(true);
    const spent = budgetStanding(prod, [grant, grant, grant], now);
    expect(spent).toMatchObject({ used: 3, remaining: 0, spent: true });
    expect(nearExhaustion(spent)).toBe(true);
  });
});
