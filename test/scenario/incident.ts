import type { Refusal } from '../../packages/core/src/state/command.js';
import type { ExecutionResult } from '../../packages/core/src/state/execute.js';
import type { HoldResult } from '../../packages/core/src/state/hold.js';
import type { RequestOverrideResult, SubmitOverrideResult } from '../../packages/core/src/state/override.js';
import type { StepOutcome } from '../../packages/core/src/state/propose.js';
import type { RegisterRollbackResult } from '../../packages/core/src/state/rollback.js';
import {
  caller,
  clearStep,
  COPILOT,
  EVIDENCE,
  examplePolicy,
  inspectStep,
  MINUTE,
  ok,
  permissivePolicy,
  restartStep,
  snapshotStep,
  T0,
  World,
} from './world.js';

/**
 * The reference incident ("the override path became the production path"),
 * 09:12 to 09:26 on a payments morning, played against the pure state
 * machine. `permissive` is the bundle as it was run: everything allowed, so
 * the requester's own console is the whole approval path. `governed` is
 * examples/payments/policy.yaml: each moment of the report meets its control.
 */

export const INCIDENT = 'inc-payments-0912';
const OLIVIA_COPILOT = caller('olivia', 'copilot-console');
const at = (hhmm: string): number => {
  const [h, m] = hhmm.split(':').map(Number);
  return T0 + (((h ?? 9) - 9) * 60 + (m ?? 12) - 12) * MINUTE;
};

export interface IncidentRun {
  readonly world: World;
  /** What happened to each moment, for assertions and the side-by-side demo. */
  readonly moments: Record<string, unknown>;
}

function clock(w: World, hhmm: string): void {
  w.now = at(hhmm);
}

/** Execute a granted step and report its outcome as the copilot. */
function execute(w: World, grant: string, outcome: 'succeeded' | 'failed' = 'succeeded'): ExecutionResult {
  const done = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant }));
  ok(w.run({ kind: 'outcome', caller: COPILOT, execution: done.execution, outcome }));
  return done;
}

function diagnose(w: World): StepOutcome[] {
  const r = ok(
    w.propose(
      [
        inspectStep(),
        { action: 'metrics.query', environment: 'prod', target: 'payments-worker', params: {} },
        { action: 'deploy.status', environment: 'prod', target: 'payments-worker', params: {} },
        { action: 'runbook.fetch', environment: 'prod', target: 'payments-worker', params: {} },
      ],
      { incident: INCIDENT },
    ),
  );
  for (const s of r.steps) if (s.grant) execute(w, s.grant.jti);
  return [...r.steps];
}

export function playPermissive(): IncidentRun {
  const w = new World(permissivePolicy());
  const moments: Record<string, unknown> = {};
  clock(w, '09:14');
  moments['diagnostics'] = diagnose(w);
  clock(w, '09:16');
  // Two risks bundled as one incident action, proposed from the requester's console.
  const plan = ok(w.propose([restartStep(), clearStep()], { incident: INCIDENT }));
  moments['plan'] = plan.steps;
  // 09:17: the second approver is away. Under this bundle nothing waits for
  // one: the "override" is the bundle itself, and both grants were issued at
  // once to the console that asked, with no request and no second key.
  clock(w, '09:18');
  moments['restart'] = execute(w, plan.steps[0]?.grant?.jti ?? '');
  clock(w, '09:21');
  // Backlog does not drain; the clear runs with no snapshot: evidence is gone.
  moments['clear'] = execute(w, plan.steps[1]?.grant?.jti ?? '', 'succeeded');
  return { world: w, moments };
}

export function playGoverned(): IncidentRun {
  const w = new World(examplePolicy());
  const moments: Record<string, unknown> = {};

  // 09:14 read-only diagnostics stay open.
  clock(w, '09:14');
  moments['diagnostics'] = diagnose(w);

  // 09:16 the same two-step plan: each step is decided on its own.
  clock(w, '09:16');
  const plan = ok(w.propose([restartStep(), clearStep()], { incident: INCIDENT }));
  moments['plan'] = plan.steps;
  const restart = plan.steps[0];
  const request = restart?.request ?? '';

  // 09:17 the operator tries to be the second key herself...
  clock(w, '09:17');
  moments['self_approval'] = w.approve(request, 'olivia', 'copilot-console').result as Refusal;
  // ...then reaches for the emergency override from the same console,
  // signing it herself with a colleague at her side.
  const requested = ok(
    w.run<RequestOverrideResult>({
      kind: 'override_request',
      caller: OLIVIA_COPILOT,
      hold: null,
      step_digests: plan.steps.map((s) => s.digest ?? ''),
      trip_gate_ack: null,
      valid_from: new Date(w.now).toISOString(),
      valid_to: new Date(w.now + 60 * MINUTE).toISOString(),
      scope: { environments: ['prod'], actions: ['workers.restart_pool', 'queue.clear_shard'], targets: ['payments-worker', 'payments-queue/shard-7'] },
      reason_code: 'APPROVER_UNAVAILABLE',
      reason_text: 'second approver unavailable, backlog rising',
      rollback_artifact: 'none',
    }),
  );
  moments['override'] = w.run<SubmitOverrideResult>({
    kind: 'override_submit',
    caller: OLIVIA_COPILOT,
    override: requested.override,
    signatures: [w.sign(requested.body, 'a', 'olivia', 'copilot-console'), w.sign(requested.body, 'b', 'omar', 'copilot-console')],
  }).result as Refusal;
  // Evidence is at risk: the SRE trips K1 over destructive steps in prod.
  const hold = ok(
    w.run<HoldResult>({
      kind: 'hold_open',
      caller: caller('sam', 'signed-cli'),
      trip_gate: 'K1',
      scope: { environments: ['prod'], classes: ['destructive'] },
      evidence_hash: EVIDENCE,
      incident: INCIDENT,
      reason: 'queue clear would destroy the evidence of the stuck shard',
    }),
  ).hold;
  moments['diagnostics_during_hold'] = diagnose(w);

  // 09:18 the restart waits for an independent key from another surface. Its
  // rollback is written first, as its contract demands.
  clock(w, '09:18');
  ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: caller('olivia', 'approver-console'), step: restart?.step ?? '', action: 'workers.rollback_pool', target: 'payments-worker' }));
  clock(w, '09:19');
  const approved = ok(w.approve(request, 'leo', 'signed-cli'));
  moments['restart_approval'] = approved;
  moments['restart'] = execute(w, approved.grant?.jti ?? '');

  // 09:21 the backlog does not drain. The clear is held, and the snapshot,
  // which changes nothing, is what runs first.
  clock(w, '09:21');
  moments['clear_during_hold'] = ok(w.propose([clearStep()], { incident: INCIDENT })).steps[0];
  const snapshot = ok(w.propose([snapshotStep()], { incident: INCIDENT })).steps[0];
  moments['snapshot'] = execute(w, snapshot?.grant?.jti ?? '');

  // 09:23 the evidence is safe; the payments owner lifts the hold, and the
  // clear now needs its own two keys, both signed.
  clock(w, '09:23');
  ok(w.run({ kind: 'hold_lift', caller: caller('priya', 'approver-console'), hold, reason: 'shard snapshot preserved' }));
  const clear = ok(w.propose([clearStep()], { incident: INCIDENT })).steps[0];
  moments['clear_decision'] = clear;
  clock(w, '09:24');
  ok(w.approve(clear?.request ?? '', 'leo', 'signed-cli'));
  const second = ok(w.approve(clear?.request ?? '', 'fatima', 'signed-cli'));
  moments['clear_approval'] = second;
  clock(w, '09:25');
  moments['clear'] = execute(w, second.grant?.jti ?? '');
  return { world: w, moments };
}
