import { describe, expect, it } from 'vitest';
import { caller, compileBundle, COPILOT, examplePolicy, ok, refused, restartOverride, restartStep, World } from '../../../../test/scenario/world.js';
import type { LedgerEntry } from '../ledger/entry.js';
import { applyEntry } from './reduce.js';
import type { ExecutionResult } from './execute.js';
import type { HaltResult } from './halt.js';
import type { MachineStep } from './machine.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import type { RegisterRollbackResult, RunRollbackResult } from './rollback.js';

/**
 * Rollback artifacts: registered as steps of their own under the active
 * bundle, run by rollback authority without a new quorum, revoking the live
 * leases of their environment. Every entry is filed under the artifact, the
 * step it reverses, its proposal and incident, and cites the rollback rules.
 */

const OLIVIA = caller('olivia', 'approver-console');

const only = <R>(step: MachineStep<R>): LedgerEntry => {
  expect(step.entries).toHaveLength(1);
  return step.entries[0] as LedgerEntry;
};

const register = (w: World, step: string, params?: Record<string, string>, target = 'payments-worker'): MachineStep<RegisterRollbackResult> =>
  w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step, action: 'workers.rollback_pool', target, ...(params === undefined ? {} : { params }) });

const run = (w: World, artifact: string, who = OLIVIA): MachineStep<RunRollbackResult> => w.run<RunRollbackResult>({ kind: 'rollback_run', caller: who, artifact });

/** A lease, signed by lena and fatima, over the restart with `digest` (proposed in `environment`, its rollback registered). */
function leaseFor(w: World, digest: string, artifact: string, environment: string): string {
  const draft = { ...restartOverride(w, null, digest, artifact), scope: { environments: [environment], actions: ['workers.restart_pool'], targets: ['payments-worker'] } };
  const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...draft }));
  const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')];
  return ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures })).lease;
}

describe('registering a rollback', () => {
  it('records the artifact’s own parameters, which its digest covers', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()], { incident: 'inc-3' })).steps[0];
    const plain = register(w, s?.step ?? '');
    const withParams = register(w, s?.step ?? '', { to_release: '2025-05-30' });
    expect(w.state.artifacts.get(ok(withParams).artifact)?.params).toEqual({ to_release: '2025-05-30' });
    expect(ok(withParams).digest).not.toBe(ok(plain).digest);
    expect(only(plain).subjects).toEqual({ step: s?.step, proposal: w.state.steps.get(s?.step ?? '')?.proposal, incident: 'inc-3', artifact: ok(plain).artifact });
  });

  it('is refused for a step decided under an earlier bundle', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    const artifact = ok(register(w, s?.step ?? '')).artifact;
    const lease = leaseFor(w, s?.digest ?? '', artifact, 'prod');
    ok(w.run<ExecutionResult>({ kind: 'use_lease', caller: COPILOT, lease, step: s?.step ?? '' }));
    // an executed step is not decided again when the bundle changes: it stays under the bundle it ran under
    ok(w.activate(compileBundle({ ...w.policy.bundle, description: 'next' })));
    expect(refused(register(w, s?.step ?? '')).code).toBe('STEP_UNKNOWN');
  });

  it('issues a waiting grant with no request when the step, decided again, no longer needs approval', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    expect(s?.request).toBeTruthy();
    const example = w.policy.bundle;
    // the next bundle makes the restart low risk in prod: allowed, once its rollback is registered
    ok(w.activate(compileBundle({ ...example, actions: example.actions.map((a) => (a.id === 'workers.restart_pool' ? { ...a, risk: { ...a.risk, prod: 'low' } } : a)) })));
    expect(w.state.steps.get(s?.step ?? '')?.effect).toBe('allow');
    const grant = ok(register(w, s?.step ?? '')).grant;
    expect(grant?.step).toBe(s?.step);
    expect(grant?.request).toBeNull();
  });
});

describe('a decision grants once', () => {
  /** The restart approved by lena with its rollback registered: its one grant issued. */
  function approvedRestart(w: World): { step: string; artifact: string; grant: string } {
    const s = ok(w.propose([restartStep()])).steps[0];
    const artifact = ok(register(w, s?.step ?? '')).artifact;
    const grant = ok(w.approve(s?.request ?? '', 'lena', 'approver-console')).grant?.jti;
    if (s === undefined || grant === undefined) throw new Error('the approved restart should hold a grant');
    return { step: s.step, artifact, grant };
  }

  it('a grant a halt revoked is not issued again by registering a new rollback once the halt is lifted', () => {
    const w = new World(examplePolicy());
    const { step, artifact, grant } = approvedRestart(w);
    const sam = caller('sam', 'signed-cli');
    const halted = ok(w.run<HaltResult>({ kind: 'halt', caller: sam, scope: { kind: 'environment', environment: 'prod' } }));
    expect(halted.revoked_grants).toEqual([grant]);
    ok(w.run({ kind: 'halt_lift', caller: sam, halt: halted.halt }));
    // the rollback run before the step leaves the step without a ready artifact
    ok(run(w, artifact));
    const again = register(w, step);
    expect(ok(again).grant).toBeNull();
    expect(again.entries.map((e) => e.type)).toEqual(['rollback.registered']);
    expect(w.state.steps.get(step)?.grants).toEqual([grant]);
    expect(w.state.grants.get(grant)?.status).toBe('revoked');
  });

  it('a grant refused as expired is not renewed by registering a new rollback', () => {
    const w = new World(examplePolicy());
    const { step, artifact, grant } = approvedRestart(w);
    w.advance(24 * 60 * 60_000);
    expect(refused(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant })).code).toBe('GRANT_EXPIRED');
    expect(w.state.grants.get(grant)?.status).toBe('expired');
    ok(run(w, artifact));
    expect(ok(register(w, step)).grant).toBeNull();
    expect(w.state.steps.get(step)?.grants).toEqual([grant]);
  });

  it('a grant a bundle change revoked stays revoked when a later release brings the same bundle back: nothing grants its step again', () => {
    const w = new World(examplePolicy());
    const first = w.policy;
    const { step, artifact, grant } = approvedRestart(w);
    const activation = w.activate(compileBundle({ ...first.bundle, description: 'next' }));
    ok(activation);
    expect(w.state.grants.get(grant)?.revoked_reason).toBe('bundle_change');
    // revoked by the activation entry itself, and the step is not decided again (ADR 006 decision 4)
    expect(activation.entries.filter((e) => e.payload['step'] === step)).toEqual([]);
    // the first bundle again, by the same content: the same bundle id as the revoked grant's and its step's
    ok(w.activate(first));
    expect(w.state.steps.get(step)?.bundle_id).toBe(w.state.grants.get(grant)?.bundle_id);
    expect(refused(w.approve(w.state.steps.get(step)?.request ?? '', 'lena', 'approver-console')).code).toBe('REQUEST_CLOSED');
    // as after a halt: the rollback run first leaves the step without a ready artifact, and a new one grants nothing
    ok(run(w, artifact));
    expect(ok(register(w, step)).grant).toBeNull();
    expect(w.state.steps.get(step)?.grants).toEqual([grant]);
    expect(w.state.grants.get(grant)?.status).toBe('revoked');
  });
});

describe('a ledger written before an activation stopped deciding granted steps again', () => {
  it('grants on its rollback a step decided again under another bundle, whose old grant was revoked: that grant was an earlier decision’s', () => {
    const w = new World(examplePolicy());
    // allowed in dev once its rollback is registered: granted under the first bundle
    const s = ok(w.propose([restartStep({ environment: 'dev' })])).steps[0];
    const step = s?.step ?? '';
    const old = ok(register(w, step)).grant?.jti ?? '';
    ok(w.activate(compileBundle({ ...w.policy.bundle, description: 'next' })));
    expect(w.state.grants.get(old)?.status).toBe('revoked');
    // what an activation wrote before ADR 006 decision 4: the granted step decided again under the new bundle
    const decided = w.machine.entries.find((e) => e.type === 'step.decided' && e.payload['step'] === step);
    if (!decided) throw new Error('the step was decided');
    applyEntry(w.state, { ...decided, seq: w.machine.entries.length, bundle_id: w.policy.bundleId, payload: { ...decided.payload, redecided: 'bundle_change' } });
    expect(w.state.steps.get(step)).toMatchObject({ bundle_id: w.policy.bundleId, artifact: null });
    const fresh = ok(register(w, step)).grant;
    expect(fresh?.jti).not.toBe(old);
    expect(fresh?.bundle_id).toBe(w.policy.bundleId);
  });
});

describe('running a rollback', () => {
  it('refuses a caller outside the roster, and every refusal cites the rollback authority', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    const artifact = ok(register(w, s?.step ?? '')).artifact;
    for (const [who, id, code] of [
      [caller('mallory', 'signed-cli'), artifact, 'UNKNOWN_PRINCIPAL'],
      [COPILOT, artifact, 'AGENT_CANNOT_ROLLBACK'],
      [caller('fatima', 'signed-cli'), artifact, 'ROLE_NOT_ELIGIBLE'],
      [OLIVIA, 'artifact-404', 'ARTIFACT_UNKNOWN'],
    ] as const) {
      const attempt = run(w, id, who);
      expect(refused(attempt).code).toBe(code);
      expect(only(attempt)).toMatchObject({ subjects: { target: id }, payload: { rule_ids: ['rollback:authority'] } });
    }
    ok(run(w, artifact));
    expect(only(run(w, artifact)).payload).toMatchObject({ code: 'ROLLBACK_NOT_READY', rule_ids: ['rollback:authority'] });
    const dev = ok(w.propose([restartStep({ environment: 'dev' })])).steps[0];
    const devArtifact = ok(register(w, dev?.step ?? '')).artifact;
    expect(only(run(w, devArtifact)).payload).toMatchObject({ code: 'ENVIRONMENT_NOT_ALLOWED', rule_ids: ['rollback:authority'] });
  });

  it('is filed under the artifact, the execution, the step it reverses, its proposal and incident', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()], { incident: 'inc-3' })).steps[0];
    const artifact = ok(register(w, s?.step ?? '')).artifact;
    const step = run(w, artifact);
    const { execution } = ok(step);
    const entry = step.entries[0];
    expect(entry?.type).toBe('rollback.executed');
    expect(entry?.subjects).toEqual({ artifact, execution, step: s?.step, proposal: w.state.steps.get(s?.step ?? '')?.proposal, incident: 'inc-3' });
    expect(entry?.payload['rule_ids']).toEqual(['rollback:authority']);
  });

  it('revokes the live leases of its environment, and no other, filed under the artifact', () => {
    const w = new World(examplePolicy());
    const prod = ok(w.propose([restartStep()])).steps[0];
    const dev = ok(w.propose([restartStep({ environment: 'dev' })])).steps[0];
    const prodArtifact = ok(register(w, prod?.step ?? '')).artifact;
    const devArtifact = ok(register(w, dev?.step ?? '')).artifact;
    const prodLease = leaseFor(w, prod?.digest ?? '', prodArtifact, 'prod');
    const devLease = leaseFor(w, dev?.digest ?? '', devArtifact, 'dev');
    const step = run(w, prodArtifact);
    expect(ok(step).revoked_leases).toEqual([prodLease]);
    expect(w.state.leases.get(devLease)?.status).toBe('live');
    const revoked = step.entries.find((e) => e.type === 'lease.revoked');
    expect(revoked?.subjects).toEqual({ lease: prodLease, override: w.state.leases.get(prodLease)?.override, artifact: prodArtifact });
    expect(revoked?.payload).toMatchObject({ reason: 'rollback', cause: prodArtifact, rule_ids: ['override:revocation'] });
  });
});

describe('what a rollback refusal and a registration say', () => {
  it('names the operation refused: rollback_register or rollback_run', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    const operation = <R>(step: MachineStep<R>) => only(step).payload['operation'];
    for (const who of [caller('mallory', 'signed-cli'), COPILOT]) {
      expect(operation(w.run({ kind: 'rollback_register', caller: who, step: s?.step ?? '', action: 'workers.rollback_pool', target: 'payments-worker' }))).toBe('rollback_register');
    }
    expect(only(register(w, 'proposal-404/0')).payload).toMatchObject({ operation: 'rollback_register', code: 'STEP_UNKNOWN' });
    expect(only(w.run({ kind: 'rollback_register', caller: OLIVIA, step: s?.step ?? '', action: 'workers.make_it_so', target: 'payments-worker' })).payload).toMatchObject({
      operation: 'rollback_register',
      code: 'ROLLBACK_INVALID',
    });
    const artifact = ok(register(w, s?.step ?? '')).artifact;
    for (const [who, id] of [
      [caller('mallory', 'signed-cli'), artifact],
      [COPILOT, artifact],
      [caller('fatima', 'signed-cli'), artifact],
      [OLIVIA, 'artifact-404'],
    ] as const) {
      expect(operation(run(w, id, who))).toBe('rollback_run');
    }
    const dev = ok(w.propose([restartStep({ environment: 'dev' })])).steps[0];
    expect(only(run(w, ok(register(w, dev?.step ?? '')).artifact)).payload).toMatchObject({ operation: 'rollback_run', code: 'ENVIRONMENT_NOT_ALLOWED' });
  });

  it('refuses a step nobody proposed as STEP_UNKNOWN, rather than failing', () => {
    const w = new World(examplePolicy());
    expect(refused(register(w, 'proposal-404/0')).code).toBe('STEP_UNKNOWN');
    expect(w.state.artifacts.size).toBe(0);
  });

  it('cites the rollback rule of the reversed action beside the rules that decided the artifact', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    const ruleIds = only(register(w, s?.step ?? '')).payload['rule_ids'] as string[];
    expect(ruleIds.at(-1)).toBe('rollback:workers.restart_pool');
    expect(ruleIds.length).toBeGreaterThan(1);
  });

  it('runs under an execution id drawn as one', () => {
    const w = new World(examplePolicy());
    const s = ok(w.propose([restartStep()])).steps[0];
    const { execution } = ok(run(w, ok(register(w, s?.step ?? '')).artifact));
    expect(execution).toMatch(/^execution-\d+$/);
    expect(w.state.executions.get(execution)?.artifact).toBeTruthy();
  });
});
