import { describe, expect, it } from 'vitest';
import { caller, clearStep, COPILOT, examplePolicy, inspectStep, ok, refused, restartStep, World } from '../../../../test/scenario/world.js';
import { recordedStepProposal } from './propose.js';

/**
 * Proposing: the credential, not the body, says who asks, so a proposal must
 * name the calling agent and its surface. Each step is decided on its own and
 * settled: a grant for `allow` (or a wait for its rollback artifact), a
 * request for `require_approval`, the decision alone for `deny` and `held`.
 */

describe('who may propose', () => {
  it('refuses a proposal naming another surface than the call came through, citing the roster rule', () => {
    const w = new World(examplePolicy());
    const attempt = w.run({ kind: 'propose', caller: COPILOT, proposal: { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'approver-console', steps: [inspectStep()] } });
    expect(refused(attempt).code).toBe('PROPOSER_MISMATCH');
    expect(attempt.entries[0]?.payload).toMatchObject({ operation: 'propose', code: 'PROPOSER_MISMATCH', rule_ids: ['principal:roster'] });
    const other = w.run({ kind: 'propose', caller: caller('alerting', 'copilot-console'), proposal: { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [inspectStep()] } });
    expect(other.entries[0]?.payload['rule_ids']).toEqual(['principal:roster']);
    expect(w.state.proposals.size).toBe(0);
  });
});

describe('settling each step', () => {
  it('waits for a rollback artifact only where an allowed step needs one', () => {
    const w = new World(examplePolicy());
    const r = ok(w.propose([inspectStep(), restartStep({ environment: 'dev' }), restartStep(), clearStep()], { incident: 'inc-5' }));
    expect(r.steps.map((s) => [s.effect, s.awaiting_rollback])).toEqual([
      ['allow', false],
      ['allow', true],
      ['require_approval', false],
      ['deny', false],
    ]);
  });

  it('files the request it opens under the request, the step, its proposal and incident', () => {
    const w = new World(examplePolicy());
    const r = ok(w.propose([restartStep()], { incident: 'inc-5' }));
    const s = r.steps[0];
    const opened = w.machine.entries.find((e) => e.type === 'request.opened');
    expect(opened?.subjects).toEqual({ step: s?.step, proposal: r.proposal, incident: 'inc-5', request: s?.request });
    expect(opened?.payload['credentials']).toEqual([COPILOT.credential]);
  });
});

describe('a recorded step as the proposal it was decided as', () => {
  it('carries the incident, rationale and expected consequence it was proposed with, and no such key when there was none', () => {
    const w = new World(examplePolicy());
    const step = restartStep({ rationale: 'workers stuck', expected_consequence: 'a minute of retries' });
    const withAll = ok(w.propose([step], { incident: 'inc-4' })).steps[0]?.step ?? '';
    const { rationale: _r, expected_consequence: _e, ...plain } = step;
    const bare = ok(w.propose([plain])).steps[0]?.step ?? '';
    const again = (id: string) => {
      const record = w.state.steps.get(id);
      const proposal = w.state.proposals.get(record?.proposal ?? '');
      if (!record || !proposal) throw new Error('the step and its proposal are recorded');
      return recordedStepProposal(record, proposal);
    };
    expect(again(withAll)).toStrictEqual({
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      incident: 'inc-4',
      steps: [{ ...plain, rationale: 'workers stuck', expected_consequence: 'a minute of retries' }],
    });
    expect(again(bare)).toStrictEqual({ agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [plain] });
  });
});
