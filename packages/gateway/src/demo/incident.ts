import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { signOverride, signStatement, type ApprovalStatement, type OverrideBody, type ProposalStep } from '@countersign/core';
import { isCountersignClientError, type CountersignClient, type ProposalResult, type StepResult } from '@countersign/client';
import type { Sandbox } from './sandbox.js';
import type { Timeline } from './timeline.js';

/**
 * The reference incident ("the override path became the production path"),
 * played against a live gateway through its HTTP API with the client SDK.
 * The same moments run under two bundles: the permissive one the incident
 * actually ran under, where the requester's console is the whole approval
 * path, and examples/payments/policy.yaml, where each failure meets its
 * control and is refused with its code.
 */

export const INCIDENT = 'inc-payments-0912';

const COPILOT = 'payments-copilot';
const OPERATOR = 'olivia';

/** Tokens the scripts use: `[principal, surface]`. Each call's surface is its token's. */
export const DEMO_TOKENS: readonly (readonly [string, string])[] = [
  [COPILOT, 'copilot-console'],
  [OPERATOR, 'copilot-console'],
  [OPERATOR, 'approver-console'],
  ['sam', 'signed-cli'],
  ['leo', 'signed-cli'],
  ['fatima', 'signed-cli'],
  ['priya', 'approver-console'],
];

const DIAGNOSTICS: readonly ProposalStep[] = [
  { action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} },
  { action: 'metrics.query', environment: 'prod', target: 'payments-worker', params: {} },
  { action: 'deploy.status', environment: 'prod', target: 'payments-worker', params: {} },
  { action: 'runbook.fetch', environment: 'prod', target: 'payments-worker', params: {} },
];

const RESTART: ProposalStep = {
  action: 'workers.restart_pool',
  environment: 'prod',
  target: 'payments-worker',
  params: { strategy: 'rolling' },
  rationale: 'workers stuck; restart should drain the backlog',
  expected_consequence: 'in-flight jobs are retried',
};

const CLEAR: ProposalStep = {
  action: 'queue.clear_shard',
  environment: 'prod',
  target: 'payments-queue/shard-7',
  params: {},
  rationale: 'clear the stuck shard if the backlog does not drain',
  expected_consequence: 'messages in the shard are deleted',
};

const SNAPSHOT: ProposalStep = { action: 'queue.snapshot_shard', environment: 'prod', target: 'payments-queue/shard-7', params: {} };

/** What a refused call said: the stable code of the error body. */
interface Refused {
  readonly refused: true;
  readonly code: string;
  readonly message: string;
}

async function attempt<T>(call: () => Promise<T>): Promise<T | Refused> {
  try {
    return await call();
  } catch (err) {
    // only an answer of the gateway with a code is a refusal; anything else (unreachable, a bug) stops the demo
    if (isCountersignClientError(err) && err.status !== null && err.status >= 400 && err.status < 500) return { refused: true, code: err.code, message: err.message };
    throw err;
  }
}

function isRefused(value: unknown): value is Refused {
  return typeof value === 'object' && value !== null && (value as { refused?: unknown }).refused === true;
}

/** An effect and, for a step that does not proceed, its first reason code. */
function decisionCode(step: StepResult | undefined): string {
  if (step === undefined) return 'MISSING';
  return step.effect === 'deny' || step.effect === 'held' ? (step.reasons[0] ?? step.effect.toUpperCase()) : step.effect;
}

class Actors {
  readonly copilot: CountersignClient;
  constructor(readonly sandbox: Sandbox) {
    this.copilot = sandbox.client(COPILOT, 'copilot-console');
  }

  propose(steps: readonly ProposalStep[]): Promise<ProposalResult> {
    return this.copilot.propose({ agent: COPILOT, on_behalf_of: OPERATOR, surface: 'copilot-console', incident: INCIDENT, steps: [...steps] });
  }

  /** Run a granted step as the copilot and report it succeeded; the execution id. */
  async run(grant: string, step: ProposalStep): Promise<string> {
    const { execution } = await this.copilot.execute(grant, { action: step.action, environment: step.environment, target: step.target, params: step.params });
    await this.copilot.reportOutcome(execution, 'succeeded');
    return execution;
  }

  /** The four read-only steps of 09:14, run wherever allowed. */
  async diagnose(): Promise<{ readonly effects: string[]; readonly ran: number }> {
    const result = await this.propose(DIAGNOSTICS);
    let ran = 0;
    for (const step of result.steps) {
      const body = DIAGNOSTICS[step.index];
      if (step.grant !== null && body !== undefined) {
        await this.run(step.grant, body);
        ran += 1;
      }
    }
    return { effects: result.steps.map((s) => s.effect), ran };
  }

  /** Approve a request as `approver`, signing on "their machine" with their roster key, through `surface`. */
  async approve(request: string, approver: string, surface: string): Promise<{ status: string; grant: string | null }> {
    const client = this.sandbox.client(approver, surface);
    const view = await client.status(request);
    const { keyId, key } = this.sandbox.keyOf(approver);
    const statement: ApprovalStatement = {
      request,
      step_digest: view.digest,
      bundle_id: (view['bundle_id'] as string | null) ?? this.sandbox.bundleId,
      decision: 'approve',
      approver,
      surface,
      reason: 'read the digest, the consequence and the rollback plan',
      signed_at: new Date().toISOString(),
    };
    const answer = await client.approve(request, { statement, attestation: { kind: 'key', key_id: keyId, signature: signStatement(statement, key) } });
    return { status: answer.status, grant: answer.grant };
  }
}

/** The incident as it ran: every action allowed, the requester's console the whole approval path. */
export async function playPermissive(sandbox: Sandbox, t: Timeline): Promise<void> {
  const a = new Actors(sandbox);
  const diagnostics = await a.diagnose();
  t.add('diagnostics', `${diagnostics.ran} read-only steps allowed and run`, diagnostics.effects.every((e) => e === 'allow') ? 'allow' : diagnostics.effects.join(','));

  const plan = await a.propose([RESTART, CLEAR]);
  const [restart, clear] = plan.steps;
  t.add('plan.restart', 'granted at once to the console that asked: no request, no approver', decisionCode(restart));
  t.add('plan.clear', 'granted in the same breath: two risks, one click', decisionCode(clear));
  t.add('second_key', 'never asked for: the bundle allows everything, so the second approver being away changes nothing', 'none');
  t.add('override', "the 'override' is the bundle itself: both grants are already in the requester's console", 'none');

  if (restart?.grant) {
    await a.run(restart.grant, RESTART);
    t.add('restart', 'workers restarted on the grant the console got at 09:16', 'executed', false, '09:18');
  }
  if (clear?.grant) {
    await a.run(clear.grant, CLEAR);
    t.add('clear', 'backlog did not drain; shard cleared with no snapshot: the evidence needed for diagnosis is gone', 'executed', false, '09:21');
  }
}

/** The same morning under examples/payments/policy.yaml: each failure stopped with its code. */
export async function playGoverned(sandbox: Sandbox, t: Timeline): Promise<void> {
  const a = new Actors(sandbox);
  const diagnostics = await a.diagnose();
  t.add('diagnostics', `${diagnostics.ran} read-only steps allowed and run`, diagnostics.effects.every((e) => e === 'allow') ? 'allow' : diagnostics.effects.join(','));

  // 09:16 the two-step plan: each step decided on its own
  const plan = await a.propose([RESTART, CLEAR]);
  const [restart, clear] = plan.steps;
  const request = restart?.request ?? '';
  t.add('plan.restart', `waits for an independent incident lead or owner through another surface (request ${request})`, decisionCode(restart));
  t.add('plan.clear', 'denied on its own: no snapshot of the shard in the last 30 minutes', decisionCode(clear));

  // 09:17 the operator as her own second key, from the copilot console
  const self = await attempt(() => a.approve(request, OPERATOR, 'copilot-console'));
  t.add('second_key', isRefused(self) ? 'the person the request is for cannot approve it, least of all from its own console' : `accepted: ${self.status}`, isRefused(self) ? self.code : self.status, isRefused(self));

  // ...then the emergency override from the same console, co-signed by a colleague at her side
  const olivia = sandbox.client(OPERATOR, 'copilot-console');
  const now = Date.now();
  const requested = await attempt(() =>
    olivia.requestOverride({
      hold: null,
      step_digests: plan.steps.map((s) => s.digest ?? ''),
      trip_gate_ack: null,
      valid_from: new Date(now).toISOString(),
      valid_to: new Date(now + 60 * 60_000).toISOString(),
      scope: { environments: ['prod'], actions: ['workers.restart_pool', 'queue.clear_shard'], targets: ['payments-worker', 'payments-queue/shard-7'] },
      reason_code: 'APPROVER_UNAVAILABLE',
      reason_text: 'second approver unavailable, backlog rising',
      rollback_artifact: 'none',
    }),
  );
  if (isRefused(requested)) {
    t.add('override', 'the override request itself was refused', requested.code, true);
  } else {
    const body = requested.body as unknown as OverrideBody;
    const signed = (role: 'a' | 'b', signer: string) => {
      const { keyId, key } = sandbox.keyOf(signer);
      return signOverride(body, { role, signer, key_id: keyId, surface: 'copilot-console', signed_at: new Date().toISOString() }, key);
    };
    const submitted = await attempt(() => olivia.submitOverride(requested.id, [signed('a', OPERATOR), signed('b', 'omar')]));
    t.add(
      'override',
      isRefused(submitted) ? 'the requester signs her own override, on the request\'s surface: denied and recorded' : 'lease granted',
      isRefused(submitted) ? submitted.code : 'granted',
      isRefused(submitted),
    );
  }

  // ...and, with the same token, swaps the rules for a looser bundle: a lone activation, refused and recorded
  const looser = readFileSync(sandbox.policyPath, 'utf8').replace(/^description: .*$/m, 'description: approvals relaxed for the incident');
  const swapped = await attempt(() => olivia.activateBundle(looser));
  t.add(
    'policy.swap',
    isRefused(swapped) ? 'replacing the policy alone is refused: a bundle changes only by a release its quorum signs' : `activated ${swapped.bundle_id}`,
    isRefused(swapped) ? swapped.code : 'activated',
    isRefused(swapped),
  );

  // evidence is at risk: the SRE trips K1 over destructive steps in prod
  const hold = await sandbox.client('sam', 'signed-cli').openHold({
    trip_gate: 'K1',
    scope: { environments: ['prod'], classes: ['destructive'] },
    evidence_hash: `sha256:${createHash('sha256').update('payments-queue/shard-7 stuck; consumer lag graph 09:15').digest('hex')}`,
    incident: INCIDENT,
    reason: 'queue clear would destroy the evidence of the stuck shard',
  });
  const holdId = String(hold['hold']);
  t.add('hold', `sam opens hold ${holdId} over destructive steps in prod from signed-cli`, 'opened');
  const during = await a.diagnose();
  t.add('diagnostics.hold', `${during.ran} read-only steps still allowed and run: fail closed on mutation, open for diagnosis`, during.effects.every((e) => e === 'allow') ? 'allow' : during.effects.join(','));

  // 09:18 the restart's contract wants its rollback registered first
  const artifact = await sandbox.client(OPERATOR, 'approver-console').registerRollback({ step: restart?.step ?? '', action: 'workers.rollback_pool', target: 'payments-worker' });
  t.add('rollback', `olivia registers rollback ${String(artifact['artifact'])} from the approver console`, 'registered');

  // 09:19 leo, an incident lead outside olivia's chain, signs with his own key through signed-cli
  const approved = await a.approve(request, 'leo', 'signed-cli');
  t.add('approval.restart', 'leo signs the exact digest with his key through signed-cli: quorum met, grant issued', approved.status);
  const restartGrant = (await a.copilot.status(request)).grant;
  if (restartGrant !== null) {
    await a.run(restartGrant, RESTART);
    t.add('restart', 'workers restarted on a grant for that one step', 'executed');
  } else {
    t.add('restart', 'no grant for the restart', 'NO_GRANT', true);
  }

  // 09:21 the backlog does not drain: the clear is held; the snapshot, which changes nothing, runs
  const duringHold = await a.propose([CLEAR]);
  t.add('clear.hold', 'held: destructive steps wait while the hold stands', decisionCode(duringHold.steps[0]));
  const snapshot = (await a.propose([SNAPSHOT])).steps[0];
  if (snapshot?.grant) {
    await a.run(snapshot.grant, SNAPSHOT);
    t.add('snapshot', 'shard copied to the evidence store', 'executed');
  } else {
    t.add('snapshot', 'the snapshot was not allowed', decisionCode(snapshot), true);
  }

  // 09:23 the evidence is safe: the payments owner lifts the hold
  await sandbox.client('priya', 'approver-console').liftHold(holdId, { reason: 'shard snapshot preserved' });
  t.add('lift', 'priya lifts the hold from the approver console', 'lifted');
  const clearAgain = (await a.propose([CLEAR])).steps[0];
  const clearRequest = clearAgain?.request ?? '';
  t.add('clear.decision', `critical: an incident lead and an owner or finance delegate, both by key (request ${clearRequest})`, decisionCode(clearAgain));

  // 09:24 two keys that are two authorities
  const first = await a.approve(clearRequest, 'leo', 'signed-cli');
  const second = await a.approve(clearRequest, 'fatima', 'signed-cli');
  t.add('approval.clear', `leo signs (request still ${first.status}), then fatima: quorum met`, second.status);
  const clearGrant = (await a.copilot.status(clearRequest)).grant;
  if (clearGrant !== null) {
    await a.run(clearGrant, CLEAR);
    t.add('clear', 'shard cleared after its snapshot, on its own two-key grant', 'executed');
  } else {
    t.add('clear', 'no grant for the clear', 'NO_GRANT', true);
  }
}

/** What the governed run must show; a different answer means the controls did not hold. */
export const GOVERNED_EXPECTED: Readonly<Partial<Record<string, string>>> = {
  diagnostics: 'allow',
  'plan.restart': 'require_approval',
  'plan.clear': 'PREREQUISITE_MISSING',
  second_key: 'SELF_APPROVAL',
  override: 'O1_IDENTITY_COLLISION',
  'policy.swap': 'RELEASE_REQUIRED',
  'diagnostics.hold': 'allow',
  'approval.restart': 'approved',
  restart: 'executed',
  'clear.hold': 'HOLD_ACTIVE',
  snapshot: 'executed',
  'clear.decision': 'require_approval',
  'approval.clear': 'approved',
  clear: 'executed',
};

export const PERMISSIVE_EXPECTED: Readonly<Partial<Record<string, string>>> = {
  diagnostics: 'allow',
  'plan.restart': 'allow',
  'plan.clear': 'allow',
  restart: 'executed',
  clear: 'executed',
};
