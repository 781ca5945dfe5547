import { describe, expect, it } from 'vitest';
import { caller, COPILOT, examplePolicy, ok, restartOverride, restartStep, snapshotStep, World } from '../../../../test/scenario/world.js';
import type { ExecutionResult } from './execute.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import type { RegisterRollbackResult, RunRollbackResult } from './rollback.js';

/**
 * The executor reports what happened once per execution. The outcome entry is
 * filed under the execution and everything it ran on (grant, lease or rollback
 * artifact, step, proposal, incident), so the trace of any of them ends with
 * what actually happened.
 */

const OLIVIA = caller('olivia', 'approver-console');

const report = (w: World, execution: string, detail?: string, who = COPILOT) =>
  w.run({ kind: 'outcome', caller: who, execution, outcome: 'succeeded', ...(detail === undefined ? {} : { detail }) });

describe('an outcome', () => {
  it('of a grant is filed under the execution, the grant, the step, its proposal and its incident', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([snapshotStep()], { incident: 'inc-7' })).steps[0];
    const jti = s?.grant?.jti ?? '';
    const { execution } = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant: jti }));
    const entry = report(w, execution).entries[0];
    expect(entry?.type).toBe('execution.outcome');
    expect(entry?.subjects).toEqual({ execution, grant: jti, step: s?.step, proposal: w.state.steps.get(s?.step ?? '')?.proposal, incident: 'inc-7' });
  });

  it('of a lease is filed under the lease instead of a grant', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    if (!s?.digest) throw new Error('the restart should have a digest');
    const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
    const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...restartOverride(w, null, s.digest, artifact) }));
    const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')];
    const lease = ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures })).lease;
    const { execution } = ok(w.run<ExecutionResult>({ kind: 'use_lease', caller: COPILOT, lease, step: s.step }));
    expect(report(w, execution).entries[0]?.subjects).toEqual({ execution, lease, step: s.step, proposal: w.state.steps.get(s.step)?.proposal });
  });

  it('of a rollback is filed under the artifact it ran: a rollback is a step of its own', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    if (!s) throw new Error('the restart should be proposed');
    const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
    const { execution } = ok(w.run<RunRollbackResult>({ kind: 'rollback_run', caller: OLIVIA, artifact }));
    expect(report(w, execution, undefined, OLIVIA).entries[0]?.subjects).toEqual({ execution, artifact });
  });

  it('keeps the first 2,000 characters of a detail, and an empty one when none is given', () => {
    const w = new World(examplePolicy());
    const grants = ok(w.propose([snapshotStep(), snapshotStep({ target: 'payments-queue/shard-8' })])).steps.map((s) => s.grant?.jti ?? '');
    const long = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant: grants[0] ?? '' })).execution;
    expect(report(w, long, 'x'.repeat(3_000)).entries[0]?.payload['detail']).toBe('x'.repeat(2_000));
    const none = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant: grants[1] ?? '' })).execution;
    expect(report(w, none).entries[0]?.payload['detail']).toBe('');
    expect(w.state.executions.get(none)?.detail).toBe('');
  });
});

describe('a refused outcome', () => {
  it('names its operation, outcome: an unknown execution, another caller than the executor, a second report', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([snapshotStep()])).steps[0];
    const { execution } = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant: s?.grant?.jti ?? '' }));
    const refusal = (step: ReturnType<typeof report>) => step.entries.map((e) => [e.payload['operation'], e.payload['code']]);
    expect(refusal(report(w, 'execution-404'))).toEqual([['outcome', 'EXECUTION_UNKNOWN']]);
    expect(refusal(report(w, execution, undefined, OLIVIA))).toEqual([['outcome', 'NOT_EXECUTOR']]);
    ok(report(w, execution));
    expect(refusal(report(w, execution))).toEqual([['outcome', 'OUTCOME_ALREADY_REPORTED']]);
  });

  it('cites no policy rule: who reports an outcome is the executor, not a rule of the bundle', () => {
    const w = new World(examplePolicy());
    expect(report(w, 'execution-404').entries.map((e) => e.payload['rule_ids'])).toEqual([[]]);
  });
});
