import { parseUtc } from '../authority/nfc.js';
import { parseDuration } from '../policy/duration.js';
import type { PolicyBundle } from '../policy/schema.js';

/** One budget as the policy declares it (`overrides.budgets[]`). */
export type OverrideBudget = NonNullable<PolicyBundle['overrides']>['budgets'][number];

/**
 * Override budgets (DESIGN "Override lease", gate O8): overrides granted in
 * an environment within a window. Once `max` are spent, a further override
 * needs an extra signer. One count for the gate, the report and the
 * near-exhaustion notification, so none of them can disagree.
 */

/** An override granted earlier: where, and when. */
export interface PastOverride {
  readonly environments: readonly string[];
  /** RFC 3339 UTC. */
  readonly granted_at: string;
}

export interface BudgetStanding {
  readonly environment: string;
  readonly max: number;
  readonly window: string;
  /** Overrides granted in the environment within the window that ends at `now`. */
  readonly used: number;
  /** Overrides left before an extra signer is required. */
  readonly remaining: number;
  /** No override left: the next one needs an extra signer (O8). */
  readonly spent: boolean;
}

/** Overrides of `past` in the budget's environment within its window ending at `now` (epoch ms). */
export function budgetUsed(budget: OverrideBudget, past: readonly PastOverride[], now: number): number {
  const since = now - parseDuration(budget.window);
  return past.filter((o) => {
    const at = parseUtc(o.granted_at);
    // an unreadable timestamp counts against the budget: fail closed
    return o.environments.includes(budget.environment) && (Number.isNaN(at) || (at > since && at <= now));
  }).length;
}

export function budgetStanding(budget: OverrideBudget, past: readonly PastOverride[], now: number): BudgetStanding {
  const used = budgetUsed(budget, past, now);
  return { environment: budget.environment, max: budget.max, window: budget.window, used, remaining: Math.max(0, budget.max - used), spent: used >= budget.max };
}

/**
 * Near exhaustion: at most one override left before the extra signer is
 * required (or none). What an operator is told when a grant leaves a budget
 * there (issue 16), before the next override finds it spent.
 */
export function nearExhaustion(standing: BudgetStanding): boolean {
  return standing.remaining <= 1;
}
