import { describe, expect, it } from 'vitest';
import { isCountersignError } from '../errors.js';
import { compilePolicy, ruleKey } from './compile.js';
import { PolicyBundle, type PolicyBundleInput } from './schema.js';

const base: PolicyBundleInput = {
  version: 1,
  name: 'mini',
  environments: ['dev', 'prod'],
  surfaces: [{ id: 'copilot-console' }, { id: 'signed-cli' }],
  principals: [{ id: 'bot', kind: 'agent' }],
  risk_classes: [
    { id: 'low', effect: 'allow' },
    { id: 'high', effect: 'require_approval', approval: { quorum: [{ roles: ['lead'] }], surfaces: ['signed-cli'], approval_ttl: '15m', grant_ttl: '5m' } },
  ],
  actions: [
    { id: 'queue.inspect', class: 'read', risk: { dev: 'low', prod: 'low' } },
    {
      id: 'queue.clear_shard',
      class: 'destructive',
      risk: { prod: 'high' },
      target_pattern: '[a-z]+/shard-[0-9]+',
      requires_prior: [{ action: 'queue.snapshot_shard', within: '30m' }],
      params: { reason: { type: 'string' } },
    },
    { id: 'workers.restart_pool', class: 'write', risk: { dev: 'low', prod: 'low' }, approval: { quorum: [{ roles: ['owner'], count: 2 }], grant_ttl: '1m' }, rollback_required: true },
  ],
};

const compile = (input: PolicyBundleInput = base) => compilePolicy(PolicyBundle.parse(input), 'sha256:test');

function errorOf(fn: () => unknown): { code: string; message: string } | undefined {
  try {
    fn();
  } catch (err) {
    if (isCountersignError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  return undefined;
}

describe('compilePolicy', () => {
  it('indexes rules by action and environment with durations in ms', () => {
    const c = compile();
    expect(c.rules.size).toBe(5);
    const clear = c.rules.get(ruleKey('queue.clear_shard', 'prod'));
    expect(clear).toMatchObject({ risk: 'high', effect: 'require_approval', ruleIds: ['action:queue.clear_shard', 'risk:high@prod'] });
    expect(clear?.requirement).toMatchObject({ surfaces: ['signed-cli'], approvalTtlMs: 900_000, grantTtlMs: 300_000 });
    expect(c.rules.get(ruleKey('queue.clear_shard', 'dev'))).toBeUndefined();
    expect(c.actions.get('queue.clear_shard')?.prior).toEqual([{ action: 'queue.snapshot_shard', within: '30m', withinMs: 1_800_000, ruleId: 'prior:queue.snapshot_shard<=30m' }]);
  });

  it('anchors target patterns so they match in full', () => {
    const target = compile().actions.get('queue.clear_shard')?.target;
    expect(target?.test('payments/shard-7')).toBe(true);
    expect(target?.test('xpayments/shard-7;')).toBe(false);
    expect(target?.test('payments/shard-7\n')).toBe(false);
  });

  it('closes params when they are declared, unless opened explicitly', () => {
    const c = compile();
    expect(c.actions.get('queue.clear_shard')?.closedParams).toBe(true);
    expect(c.actions.get('queue.inspect')?.closedParams).toBe(false);
  });

  it('lets a per-action approval tighten an allow into require_approval in every environment', () => {
    const rule = compile().rules.get(ruleKey('workers.restart_pool', 'dev'));
    expect(rule).toMatchObject({ effect: 'require_approval', ruleIds: ['action:workers.restart_pool', 'risk:low@dev', 'approval:workers.restart_pool'] });
    expect(rule?.requirement.quorum).toEqual([{ roles: ['owner'], count: 2 }]);
    expect(rule?.requirement.grantTtlMs).toBe(60_000);
  });

  it('lists every rule id a decision can cite, for coverage', () => {
    expect(compile().ruleIds).toEqual([
      'env:closed-list',
      'action:closed-list',
      'surface:closed-list',
      'principal:roster',
      'action:queue.inspect',
      'risk:low@dev',
      'risk:low@prod',
      'action:queue.clear_shard',
      'target:queue.clear_shard',
      'param:queue.clear_shard.reason',
      'params:queue.clear_shard:closed',
      'prior:queue.snapshot_shard<=30m',
      'risk:high@prod',
      'action:workers.restart_pool',
      'rollback:workers.restart_pool',
      'approval:workers.restart_pool',
    ]);
  });

  it('freezes what every request shares', () => {
    const c = compile();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.rules.get(ruleKey('queue.clear_shard', 'prod'))?.requirement.quorum)).toBe(true);
  });

  it('refuses what would make decisions wrong', () => {
    const withAction = (over: object) => ({ ...base, actions: [{ id: 'a.b', class: 'write', risk: { prod: 'low' }, ...over }] }) as PolicyBundleInput;
    expect(errorOf(() => compile(withAction({ risk: { prod: 'extreme' } })))).toMatchObject({ code: 'POLICY_INVALID', message: 'action `a.b` uses undeclared risk class `extreme`' });
    expect(errorOf(() => compile(withAction({ risk: { staging: 'low' } })))?.message).toContain('undeclared environment `staging`');
    expect(errorOf(() => compile(withAction({ target_pattern: '(' })))?.message).toContain('not a valid regular expression');
    expect(
      errorOf(() => compile({ ...base, risk_classes: [{ id: 'low', effect: 'require_approval' }], actions: [{ id: 'a.b', class: 'write', risk: { prod: 'low' } }] })),
    ).toMatchObject({ code: 'POLICY_INVALID', message: 'action `a.b` requires approval in `prod` but names no quorum' });
  });
});
