import { describe, expect, it } from 'vitest';
import { isCountersignError } from '../errors.js';
import { parseProposal, parseStep, PROPOSAL_LIMITS } from './proposal.js';

const valid = {
  agent: 'payments-copilot',
  on_behalf_of: 'olivia',
  surface: 'copilot-console',
  steps: [{ action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling' } }],
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isCountersignError(err) ? err.code : 'OTHER';
  }
  return undefined;
}

describe('parseProposal', () => {
  it('accepts a proposal and defaults params to {}', () => {
    const p = parseProposal({ ...valid, steps: [{ action: 'queue.inspect', environment: 'prod', target: 'payments/shard-7' }] });
    expect(p.steps[0]?.params).toEqual({});
  });

  it('keeps misspelled environments byte for byte so decide() can deny them', () => {
    expect(parseStep({ action: 'a.b', environment: 'prod ', target: 't' }).environment).toBe('prod ');
    expect(parseStep({ action: 'a.b', environment: 'Prod', target: 't' }).environment).toBe('Prod');
  });

  it('refuses unknown keys, empty step lists and too many steps', () => {
    expect(codeOf(() => parseProposal({ ...valid, approved: true }))).toBe('PROPOSAL_INVALID');
    expect(codeOf(() => parseProposal({ ...valid, steps: [] }))).toBe('PROPOSAL_INVALID');
    expect(codeOf(() => parseProposal({ ...valid, steps: Array(PROPOSAL_LIMITS.steps + 1).fill(valid.steps[0]) }))).toBe('PROPOSAL_INVALID');
  });

  it('names the offending field in the error', () => {
    try {
      parseProposal({ ...valid, steps: [{ ...valid.steps[0], target: 'x'.repeat(PROPOSAL_LIMITS.targetLength + 1) }] });
      expect.unreachable();
    } catch (err) {
      expect(isCountersignError(err) && err.message).toContain('`/steps/0/target`');
    }
  });

  it('refuses params that cannot be hashed canonically or are too big', () => {
    const withParams = (params: unknown) => () => parseStep({ action: 'a.b', environment: 'prod', target: 't', params });
    expect(codeOf(withParams({ n: 1.5 }))).toBe('PROPOSAL_INVALID');
    expect(codeOf(withParams({ n: 2 ** 60 }))).toBe('PROPOSAL_INVALID');
    expect(codeOf(withParams({ n: { ключ: 1 } }))).toBe('PROPOSAL_INVALID');
    expect(codeOf(withParams({ 'bad name': 1 }))).toBe('PROPOSAL_INVALID');
    let deep: unknown = 1;
    for (let i = 0; i < PROPOSAL_LIMITS.paramDepth + 2; i++) deep = [deep];
    expect(codeOf(withParams({ deep }))).toBe('PROPOSAL_INVALID');
    expect(codeOf(withParams({ many: Array(PROPOSAL_LIMITS.paramNodes + 1).fill(0) }))).toBe('PROPOSAL_INVALID');
    expect(codeOf(withParams(Object.fromEntries(Array.from({ length: PROPOSAL_LIMITS.params + 1 }, (_, i) => [`p${i}`, i]))))).toBe('PROPOSAL_INVALID');
    expect(codeOf(withParams({ nested: { list: [1, 'two', true, null] } }))).toBeUndefined();
  });

  it('refuses control characters in targets and names', () => {
    expect(codeOf(() => parseStep({ action: 'a.b', environment: 'prod', target: 'pool\n' }))).toBe('PROPOSAL_INVALID');
    expect(codeOf(() => parseProposal({ ...valid, agent: 'copilot\u0000' }))).toBe('PROPOSAL_INVALID');
  });
});
