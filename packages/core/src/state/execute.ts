import { stepDigest } from '../decision/digest.js';
import type { ProposalStep } from '../decision/proposal.js';
import { checkGrantClaims, type GrantClaims } from '../grant/claims.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { CommandCode } from './codes.js';
import {
  activeHaltFor,
  assertActive,
  draftsFor,
  isoAt,
  leaseIncident,
  parseAt,
  liveLeases,
  refusal,
  reject,
  stepSubjects,
  type Caller,
  type CommandContext,
  type CommandOutput,
  type Drafts,
} from './command.js';
import type { ExecutionOutcome } from './entries.js';
import { successKey, type AuthorityState, type HoldRecord, type LeaseRecord, type StepRecord } from './state.js';

/** The rule id of the at-most-once rule, in refusals and in what it retires. */
const RULE_AT_MOST_ONCE = 'step:at-most-once';

/**
 * Execution: a grant (or a lease) is consumed at most once, and the checks of
 * the decision are repeated at that moment, because a hold, a bundle or a
 * lapsed prerequisite may have changed since the grant was issued (issue 4 §3).
 *
 * INVARIANT: a step runs at most once, whichever authority is presented for
 * it. Two authorities can cover one step (an approved grant and an override
 * lease, or a grant issued before a hold and a lease used during it); the
 * first to execute retires the others in the same commit, and every later
 * attempt is refused with STEP_ALREADY_EXECUTED. Rollback artifacts are steps
 * of their own with their own once-only rule (rollback.ts).
 */

/** The step the executor is about to run, to be compared byte for byte with what was granted. */
export type PresentedStep = Pick<ProposalStep, 'action' | 'environment' | 'target' | 'params'>;

export interface ConsumeCommand {
  readonly kind: 'consume';
  readonly caller: Caller;
  /** The grant's `jti`, from a JWS whose signature the gateway has verified. */
  readonly grant: string;
  /** The claims of the presented JWS, after the gateway verified its signature. */
  readonly claims?: GrantClaims;
  readonly step?: PresentedStep;
}

export interface UseLeaseCommand {
  readonly kind: 'use_lease';
  readonly caller: Caller;
  readonly lease: string;
  readonly step: string;
  readonly presented?: PresentedStep;
}

export interface ExecutionResult {
  readonly ok: true;
  readonly execution: string;
}

export interface OutcomeCommand {
  readonly kind: 'outcome';
  readonly caller: Caller;
  readonly execution: string;
  readonly outcome: ExecutionOutcome;
  readonly detail?: string;
}

export interface OutcomeResult {
  readonly ok: true;
  readonly execution: string;
  readonly outcome: ExecutionOutcome;
}

function scopeHas(list: readonly string[], value: string): boolean {
  return list.length === 0 || list.includes(value);
}

/** Open holds covering a mutation; read-only actions are never held (DESIGN invariant 5). */
export function holdsCovering(state: AuthorityState, policy: CompiledPolicy, action: string, environment: string, target: string): HoldRecord[] {
  const contract = policy.actions.get(action);
  // An action the active bundle no longer knows is treated as a mutation: fail closed.
  const actionClass = contract?.class ?? 'destructive';
  if (actionClass === 'read') return [];
  const found: HoldRecord[] = [];
  for (const id of state.index.openHolds) {
    const hold = state.holds.get(id);
    if (!hold) continue;
    const s = hold.scope;
    if (scopeHas(s.environments, environment) && scopeHas(s.classes, actionClass) && scopeHas(s.actions, action) && scopeHas(s.targets, target)) found.push(hold);
  }
  return found;
}

/** The `requires_prior` rules of `action` not satisfied now on this environment and target. */
export function missingPrerequisites(state: AuthorityState, policy: CompiledPolicy, action: string, environment: string, target: string, now: number): string[] {
  const contract = policy.actions.get(action);
  if (!contract) return [];
  const missing: string[] = [];
  for (const prior of contract.prior) {
    const at = state.index.lastSuccess.get(successKey(prior.action, environment, target));
    if (at === undefined || at > now || now - at > prior.withinMs) missing.push(prior.ruleId);
  }
  return missing;
}

function presentedDigest(step: PresentedStep | undefined, bundleId: string): string | null {
  if (step === undefined) return null;
  try {
    return stepDigest(step, bundleId);
  } catch {
    return 'unhashable';
  }
}

/** Consume a grant: at most one `grant.consumed` per `jti`, ever. */
export function consumeGrant(state: AuthorityState, policy: CompiledPolicy | null, command: ConsumeCommand, ctx: CommandContext): CommandOutput<ExecutionResult> {
  const compiled = assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const grant = state.grants.get(command.grant);
  const refuse = (code: CommandCode, message: string, ruleIds: readonly string[] = []): CommandOutput<ExecutionResult> => {
    const subjects: Record<string, string> = { grant: command.grant };
    if (grant) {
      subjects['step'] = grant.step;
      subjects['proposal'] = grant.proposal;
    }
    d.push('grant.rejected', subjects, { jti: command.grant, code, credential: caller.credential, rule_ids: [...ruleIds] });
    return { entries: d.list, result: refusal(code, message) };
  };
  if (!grant) return refuse('GRANT_UNKNOWN', 'grant is not known');
  const rules = grant.rule_ids;
  if (!compiled.principals.has(caller.principal)) return refuse('UNKNOWN_PRINCIPAL', 'caller is not in the roster', [...rules, 'principal:roster']);

  // INVARIANT: a grant is consumed at most once, even across replicas (ADR 002 §3, §5).
  if (grant.status === 'consumed') return refuse('GRANT_USED', 'grant was already used', rules);
  const step = state.steps.get(grant.step);
  // fail closed: without its step, whether the step already ran cannot be known (a grant the ledger was given by hand)
  if (step === undefined) return refuse('STEP_UNKNOWN', 'the grant names a step the ledger does not hold', rules);
  if (step.executions.length > 0) return refuse('STEP_ALREADY_EXECUTED', 'the step has already run', [...rules, ...executionRules(step)]);
  if (grant.status === 'expired') return refuse('GRANT_EXPIRED', 'grant has expired', rules);
  if (grant.status === 'revoked') {
    return grant.revoked_reason === 'bundle_change'
      ? refuse('BUNDLE_CHANGED', 'grant was issued under a bundle that is no longer active: propose the step again', rules)
      : refuse('GRANT_REVOKED', 'grant was revoked', rules);
  }
  if (grant.bundle_id !== compiled.bundleId) return refuse('BUNDLE_CHANGED', 'grant was issued under a bundle that is no longer active: propose the step again', rules);
  const expires = parseAt(grant.expires_at);
  if (!(ctx.now < expires)) return refuse('GRANT_EXPIRED', 'grant has expired', rules);
  if (command.claims !== undefined) {
    // The token must say what the ledger says: same jti, step, place and bundle.
    const check = checkGrantClaims(command.claims, {
      now: ctx.now,
      active_bundle_id: compiled.bundleId,
      step: { digest: grant.digest, environment: grant.environment, target: grant.target },
    });
    if (!check.ok) return refuse(check.code, 'the grant token does not match the grant recorded', rules);
    if (command.claims.jti !== grant.jti) return refuse('DIGEST_MISMATCH', 'the grant token does not match the grant recorded', rules);
  }
  const presented = presentedDigest(command.step, grant.bundle_id);
  if (presented !== null && presented !== grant.digest) return refuse('DIGEST_MISMATCH', 'the step presented is not the step granted', rules);
  const holds = holdsCovering(state, compiled, grant.action, grant.environment, grant.target);
  if (holds.length > 0) return refuse('HOLD_ACTIVE', 'an active hold covers this step', [...rules, ...holds.map((h) => `hold:${h.id}`)]);
  const halt = activeHaltFor(state, grant.environment, grant.incident);
  if (halt) return refuse('HALT_ACTIVE', 'an active halt covers this step', [...rules, `halt:${halt.id}`]);
  const missing = missingPrerequisites(state, compiled, grant.action, grant.environment, grant.target, ctx.now);
  if (missing.length > 0) return refuse('PREREQUISITE_MISSING', 'a required prior step has not succeeded on this target in time', [...rules, ...missing]);

  const execution = ctx.ids.next('execution');
  const subjects: Record<string, string> = { grant: grant.jti, step: grant.step, proposal: grant.proposal, execution };
  if (grant.incident !== null) subjects['incident'] = grant.incident;
  d.push('grant.consumed', subjects, {
    jti: grant.jti,
    execution,
    step: grant.step,
    digest: grant.digest,
    environment: grant.environment,
    target: grant.target,
    credential: caller.credential,
    rule_ids: [...rules],
  });
  retireOtherAuthorities(d, state, step, execution, { grant: grant.jti });
  return { entries: d.list, result: { ok: true, execution } };
}

function executionRules(step: StepRecord): string[] {
  return step.executions.map((id) => `execution:${id}`);
}

/**
 * The step just ran under one authority: end every other one in the same
 * commit, so that the ledger says at once why a later attempt is refused.
 * Its open request is voided, its other live grants revoked, and each live
 * lease that lists its digest has that digest retired.
 */
export function retireOtherAuthorities(d: Drafts, state: AuthorityState, step: StepRecord, execution: string, ran: { readonly grant?: string; readonly lease?: string }): void {
  const rules = [RULE_AT_MOST_ONCE];
  const request = step.request === null ? undefined : state.requests.get(step.request);
  if (request !== undefined && request.status === 'open') {
    d.push('request.voided', stepSubjects(step, { request: request.id, execution }), { request: request.id, step: step.id, reason: 'step_executed', execution });
  }
  for (const jti of step.grants) {
    const grant = state.grants.get(jti);
    if (grant === undefined || grant.status !== 'issued' || jti === ran.grant) continue;
    d.push('grant.revoked', stepSubjects(step, { grant: jti, execution }), { jti, reason: 'step_executed', cause: execution, rule_ids: rules });
  }
  const digest = step.digest;
  if (digest === null) return;
  for (const lease of liveLeases(state)) {
    if (lease.id === ran.lease || !lease.step_digests.includes(digest) || Object.hasOwn(lease.used, digest) || Object.hasOwn(lease.retired, digest)) continue;
    d.push('lease.step_retired', stepSubjects(step, { lease: lease.id, override: lease.override, execution }), {
      lease: lease.id,
      step: step.id,
      digest,
      reason: 'step_executed',
      execution,
      rule_ids: rules,
    });
  }
}

/**
 * Run one step under an override lease: only the listed steps, each digest
 * at most once, inside the window (reference procedure, gates O2 and O3).
 * The lease stands in for approvals, never for the hold it was granted
 * under, so other holds and halts still stop the step.
 */
export function useLease(state: AuthorityState, policy: CompiledPolicy | null, command: UseLeaseCommand, ctx: CommandContext): CommandOutput<ExecutionResult> {
  const compiled = assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const lease = state.leases.get(command.lease);
  const step = state.steps.get(command.step);
  const refuse = (code: CommandCode, message: string, ruleIds: readonly string[] = []): CommandOutput<ExecutionResult> => {
    const subjects: Record<string, string> = { lease: command.lease, step: command.step };
    d.push('lease.rejected', subjects, { lease: command.lease, step: step ? step.id : null, code, credential: caller.credential, rule_ids: [...ruleIds] });
    return { entries: d.list, result: refusal(code, message) };
  };
  if (!lease) return refuse('LEASE_UNKNOWN', 'lease is not known');
  const rules = [`override:${lease.override}`];
  if (!compiled.principals.has(caller.principal)) return refuse('UNKNOWN_PRINCIPAL', 'caller is not in the roster', [...rules, 'principal:roster']);
  // Order as override/gates.ts checkLeaseUse: a step the lease does not list
  // (O2), a revoked lease, a use outside the window (O3), a step already used.
  const digest = step?.digest ?? null;
  if (!step || digest === null || !lease.step_digests.includes(digest)) return refuse('O2_SCOPE_CREEP', 'the step is not one the lease unlocks', rules);
  const presented = presentedDigest(command.presented, compiled.bundleId);
  if (presented !== null && presented !== digest) return refuse('O2_SCOPE_CREEP', 'the step presented is not the step the lease unlocks', rules);
  if (step.executions.length > 0) return refuse('STEP_ALREADY_EXECUTED', 'the step has already run', [...rules, ...executionRules(step)]);
  if (lease.status === 'revoked') {
    return lease.revoked_reason === 'bundle_change'
      ? refuse('BUNDLE_CHANGED', 'lease was granted under a bundle that is no longer active', rules)
      : refuse('LEASE_REVOKED', 'lease was revoked', rules);
  }
  if (lease.bundle_id !== compiled.bundleId) return refuse('BUNDLE_CHANGED', 'lease was granted under a bundle that is no longer active', rules);

  if (!inWindow(lease, ctx.now)) {
    // O3: use outside the window is unauthorized and flagged for incident review.
    d.push('lease.clock_breach', { lease: lease.id, step: step.id }, {
      lease: lease.id,
      code: 'O3_CLOCK_BREACH',
      step: step.id,
      digest,
      valid_from: lease.valid_from,
      valid_to: lease.valid_to,
      attempted_at: isoAt(ctx.now),
      incident_flag: true,
      credential: caller.credential,
      rule_ids: [...rules, 'override:window'],
    });
    return { entries: d.list, result: refusal('O3_CLOCK_BREACH', 'the lease window is not open') };
  }
  // Each digest once under the lease: used by it, or retired when a step with
  // that digest ran under another authority.
  if (Object.hasOwn(lease.used, digest)) return refuse('LEASE_STEP_USED', 'the lease was already used for this step', rules);
  if (Object.hasOwn(lease.retired, digest)) return refuse('LEASE_STEP_USED', 'the lease was retired for this step when it ran under another authority', rules);

  const otherHolds = holdsCovering(state, compiled, step.action, step.environment, step.target).filter((h) => h.id !== lease.hold);
  if (otherHolds.length > 0) return refuse('HOLD_ACTIVE', 'another active hold covers this step', [...rules, ...otherHolds.map((h) => `hold:${h.id}`)]);
  const halt = activeHaltFor(state, step.environment, leaseIncident(state, lease));
  if (halt) return refuse('HALT_ACTIVE', 'an active halt covers this step', [...rules, `halt:${halt.id}`]);
  const missing = missingPrerequisites(state, compiled, step.action, step.environment, step.target, ctx.now);
  if (missing.length > 0) return refuse('PREREQUISITE_MISSING', 'a required prior step has not succeeded on this target in time', [...rules, ...missing]);

  const execution = ctx.ids.next('execution');
  const subjects: Record<string, string> = { lease: lease.id, step: step.id, proposal: step.proposal, execution, override: lease.override };
  if (step.incident !== null) subjects['incident'] = step.incident;
  d.push('lease.used', subjects, { lease: lease.id, step: step.id, digest, execution, credential: caller.credential, rule_ids: rules });
  retireOtherAuthorities(d, state, step, execution, { lease: lease.id });
  return { entries: d.list, result: { ok: true, execution } };
}

function inWindow(lease: LeaseRecord, now: number): boolean {
  const from = parseAt(lease.valid_from);
  const to = parseAt(lease.valid_to);
  return from <= now && now < to;
}

/** The executor reports what happened; once per execution, by whoever executed. */
export function reportOutcome(state: AuthorityState, policy: CompiledPolicy | null, command: OutcomeCommand, ctx: CommandContext): CommandOutput<OutcomeResult> {
  assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const execution = state.executions.get(command.execution);
  if (!execution) return reject(d, caller, 'outcome', 'EXECUTION_UNKNOWN', 'execution is not known', command.execution);
  if (execution.executor !== caller.principal) return reject(d, caller, 'outcome', 'NOT_EXECUTOR', 'only the executor reports the outcome', execution.id);
  if (execution.outcome !== null) return reject(d, caller, 'outcome', 'OUTCOME_ALREADY_REPORTED', 'the outcome was already reported', execution.id);
  const subjects: Record<string, string> = { execution: execution.id };
  if (execution.step !== null) subjects['step'] = execution.step;
  if (execution.grant !== null) subjects['grant'] = execution.grant;
  if (execution.lease !== null) subjects['lease'] = execution.lease;
  if (execution.artifact !== null) subjects['artifact'] = execution.artifact;
  const step = execution.step === null ? undefined : state.steps.get(execution.step);
  if (step) {
    subjects['proposal'] = step.proposal;
    if (step.incident !== null) subjects['incident'] = step.incident;
  }
  d.push('execution.outcome', subjects, { execution: execution.id, outcome: command.outcome, detail: (command.detail ?? '').slice(0, 2_000), credential: caller.credential });
  return { entries: d.list, result: { ok: true, execution: execution.id, outcome: command.outcome } };
}
