import { isCountersignError } from '@countersign/core';
import { describe, expect, it } from 'vitest';
import { parseCaseFile } from './cases.js';

const proposal = '{ agent: bot, on_behalf_of: olivia, surface: copilot-console, steps: [{ action: queue.inspect, environment: prod, target: x }] }';

function problemsOf(text: string): string[] {
  try {
    parseCaseFile(text, 'cases.yaml');
  } catch (err) {
    if (isCountersignError(err) && err.code === 'GOLDEN_CASE_INVALID') return (err.details?.problems as string[]) ?? [];
    throw err;
  }
  return [];
}

describe('parseCaseFile', () => {
  it('reads a list of cases with the line each starts on', () => {
    const cases = parseCaseFile(`# header\n- name: a\n  when: { proposal: ${proposal} }\n  expect: [{ effect: allow }]\n- name: b\n  when: { proposal: ${proposal} }\n  expect: [{ effect: deny }]\n`, 'cases.yaml');
    expect(cases.map((c) => [c.case.name, c.line])).toEqual([
      ['a', 2],
      ['b', 5],
    ]);
    expect(cases[0]?.case.given.now).toBe('2026-01-01T00:00:00Z');
  });

  it('reads a single case mapping', () => {
    expect(parseCaseFile(`name: one\nwhen: { proposal: ${proposal} }\nexpect: [{ effect: allow }]\n`, 'c.yaml')).toHaveLength(1);
  });

  it('points at the file, line and column of each problem', () => {
    expect(problemsOf(`- name: a\n  when: { proposal: ${proposal} }\n  expect:\n    - { effect: allow, reason: [ALLOWED] }\n`)).toEqual([
      'cases.yaml:4:7: `0.expect.0` unrecognized key: "reason"',
    ]);
    expect(problemsOf(`- name: a\n  when: { proposal: ${proposal} }\n  expect: [{ effect: allowed }]\n`)[0]).toMatch(/^cases\.yaml:3:22: `0\.expect\.0\.effect` /);
    expect(problemsOf(`- name: a\n  expect: [{ effect: allow }]\n`)[0]).toMatch(/^cases\.yaml:1:3: `0\.when` /);
  });

  it('refuses YAML errors, duplicate keys and empty files', () => {
    expect(problemsOf('- name: a\n  name: b\n')[0]).toMatch(/^cases\.yaml:2:3: /);
    expect(problemsOf('- [unclosed\n')[0]).toMatch(/^cases\.yaml:\d+:\d+: /);
    expect(problemsOf('')).toEqual(['cases.yaml:1:1: expected a list of cases or one case mapping']);
    expect(problemsOf('[]')).toHaveLength(1);
  });
});
