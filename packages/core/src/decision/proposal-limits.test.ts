import { describe, expect, it } from 'vitest';
import { isCountersignError } from '../errors.js';
import { parseProposal, parseStep, PROPOSAL_LIMITS } from './proposal.js';

/**
 * Every field of a proposal is attacker-controlled, so every size is bounded:
 * each limit admits exactly its value and refuses one more, and parameter
 * values are plain JSON all the way down, every key and value checked.
 */

const step = (params: unknown) => ({ action: 'a.b', environment: 'prod', target: 't', params });

function refused(params: unknown): boolean {
  try {
    parseStep(step(params));
    return false;
  } catch (err) {
    return isCountersignError(err) && err.code === 'PROPOSAL_INVALID';
  }
}

const nest = (levels: number, wrap: (inner: unknown) => unknown): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < levels; i += 1) value = wrap(value);
  return value;
};

describe('parameter limits admit exactly their value', () => {
  it(`values in one parameter: ${PROPOSAL_LIMITS.paramNodes}, the list counting as one`, () => {
    expect(refused({ many: Array(PROPOSAL_LIMITS.paramNodes - 1).fill(0) })).toBe(false);
    expect(refused({ many: Array(PROPOSAL_LIMITS.paramNodes).fill(0) })).toBe(true);
  });

  it(`nesting: ${PROPOSAL_LIMITS.paramDepth} levels of lists or of objects`, () => {
    expect(refused({ deep: nest(PROPOSAL_LIMITS.paramDepth, (v) => [v]) })).toBe(false);
    expect(refused({ deep: nest(PROPOSAL_LIMITS.paramDepth + 1, (v) => [v]) })).toBe(true);
    expect(refused({ deep: nest(PROPOSAL_LIMITS.paramDepth, (v) => ({ a: v })) })).toBe(false);
    expect(refused({ deep: nest(PROPOSAL_LIMITS.paramDepth + 1, (v) => ({ a: v })) })).toBe(true);
  });

  it(`a string of ${PROPOSAL_LIMITS.paramStringLength} characters`, () => {
    expect(refused({ text: 'x'.repeat(PROPOSAL_LIMITS.paramStringLength) })).toBe(false);
    expect(refused({ text: 'x'.repeat(PROPOSAL_LIMITS.paramStringLength + 1) })).toBe(true);
  });

  it(`a key of ${PROPOSAL_LIMITS.idLength} characters inside a value`, () => {
    expect(refused({ n: { ['k'.repeat(PROPOSAL_LIMITS.idLength)]: 1 } })).toBe(false);
    expect(refused({ n: { ['k'.repeat(PROPOSAL_LIMITS.idLength + 1)]: 1 } })).toBe(true);
  });

  it(`${PROPOSAL_LIMITS.params} parameters`, () => {
    expect(refused(Object.fromEntries(Array.from({ length: PROPOSAL_LIMITS.params }, (_, i) => [`p${i}`, i])))).toBe(false);
  });
});

describe('parameter values are plain JSON all the way down', () => {
  it.each([
    ['a date', { n: new Date(0) }],
    ['a map', { n: new Map([['a', 1]]) }],
    ['an undefined', { n: [undefined] }],
    ['a bad key after a good one', { n: { ok: 1, ключ: 2 } }],
    ['a bad value after a good one', { n: { a: 1, b: 1.5 } }],
    ['a bad value deep in an object', { n: { a: { b: [1, { c: 2 ** 60 }] } } }],
  ])('refuses %s', (_label, params) => {
    expect(refused(params)).toBe(true);
  });
});

describe('the error', () => {
  it('lists every issue with its field, for the caller to fix them all at once', () => {
    const valid = { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [step({})] };
    for (const parse of [() => parseProposal({ ...valid, agent: '', steps: [{ ...step({}), target: '' }] }), () => parseStep({ ...step({}), action: '', target: '' })]) {
      try {
        parse();
        expect.unreachable('should have thrown');
      } catch (err) {
        const issues = isCountersignError(err) ? (err.details?.['issues'] as { path: string }[]) : [];
        expect(issues.length).toBeGreaterThanOrEqual(2);
        expect(issues.every((i) => i.path.startsWith('/'))).toBe(true);
      }
    }
  });
});
