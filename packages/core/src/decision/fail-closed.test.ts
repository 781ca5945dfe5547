import { describe, expect, it } from 'vitest';
import { RULE_FAIL_CLOSED } from '../policy/compile.js';
import { examplePolicy } from '../../../../test/scenario/world.js';
import { decide, decideProposal, EMPTY_DECISION_STATE } from './decide.js';
import { stepDigest } from './digest.js';
import type { Proposal, ProposalStep } from './proposal.js';

/**
 * Deciding fails closed: whatever goes wrong inside evaluation, the step is
 * denied with EVALUATION_ERROR, never allowed and never thrown; and a step
 * with no canonical form gets no digest an approval could bind to.
 */

const NOW = Date.parse('2025-06-01T09:12:00.000Z');
const inspect: ProposalStep = { action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} };
const LONE = '\ud800';

describe('a step that cannot be evaluated is denied', () => {
  it.each([Number.NaN, 1.5, Number.POSITIVE_INFINITY])('under a clock reading %s, even a step that would be allowed', (now) => {
    const d = decide(examplePolicy(), inspect, EMPTY_DECISION_STATE, now);
    expect(d).toMatchObject({ effect: 'deny', reasons: ['EVALUATION_ERROR'], rule_ids: [RULE_FAIL_CLOSED], requirements: null });
  });

  it('when it has no canonical form, keeping what it named for the record', () => {
    const d = decide(examplePolicy(), { ...inspect, target: `payments-queue/shard-7${LONE}` }, EMPTY_DECISION_STATE, NOW);
    expect(d).toMatchObject({ effect: 'deny', reasons: ['EVALUATION_ERROR'], step_digest: null, action: 'queue.inspect', environment: 'prod', target: `payments-queue/shard-7${LONE}` });
  });

  it('when its fields are not even strings, recording them as empty', () => {
    const junk = { action: 7, environment: null, target: ['x'], params: { note: LONE } } as unknown as ProposalStep;
    expect(decide(examplePolicy(), junk, EMPTY_DECISION_STATE, NOW)).toMatchObject({ effect: 'deny', reasons: ['EVALUATION_ERROR'], action: '', environment: '', target: '' });
  });

  it('every step of a proposal whose parties cannot be read', () => {
    const proposal = {
      get agent(): string {
        throw new Error('unreadable');
      },
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      steps: [inspect, inspect],
    } as unknown as Proposal;
    const decisions = decideProposal(examplePolicy(), proposal, EMPTY_DECISION_STATE, NOW);
    expect(decisions).toHaveLength(2);
    for (const d of decisions) {
      expect(d).toMatchObject({ effect: 'deny', reasons: ['EVALUATION_ERROR'], requirements: null });
      expect(d.rule_ids[0]).toBe(RULE_FAIL_CLOSED);
      // each step is still evaluated, so the record names its action's class and rules
      expect(d.action_class).toBe('read');
      expect(d.rule_ids).toContain('action:queue.inspect');
    }
  });
});

describe('a step digest', () => {
  it.each([
    ['action', { ...inspect, action: LONE }],
    ['environment', { ...inspect, environment: LONE }],
    ['target', { ...inspect, target: LONE }],
    ['a parameter value', { ...inspect, params: { note: LONE } }],
  ])('is refused for an unpaired surrogate in the %s (RFC 8785 §3.1)', (_label, step) => {
    expect(() => stepDigest(step, `sha256:${'b'.repeat(64)}`)).toThrow(expect.objectContaining({ code: 'NOT_CANONICALIZABLE' }));
  });

  it('is refused for an unpaired surrogate in the bundle id', () => {
    expect(() => stepDigest(inspect, LONE)).toThrow(expect.objectContaining({ code: 'NOT_CANONICALIZABLE' }));
  });
});
