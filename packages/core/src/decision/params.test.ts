import { describe, expect, it } from 'vitest';
import { compileBundle, examplePolicy } from '../../../../test/scenario/world.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { decide, EMPTY_DECISION_STATE, type DecisionState } from './decide.js';
import type { ProposalStep } from './proposal.js';

/**
 * Parameters arrive from the agent: attacker-controlled. Each declared
 * parameter is checked for its type, its length in code points and its
 * allowlist; undeclared ones are refused where the contract closes its
 * parameters. Each reason and rule is reported once, however many
 * parameters break it. And invalid beats held: a step the contract refuses
 * is denied even while a hold would stop it.
 */

const NOW = Date.parse('2025-06-01T09:12:00.000Z');

/** The example bundle with a contract of typed parameters and one with two prerequisites. */
function policy(): CompiledPolicy {
  const example = examplePolicy().bundle;
  return compileBundle({
    ...example,
    actions: [
      ...example.actions,
      {
        id: 'workers.scale',
        class: 'write',
        risk: { dev: 'low', staging: 'low', prod: 'low' },
        params: { replicas: { type: 'integer', required: true }, dry_run: { type: 'boolean' }, note: { type: 'string', max_length: 3 }, batch: { type: 'integer', max_length: 1 } },
      },
      {
        id: 'queue.purge',
        class: 'destructive',
        risk: { dev: 'low', staging: 'low', prod: 'low' },
        requires_prior: [
          { action: 'queue.snapshot_shard', within: '30m' },
          { action: 'queue.inspect', within: '30m' },
        ],
      },
    ],
  });
}

const scale = (params: ProposalStep['params']): ProposalStep => ({ action: 'workers.scale', environment: 'prod', target: 'payments-worker', params });
const decideNow = (step: ProposalStep, state: DecisionState = EMPTY_DECISION_STATE) => decide(policy(), step, state, NOW);

describe('typed parameters', () => {
  it('accept a value of each declared type', () => {
    expect(decideNow(scale({ replicas: 3, dry_run: true, note: 'ab' })).effect).toBe('allow');
    expect(decideNow(scale({ replicas: 0, dry_run: false })).effect).toBe('allow');
  });

  it.each([
    ['an integer given as a string', { replicas: '3' }],
    ['an integer given as a boolean', { replicas: true }],
    ['a boolean given as a string', { replicas: 3, dry_run: 'yes' }],
    ['a boolean given as a number', { replicas: 3, dry_run: 1 }],
    ['a string given as a number', { replicas: 3, note: 7 }],
    ['a string over its length in code points', { replicas: 3, note: 'abcd' }],
    ['a required parameter missing', { dry_run: true }],
  ])('refuse %s as PARAM_INVALID', (_label, params) => {
    expect(decideNow(scale(params as ProposalStep['params']))).toMatchObject({ effect: 'deny', reasons: ['PARAM_INVALID'] });
  });

  it('apply a length limit to strings only: an integer under a `max_length` is judged by its type', () => {
    expect(decideNow(scale({ replicas: 3, batch: 1234 })).effect).toBe('allow');
    expect(decideNow(scale({ replicas: 3, batch: '1' })).reasons).toEqual(['PARAM_INVALID']);
  });

  it('measure length in code points: three astral characters fit a length of three', () => {
    expect(decideNow(scale({ replicas: 3, note: '\u{1F600}\u{1F600}\u{1F600}' })).effect).toBe('allow');
  });
});

describe('undeclared parameters', () => {
  it('are refused once, with one rule, however many there are, where the contract closes its parameters', () => {
    const d = decideNow(scale({ replicas: 3, colour: 'red', size: 'xl' }));
    expect(d.reasons).toEqual(['PARAM_NOT_ALLOWED']);
    expect(new Set(d.rule_ids).size).toBe(d.rule_ids.length);
  });

  it('are taken as given where the contract declares no parameters', () => {
    const snapshot: ProposalStep = { action: 'queue.snapshot_shard', environment: 'prod', target: 'payments-queue/shard-7', params: { note: 'before the clear' } };
    expect(decideNow(snapshot).effect).toBe('allow');
  });
});

describe('what an allowed step requires', () => {
  it('no approval surfaces and no approval expiry', () => {
    expect(decideNow(scale({ replicas: 3 })).requirements).toMatchObject({ quorum: [], surfaces: [], approval_expires_at: null });
  });
});

describe('precedence', () => {
  it('denies an invalid step even while a hold covers it: invalid beats held', () => {
    const state: DecisionState = { holds: [{ id: 'hold-1', trip_gate: 'K1', scope: {} }], lastSucceeded: () => undefined };
    const bad = { action: 'workers.restart_pool', environment: 'prod', target: 'Payments Worker', params: {} };
    expect(decideNow(bad, state)).toMatchObject({ effect: 'deny', reasons: ['TARGET_NOT_ALLOWED'] });
    expect(decideNow({ ...bad, target: 'payments-worker' }, state)).toMatchObject({ effect: 'held', reasons: ['HOLD_ACTIVE'] });
  });

  it('reports a missing prerequisite once, naming each rule, and counts an unreadable time as missing', () => {
    const purge: ProposalStep = { action: 'queue.purge', environment: 'prod', target: 'payments-queue/shard-7', params: {} };
    const none = decideNow(purge);
    expect(none.reasons).toEqual(['PREREQUISITE_MISSING']);
    const priors = policy().actions.get('queue.purge')?.prior.map((p) => p.ruleId) ?? [];
    expect(priors).toHaveLength(2);
    for (const rule of priors) expect(none.rule_ids).toContain(rule);
    const unreadable = decideNow(purge, { holds: [], lastSucceeded: () => Number.NaN });
    expect(unreadable.reasons).toEqual(['PREREQUISITE_MISSING']);
    expect(decideNow(purge, { holds: [], lastSucceeded: () => NOW - 60_000 }).effect).toBe('allow');
  });
});
