import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePolicy, type CompiledPolicy } from '../policy/compile.js';
import { PolicyBundle, type PolicyBundleInput } from '../policy/schema.js';
import { decide, decideProposal, EMPTY_DECISION_STATE, type ActiveHold, type DecisionState } from './decide.js';
import { stepDigest } from './digest.js';
import { parseProposal, type Proposal, type ProposalStep } from './proposal.js';

const BUNDLE: PolicyBundleInput = {
  version: 1,
  name: 'payments',
  environments: ['dev', 'staging', 'prod'],
  surfaces: [{ id: 'copilot-console' }, { id: 'approver-console' }, { id: 'signed-cli' }],
  roles: ['agent', 'oncall-operator', 'incident-lead', 'payments-owner', 'finance-delegate'],
  principals: [
    { id: 'payments-copilot', kind: 'agent', roles: ['agent'] },
    { id: 'olivia', kind: 'human', roles: ['oncall-operator'], reports_to: 'lena' },
    { id: 'lena', kind: 'human', roles: ['incident-lead'] },
  ],
  risk_classes: [
    { id: 'low', effect: 'allow' },
    {
      id: 'high',
      effect: 'require_approval',
      approval: { quorum: [{ roles: ['incident-lead', 'payments-owner'], count: 1 }], surfaces: ['approver-console', 'signed-cli', 'copilot-console'], approval_ttl: '15m', grant_ttl: '10m' },
    },
    {
      id: 'critical',
      effect: 'require_approval',
      approval: {
        quorum: [{ roles: ['incident-lead'] }, { roles: ['payments-owner', 'finance-delegate'] }],
        surfaces: ['signed-cli'],
        attestation: 'key',
        grant_ttl: '5m',
      },
    },
    { id: 'forbidden', effect: 'deny' },
  ],
  actions: [
    { id: 'queue.inspect', class: 'read', risk: { dev: 'low', staging: 'low', prod: 'low' } },
    {
      id: 'workers.restart_pool',
      class: 'write',
      risk: { dev: 'low', prod: 'high' },
      target_pattern: '[a-z0-9][a-z0-9-]{0,62}',
      params: { strategy: { type: 'string', allow: ['rolling', 'immediate'] } },
      rollback_required: true,
    },
    { id: 'queue.snapshot_shard', class: 'write', risk: { prod: 'low' }, target_pattern: '[a-z0-9-]+/shard-[0-9]{1,4}' },
    {
      id: 'queue.clear_shard',
      class: 'destructive',
      risk: { dev: 'low', prod: 'critical' },
      target_pattern: '[a-z0-9-]+/shard-[0-9]{1,4}',
      requires_prior: [{ action: 'queue.snapshot_shard', within: '30m' }],
    },
    {
      id: 'comms.send_status_update',
      class: 'write',
      risk: { prod: 'low' },
      params: {
        channel: { type: 'string', required: true, allow: ['statuspage', 'email-customers'] },
        message: { type: 'string', required: true, max_length: 10 },
        retries: { type: 'integer' },
      },
    },
    { id: 'db.drop_table', class: 'destructive', risk: { prod: 'forbidden' } },
  ],
};

const BUNDLE_ID = 'sha256:' + 'ab'.repeat(32);
const NOW = Date.parse('2026-05-15T09:16:00Z');
const MIN = 60_000;

function compiled(): CompiledPolicy {
  return compilePolicy(PolicyBundle.parse(BUNDLE), BUNDLE_ID);
}

function step(over: Partial<ProposalStep> = {}): ProposalStep {
  return { action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: {}, ...over };
}

function stateWith(holds: ActiveHold[] = [], executions: { action: string; environment: string; target: string; at: number }[] = []): DecisionState {
  return {
    holds,
    lastSucceeded: (action, environment, target) =>
      executions.filter((e) => e.action === action && e.environment === environment && e.target === target).reduce<number | undefined>((m, e) => (m === undefined || e.at > m ? e.at : m), undefined),
  };
}

const policy = compiled();

describe('decide', () => {
  it('requires approval for a restart in prod, naming roles, surfaces and the rollback', () => {
    const d = decide(policy, step({ params: { strategy: 'rolling' } }), EMPTY_DECISION_STATE, NOW);
    expect(d.effect).toBe('require_approval');
    expect(d.action_class).toBe('write');
    expect(d.risk).toBe('high');
    expect(d.reasons).toEqual(['APPROVAL_REQUIRED', 'ROLLBACK_REQUIRED']);
    expect(d.rule_ids).toEqual(['action:workers.restart_pool', 'risk:high@prod', 'rollback:workers.restart_pool']);
    expect(d.bundle_id).toBe(BUNDLE_ID);
    expect(d.step_digest).toBe(stepDigest(step({ params: { strategy: 'rolling' } }), BUNDLE_ID));
    expect(d.requirements).toEqual({
      quorum: [{ roles: ['incident-lead', 'payments-owner'], count: 1 }],
      surfaces: ['approver-console', 'signed-cli', 'copilot-console'],
      attestation: 'any',
      approval_expires_at: '2026-05-15T09:31:00.000Z',
      grant_ttl_ms: 600_000,
      rollback_required: true,
      prerequisites: [],
    });
  });

  it('allows a low-risk step with ALLOWED and keeps the rollback requirement informational', () => {
    const d = decide(policy, step({ environment: 'dev' }), EMPTY_DECISION_STATE, NOW);
    expect(d.effect).toBe('allow');
    expect(d.reasons).toEqual(['ALLOWED', 'ROLLBACK_REQUIRED']);
    expect(d.requirements?.quorum).toEqual([]);
    expect(d.requirements?.approval_expires_at).toBeNull();
  });

  it.each(['Prod', 'prod ', 'PROD', ' prod', 'prod\u200b', 'pröd'])('denies the misspelled environment %j as UNKNOWN_ENVIRONMENT', (environment) => {
    const d = decide(policy, step({ environment }), EMPTY_DECISION_STATE, NOW);
    expect(d.effect).toBe('deny');
    expect(d.reasons).toEqual(['UNKNOWN_ENVIRONMENT']);
    expect(d.rule_ids).toEqual(['action:workers.restart_pool', 'env:closed-list']);
    expect(d.risk).toBeNull();
    expect(d.environment).toBe(environment);
  });

  it('denies an unknown action', () => {
    const d = decide(policy, step({ action: 'workers.restart_pools' }), EMPTY_DECISION_STATE, NOW);
    expect(d).toMatchObject({ effect: 'deny', reasons: ['UNKNOWN_ACTION'], action_class: null, rule_ids: ['action:closed-list'], requirements: null });
  });

  it('denies a known action in an environment its contract does not list', () => {
    const d = decide(policy, step({ environment: 'staging' }), EMPTY_DECISION_STATE, NOW);
    expect(d).toMatchObject({ effect: 'deny', reasons: ['ENVIRONMENT_NOT_ALLOWED'], action_class: 'write', risk: null });
  });

  it('denies a target outside the pattern, matched in full', () => {
    for (const target of ['Payments-worker', 'payments-worker; rm -rf', 'payments-worker\n', 'a'.repeat(64)]) {
      const d = decide(policy, step({ target }), EMPTY_DECISION_STATE, NOW);
      expect(d.effect).toBe('deny');
      expect(d.reasons).toEqual(['TARGET_NOT_ALLOWED']);
      expect(d.rule_ids).toContain('target:workers.restart_pool');
    }
  });

  describe('parameters', () => {
    const update = (params: ProposalStep['params']): ProposalStep => step({ action: 'comms.send_status_update', target: 'customers', params });

    it('allows a channel in the allowlist', () => {
      expect(decide(policy, update({ channel: 'statuspage', message: 'degraded' }), EMPTY_DECISION_STATE, NOW).effect).toBe('allow');
    });
    it('denies a channel outside the allowlist', () => {
      const d = decide(policy, update({ channel: 'slack-public', message: 'degraded' }), EMPTY_DECISION_STATE, NOW);
      expect(d.reasons).toEqual(['PARAM_NOT_ALLOWED']);
      expect(d.rule_ids).toContain('param:comms.send_status_update.channel');
    });
    it('denies an undeclared parameter when params are closed', () => {
      const d = decide(policy, update({ channel: 'statuspage', message: 'x', recipients: ['all@example.com'] }), EMPTY_DECISION_STATE, NOW);
      expect(d.reasons).toEqual(['PARAM_NOT_ALLOWED']);
      expect(d.rule_ids).toContain('params:comms.send_status_update:closed');
    });
    it('does not let `__proto__` or inherited names pass as declared', () => {
      const params = JSON.parse('{"channel":"statuspage","message":"x","__proto__":{"channel":"x"}}') as ProposalStep['params'];
      expect(decide(policy, update(params), EMPTY_DECISION_STATE, NOW).reasons).toEqual(['PARAM_NOT_ALLOWED']);
      expect(decide(policy, update({ channel: 'statuspage', message: 'x', toString: 'y' }), EMPTY_DECISION_STATE, NOW).reasons).toEqual(['PARAM_NOT_ALLOWED']);
    });
    it('denies a missing required parameter, a wrong type and an over-long value as PARAM_INVALID', () => {
      expect(decide(policy, update({ channel: 'statuspage' }), EMPTY_DECISION_STATE, NOW).reasons).toEqual(['PARAM_INVALID']);
      expect(decide(policy, update({ channel: 'statuspage', message: 'x', retries: '3' }), EMPTY_DECISION_STATE, NOW).reasons).toEqual(['PARAM_INVALID']);
      expect(decide(policy, update({ channel: 'statuspage', message: 'x', retries: 3 }), EMPTY_DECISION_STATE, NOW).effect).toBe('allow');
      expect(decide(policy, update({ channel: 'statuspage', message: 'x'.repeat(11) }), EMPTY_DECISION_STATE, NOW).reasons).toEqual(['PARAM_INVALID']);
      // ten astral code points are twenty UTF-16 units and still within the limit
      expect(decide(policy, update({ channel: 'statuspage', message: '😀'.repeat(10) }), EMPTY_DECISION_STATE, NOW).effect).toBe('allow');
    });
    it('collects every shape problem rather than the first', () => {
      const d = decide(policy, step({ target: 'BAD', params: { strategy: 'yolo' } }), EMPTY_DECISION_STATE, NOW);
      expect(d.reasons).toEqual(['TARGET_NOT_ALLOWED', 'PARAM_NOT_ALLOWED']);
    });
  });

  describe('holds', () => {
    const prodHold: ActiveHold = { id: 'hold-1', trip_gate: 'K1', scope: { environments: ['prod'] } };

    it('holds mutations in scope and leaves read-only diagnosis allowed', () => {
      const state = stateWith([prodHold]);
      const restart = decide(policy, step(), state, NOW);
      expect(restart).toMatchObject({ effect: 'held', reasons: ['HOLD_ACTIVE'], requirements: null, risk: 'high' });
      expect(restart.rule_ids).toContain('hold:hold-1');
      const inspect = decide(policy, step({ action: 'queue.inspect', target: 'payments/shard-7' }), state, NOW);
      expect(inspect.effect).toBe('allow');
    });

    it('keeps reads allowed even under a hold that names the read class', () => {
      const state = stateWith([{ id: 'h', trip_gate: 'K2', scope: { classes: ['read', 'write'] } }]);
      expect(decide(policy, step({ action: 'queue.inspect', target: 'x' }), state, NOW).effect).toBe('allow');
    });

    it('matches only when every listed dimension matches', () => {
      const hold = (scope: ActiveHold['scope']): DecisionState => stateWith([{ id: 'h', trip_gate: 'K1', scope }]);
      expect(decide(policy, step(), hold({ environments: ['prod'], targets: ['other-pool'] }), NOW).effect).toBe('require_approval');
      expect(decide(policy, step(), hold({ environments: ['prod'], targets: ['payments-worker'] }), NOW).effect).toBe('held');
      expect(decide(policy, step(), hold({ classes: ['destructive'] }), NOW).effect).toBe('require_approval');
      expect(decide(policy, step(), hold({ actions: ['workers.restart_pool'] }), NOW).effect).toBe('held');
      expect(decide(policy, step(), hold({ environments: ['staging'] }), NOW).effect).toBe('require_approval');
      expect(decide(policy, step(), hold({}), NOW).effect).toBe('held');
    });

    it('lets invalid steps be denied before any hold applies', () => {
      expect(decide(policy, step({ environment: 'Prod' }), stateWith([prodHold]), NOW).effect).toBe('deny');
    });

    it('holds a step whose risk denies it (hold precedes risk)', () => {
      const d = decide(policy, step({ action: 'db.drop_table', target: 'ledger' }), stateWith([prodHold]), NOW);
      expect(d.effect).toBe('held');
    });
  });

  describe('prerequisites', () => {
    const clear = step({ action: 'queue.clear_shard', target: 'payments/shard-7' });
    const snapshot = (at: number, over: Partial<{ target: string; environment: string }> = {}) => ({ action: 'queue.snapshot_shard', environment: 'prod', target: 'payments/shard-7', at, ...over });

    it('denies a queue clear without a snapshot', () => {
      const d = decide(policy, clear, EMPTY_DECISION_STATE, NOW);
      expect(d).toMatchObject({ effect: 'deny', reasons: ['PREREQUISITE_MISSING'], risk: 'critical', action_class: 'destructive' });
      expect(d.rule_ids).toEqual(['action:queue.clear_shard', 'risk:critical@prod', 'prior:queue.snapshot_shard<=30m']);
    });

    it('requires approval with a snapshot of the same shard 10 minutes earlier', () => {
      const d = decide(policy, clear, stateWith([], [snapshot(NOW - 10 * MIN)]), NOW);
      expect(d.effect).toBe('require_approval');
      expect(d.requirements?.prerequisites).toEqual([
        { action: 'queue.snapshot_shard', within: '30m', satisfied_at: '2026-05-15T09:06:00.000Z', expires_at: '2026-05-15T09:36:00.000Z' },
      ]);
      expect(d.requirements?.attestation).toBe('key');
      expect(d.requirements?.quorum).toHaveLength(2);
    });

    it('counts the window inclusively and refuses a snapshot one ms too old or from the future', () => {
      expect(decide(policy, clear, stateWith([], [snapshot(NOW - 30 * MIN)]), NOW).effect).toBe('require_approval');
      expect(decide(policy, clear, stateWith([], [snapshot(NOW - 30 * MIN - 1)]), NOW).reasons).toEqual(['PREREQUISITE_MISSING']);
      expect(decide(policy, clear, stateWith([], [snapshot(NOW + 1)]), NOW).reasons).toEqual(['PREREQUISITE_MISSING']);
    });

    it('denies with a snapshot 40 minutes earlier, of another shard, or in another environment', () => {
      expect(decide(policy, clear, stateWith([], [snapshot(NOW - 40 * MIN)]), NOW).reasons).toEqual(['PREREQUISITE_MISSING']);
      expect(decide(policy, clear, stateWith([], [snapshot(NOW - MIN, { target: 'payments/shard-8' })]), NOW).reasons).toEqual(['PREREQUISITE_MISSING']);
      expect(decide(policy, clear, stateWith([], [snapshot(NOW - MIN, { environment: 'dev' })]), NOW).reasons).toEqual(['PREREQUISITE_MISSING']);
    });
  });

  it('denies a step whose risk class denies it', () => {
    const d = decide(policy, step({ action: 'db.drop_table', target: 'ledger' }), EMPTY_DECISION_STATE, NOW);
    expect(d).toMatchObject({ effect: 'deny', reasons: ['RISK_DENIED'], risk: 'forbidden' });
  });

  it('fails closed with EVALUATION_ERROR when state throws', () => {
    const broken: DecisionState = {
      holds: [],
      lastSucceeded: () => {
        throw new Error('store down');
      },
    };
    const d = decide(policy, step({ action: 'queue.clear_shard', target: 'payments/shard-7' }), broken, NOW);
    expect(d).toMatchObject({ effect: 'deny', reasons: ['EVALUATION_ERROR'], rule_ids: ['engine:fail-closed'], requirements: null });
    expect(d.step_digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('fails closed on a bad clock and on a step that cannot be canonicalised', () => {
    expect(decide(policy, step(), EMPTY_DECISION_STATE, Number.NaN).reasons).toEqual(['EVALUATION_ERROR']);
    const d = decide(policy, step({ params: { n: 1.5 } }), EMPTY_DECISION_STATE, NOW);
    expect(d).toMatchObject({ effect: 'deny', reasons: ['EVALUATION_ERROR'], step_digest: null });
    expect(decide(policy, null as unknown as ProposalStep, EMPTY_DECISION_STATE, NOW)).toMatchObject({ effect: 'deny', action: '' });
  });

  it('never throws and never allows an unknown environment (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string({ minLength: 1 }), (action, environment, target) => {
        const d = decide(policy, { action, environment, target, params: {} }, EMPTY_DECISION_STATE, NOW);
        if (!policy.environments.has(environment) || !policy.actions.has(action)) expect(d.effect).toBe('deny');
        expect(['allow', 'require_approval', 'deny', 'held']).toContain(d.effect);
      }),
    );
  });
});

describe('decideProposal', () => {
  const proposal = (over: Partial<Proposal> = {}): Proposal =>
    parseProposal({
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      incident: 'inc-2026-0515',
      steps: [
        { action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling' } },
        { action: 'queue.clear_shard', environment: 'prod', target: 'payments/shard-7', rationale: 'if the backlog does not drain' },
      ],
      ...over,
    });

  it('decides the two bundled incident steps separately, with different risks and digests', () => {
    const [restart, clear, ...rest] = decideProposal(policy, proposal(), stateWith([], [{ action: 'queue.snapshot_shard', environment: 'prod', target: 'payments/shard-7', at: NOW - 5 * MIN }]), NOW);
    expect(rest).toEqual([]);
    expect(restart).toMatchObject({ step_index: 0, effect: 'require_approval', risk: 'high' });
    expect(clear).toMatchObject({ step_index: 1, effect: 'require_approval', risk: 'critical' });
    expect(restart?.step_digest).not.toBe(clear?.step_digest);
  });

  it('never lists the request surface among approval surfaces', () => {
    const [restart] = decideProposal(policy, proposal(), EMPTY_DECISION_STATE, NOW);
    expect(restart?.requirements?.surfaces).toEqual(['approver-console', 'signed-cli']);
  });

  it('denies every step when the agent or the principal is not what it claims', () => {
    for (const over of [{ agent: 'olivia' }, { agent: 'ghost' }, { on_behalf_of: 'payments-copilot' }, { on_behalf_of: 'nobody' }]) {
      const decisions = decideProposal(policy, proposal(over), EMPTY_DECISION_STATE, NOW);
      for (const d of decisions) {
        expect(d.effect).toBe('deny');
        expect(d.reasons).toContain('UNKNOWN_PRINCIPAL');
        expect(d.rule_ids).toContain('principal:roster');
      }
    }
  });

  it('denies every step from an undeclared surface', () => {
    const decisions = decideProposal(policy, proposal({ surface: 'Copilot-Console' }), EMPTY_DECISION_STATE, NOW);
    expect(decisions.map((d) => d.reasons[0])).toEqual(['UNKNOWN_SURFACE', 'UNKNOWN_SURFACE']);
  });

  it('decides a step identically alone and inside a proposal', () => {
    const p = proposal();
    const alone = decide(policy, p.steps[1]!, EMPTY_DECISION_STATE, NOW, 1);
    expect(decideProposal(policy, p, EMPTY_DECISION_STATE, NOW)[1]).toEqual(alone);
  });
});
