import { describe, expect, it } from 'vitest';
import { compilePolicy } from '../policy/compile.js';
import { PolicyBundle } from '../policy/schema.js';
import { GoldenCase, type GoldenCaseInput } from './case.js';
import { formatDifference, goldenCoverage, runGoldenCase } from './run.js';

const policy = compilePolicy(
  PolicyBundle.parse({
    version: 1,
    name: 'mini',
    environments: ['dev', 'prod'],
    surfaces: [{ id: 'copilot-console' }, { id: 'approver-console' }, { id: 'signed-cli' }],
    principals: [
      { id: 'bot', kind: 'agent' },
      { id: 'olivia', kind: 'human' },
    ],
    risk_classes: [
      { id: 'low', effect: 'allow' },
      { id: 'critical', effect: 'require_approval', approval: { quorum: [{ roles: ['lead'] }], surfaces: ['signed-cli', 'copilot-console'], attestation: 'key', approval_ttl: '15m' } },
    ],
    actions: [
      { id: 'queue.inspect', class: 'read', risk: { dev: 'low', prod: 'low' } },
      { id: 'queue.snapshot_shard', class: 'write', risk: { prod: 'low' } },
      { id: 'queue.clear_shard', class: 'destructive', risk: { prod: 'critical' }, requires_prior: [{ action: 'queue.snapshot_shard', within: '30m' }] },
    ],
  }),
  'sha256:mini',
);

const proposal = (steps: { action: string; environment: string; target: string }[]) => ({ agent: 'bot', on_behalf_of: 'olivia', surface: 'copilot-console', steps });
const clear = { action: 'queue.clear_shard', environment: 'prod', target: 'payments/shard-7' };

const run = (input: GoldenCaseInput) => runGoldenCase(policy, GoldenCase.parse(input));

describe('runGoldenCase', () => {
  it('passes when every expectation holds, with the clock and executions of `given`', () => {
    const result = run({
      name: 'clear after a snapshot',
      given: { now: '2026-05-15T09:16:00Z', executions: [{ action: 'queue.snapshot_shard', environment: 'prod', target: 'payments/shard-7', ago: '10m' }] },
      when: { proposal: proposal([clear]) },
      expect: [
        {
          effect: 'require_approval',
          risk: 'critical',
          reasons: ['APPROVAL_REQUIRED'],
          rule_ids_include: ['prior:queue.snapshot_shard<=30m'],
          requirements: { surfaces: ['signed-cli'], surfaces_exclude: ['copilot-console'], attestation: 'key', approval_expires_at: '2026-05-15T09:31:00Z', prerequisites: ['queue.snapshot_shard'] },
        },
      ],
    });
    expect(result.differences).toEqual([]);
    expect(result.passed).toBe(true);
  });

  it('uses `at` instants and keeps the latest execution per target', () => {
    const result = run({
      name: 'stale snapshot',
      given: {
        now: '2026-05-15T09:16:00Z',
        executions: [
          { action: 'queue.snapshot_shard', environment: 'prod', target: 'payments/shard-7', at: '2026-05-15T08:36:00Z' },
          { action: 'queue.snapshot_shard', environment: 'prod', target: 'payments/shard-8', at: '2026-05-15T09:10:00Z' },
        ],
      },
      when: { proposal: proposal([clear]) },
      expect: [{ effect: 'deny', reasons: ['PREREQUISITE_MISSING'], requirements: null }],
    });
    expect(result.passed).toBe(true);
  });

  it('reports each difference with the step, the field, the expected and the actual value', () => {
    const result = run({
      name: 'wrong on purpose',
      when: { proposal: proposal([clear, { action: 'queue.inspect', environment: 'prod ', target: 'x' }]) },
      expect: [
        { effect: 'require_approval', risk: 'low', reasons: ['APPROVAL_REQUIRED'] },
        { effect: 'allow', requirements: { grant_ttl_ms: 1 } },
      ],
    });
    expect(result.passed).toBe(false);
    expect(result.differences.map(formatDifference)).toEqual([
      'step 1 queue.clear_shard@prod: effect expected "require_approval", got "deny"',
      'step 1 queue.clear_shard@prod: risk expected "low", got "critical"',
      'step 1 queue.clear_shard@prod: reasons expected ["APPROVAL_REQUIRED"], got ["PREREQUISITE_MISSING"]',
      'step 2 queue.inspect@"prod ": effect expected "allow", got "deny"',
      'step 2 queue.inspect@"prod ": requirements expected {"grant_ttl_ms":1}, got null',
    ]);
  });

  it('compares who must approve exactly: every factor, as often as it appears, and the surfaces', () => {
    const expectQuorum = (quorum: { roles: string[]; count: number }[], surfaces = ['signed-cli']) =>
      run({
        name: 'who approves',
        given: { executions: [{ action: 'queue.snapshot_shard', environment: 'prod', target: 'payments/shard-7', ago: '1m' }] },
        when: { proposal: proposal([clear]) },
        expect: [{ effect: 'require_approval', requirements: { quorum, surfaces } }],
      }).differences.map(formatDifference);
    expect(expectQuorum([{ roles: ['lead'], count: 1 }])).toEqual([]);
    // one lead is not two leads, nor two of lead
    expect(expectQuorum([{ roles: ['lead'], count: 1 }, { roles: ['lead'], count: 1 }])).toEqual([
      'step 1 queue.clear_shard@prod: requirements.quorum expected ["1 of lead","1 of lead"], got ["1 of lead"]',
    ]);
    expect(expectQuorum([{ roles: ['lead'], count: 2 }])).toEqual(['step 1 queue.clear_shard@prod: requirements.quorum expected ["2 of lead"], got ["1 of lead"]']);
    expect(expectQuorum([{ roles: ['lead', 'owner'], count: 1 }])).toEqual([
      'step 1 queue.clear_shard@prod: requirements.quorum expected ["1 of lead|owner"], got ["1 of lead"]',
    ]);
    // the request's own surface is never an approval surface
    expect(expectQuorum([{ roles: ['lead'], count: 1 }], ['signed-cli', 'copilot-console'])).toEqual([
      'step 1 queue.clear_shard@prod: requirements.surfaces expected ["copilot-console","signed-cli"], got ["signed-cli"]',
    ]);
  });

  it('fails when the number of expectations differs from the number of steps', () => {
    const result = run({ name: 'count', when: { proposal: proposal([clear, clear]) }, expect: [{ effect: 'deny' }] });
    expect(result.differences.map(formatDifference)).toEqual(['decisions: expected 1, got 2']);
  });

  it('refuses misspelled expectation keys and unknown reason codes', () => {
    const base = { name: 'x', when: { proposal: proposal([clear]) } };
    expect(GoldenCase.safeParse({ ...base, expect: [{ effect: 'deny', reason: ['PREREQUISITE_MISSING'] }] }).success).toBe(false);
    expect(GoldenCase.safeParse({ ...base, expect: [{ effect: 'deny', reasons: ['PREREQ_MISSING'] }] }).success).toBe(false);
    expect(GoldenCase.safeParse({ ...base, expect: [{ effect: 'denied' }] }).success).toBe(false);
  });
});

describe('goldenCoverage', () => {
  it('lists contracts, environments and rules no decision exercised', () => {
    const result = run({ name: 'only clear', when: { proposal: proposal([clear]) }, expect: [{ effect: 'deny' }] });
    expect(goldenCoverage(policy, result.decisions)).toEqual({
      contracts: ['queue.inspect', 'queue.snapshot_shard'],
      environments: ['queue.inspect@dev', 'queue.inspect@prod', 'queue.snapshot_shard@prod'],
      rules: ['env:closed-list', 'action:closed-list', 'surface:closed-list', 'principal:roster', 'action:queue.inspect', 'risk:low@dev', 'risk:low@prod', 'action:queue.snapshot_shard'],
    });
  });
});
