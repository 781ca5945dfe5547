import { describe, expect, it } from 'vitest';
import { caller, COPILOT, examplePolicy, inspectStep, ok, restartStep, snapshotStep, World } from '../../../../test/scenario/world.js';
import type { ExecutionResult } from './execute.js';
import type { HaltResult } from './halt.js';
import type { ProposeResult } from './propose.js';
import { uniqueKey } from './entries.js';
import { rebuildState } from './machine.js';
import { projectionRows } from './state.js';

/**
 * The one-call path (issue 15): a step decided `allow` is executed in the
 * commit that decided it, recorded as `step.executed`: no grant issued and
 * consumed by two calls, the same rules, the same at-most-once key.
 */

function proposeAndExecute(w: World, steps: Parameters<World['propose']>[0]) {
  return w.run<ProposeResult>({
    kind: 'propose',
    caller: COPILOT,
    proposal: { agent: COPILOT.principal, on_behalf_of: 'olivia', surface: COPILOT.surface, steps },
    execute: true,
  });
}

describe('propose and execute in one call', () => {
  it('runs an allowed step in the deciding commit, and settles the others as a proposal does', () => {
    const w = new World(examplePolicy());
    const out = proposeAndExecute(w, [inspectStep(), restartStep()]);
    const r = ok(out);
    expect(out.entries.map((e) => e.type)).toEqual(['proposal.received', 'step.decided', 'step.executed', 'step.decided', 'request.opened']);
    const [inspect, restart] = r.steps;
    expect(inspect).toMatchObject({ effect: 'allow', grant: null, refused: null });
    expect(inspect?.execution).toMatch(/^execution-/);
    expect(w.state.executions.get(inspect?.execution ?? '')).toMatchObject({ via: 'direct', grant: null, step: inspect?.step, executor: 'payments-copilot' });
    expect(restart).toMatchObject({ effect: 'require_approval', execution: null });
    expect(restart?.request).toMatch(/^request-/);
    // the executor reports the outcome as for any execution
    ok(w.run({ kind: 'outcome', caller: COPILOT, execution: inspect?.execution ?? '', outcome: 'succeeded' }));
    // and the step has run: no other authority runs it again, the same key as a consumption
    const executed = out.entries.find((e) => e.type === 'step.executed');
    expect(executed && uniqueKey(executed)).toBe(`step.executed:${inspect?.step ?? '-'}`);
    expect(w.state.steps.get(inspect?.step ?? '')?.executions).toHaveLength(1);
  });

  it('does not run an allowed step under an active halt: HALT_ACTIVE, recorded', () => {
    const w = new World(examplePolicy());
    const halted = ok(w.run<HaltResult>({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'environment', environment: 'prod' } }));
    const out = proposeAndExecute(w, [snapshotStep()]);
    const step = ok(out).steps[0];
    expect(step).toMatchObject({ effect: 'allow', execution: null, refused: 'HALT_ACTIVE', grant: null });
    expect(out.entries.at(-1)).toMatchObject({ type: 'authority.rejected', payload: { operation: 'consume', code: 'HALT_ACTIVE' } });
    expect(out.entries.at(-1)?.payload['rule_ids']).toContain(`halt:${halted.halt}`);
    expect(w.state.executions.size).toBe(0);
  });

  it('withholds a step that needs its rollback artifact first, as a proposal does', () => {
    const w = new World(examplePolicy());
    const step = ok(proposeAndExecute(w, [restartStep({ environment: 'dev' })])).steps[0];
    expect(step).toMatchObject({ effect: 'allow', awaiting_rollback: true, execution: null });
    expect(w.state.executions.size).toBe(0);
  });

  it('refuses a proposal naming another agent, and replays to the live state', () => {
    const w = new World(examplePolicy());
    const refused = w.run({ kind: 'propose', caller: caller('olivia', 'copilot-console'), proposal: { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [inspectStep()] }, execute: true });
    expect(refused.result).toMatchObject({ ok: false, code: 'PROPOSER_MISMATCH' });
    ok(proposeAndExecute(w, [inspectStep(), snapshotStep()]));
    const rows = (s: Parameters<typeof projectionRows>[0]) => JSON.stringify(projectionRows(s));
    expect(rows(rebuildState(w.machine.entries))).toBe(rows(w.state));
    // a grant-based run of the same kind of step costs two more entries and a second call
    const before = w.machine.entries.length;
    const grant = ok(w.propose([inspectStep()])).steps[0]?.grant?.jti ?? '';
    ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant }));
    expect(w.machine.entries.length - before).toBe(4);
  });
});

describe('what the one-call path records', () => {
  it('files an execution under the step, its proposal, incident and the execution, citing the rules that allowed it', () => {
    const w = new World(examplePolicy());
    const out = w.run<ProposeResult>({
      kind: 'propose',
      caller: COPILOT,
      proposal: { agent: COPILOT.principal, on_behalf_of: 'olivia', surface: COPILOT.surface, incident: 'inc-2', steps: [inspectStep()] },
      execute: true,
    });
    const step = ok(out).steps[0];
    const decided = out.entries.find((e) => e.type === 'step.decided');
    const executed = out.entries.find((e) => e.type === 'step.executed');
    expect(executed?.subjects).toEqual({ step: step?.step, proposal: ok(out).proposal, incident: 'inc-2', execution: step?.execution });
    expect(executed?.payload['rule_ids']).toEqual(decided?.payload['rule_ids']);
    expect((executed?.payload['rule_ids'] as string[]).length).toBeGreaterThan(0);
  });

  it('files a halt refusal under the step, its proposal and the step as its target', () => {
    const w = new World(examplePolicy());
    ok(w.run<HaltResult>({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'environment', environment: 'prod' } }));
    const out = proposeAndExecute(w, [snapshotStep()]);
    const step = ok(out).steps[0];
    expect(out.entries.at(-1)?.subjects).toEqual({ step: step?.step, proposal: ok(out).proposal, target: step?.step });
  });
});
