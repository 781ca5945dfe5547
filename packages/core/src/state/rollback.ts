import { EMPTY_DECISION_STATE, decide } from '../decision/decide.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { CanonicalValue } from '../canonical.js';
import {
  assertActive,
  awaitsRollback,
  draftsFor,
  hasAnyRole,
  issueGrant,
  liveLeases,
  reject,
  standingOf,
  stepSubjects,
  type Caller,
  type CommandContext,
  type CommandOutput,
  type IssuedGrant,
} from './command.js';
import type { AuthorityState } from './state.js';

/**
 * Rollback artifacts (DESIGN "Rollback artifact and halt"): registered as a
 * step of their own, with their own digest, before the risky step is
 * granted where its contract demands it; run by holders of rollback
 * authority without a new quorum, because reversing is the safe direction.
 */

export interface RegisterRollbackCommand {
  readonly kind: 'rollback_register';
  readonly caller: Caller;
  /** The step this artifact reverses. */
  readonly step: string;
  readonly action: string;
  readonly target: string;
  readonly params?: { readonly [key: string]: CanonicalValue };
}

export interface RegisterRollbackResult {
  readonly ok: true;
  readonly artifact: string;
  readonly digest: string;
  /** The reversed step's grant, when it was waiting for this artifact. */
  readonly grant: IssuedGrant | null;
}

export interface RunRollbackCommand {
  readonly kind: 'rollback_run';
  readonly caller: Caller;
  readonly artifact: string;
}

export interface RunRollbackResult {
  readonly ok: true;
  readonly artifact: string;
  readonly execution: string;
  readonly revoked_leases: readonly string[];
}

const RULE_ROLLBACK = 'rollback:authority';

export function registerRollback(state: AuthorityState, policy: CompiledPolicy | null, command: RegisterRollbackCommand, ctx: CommandContext): CommandOutput<RegisterRollbackResult> {
  const compiled = assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const standing = standingOf(compiled, caller.principal);
  if (standing.kind === 'unknown') return reject(d, caller, 'rollback_register', 'UNKNOWN_PRINCIPAL', 'caller is not in the roster', command.step);
  if (standing.kind === 'agent') return reject(d, caller, 'rollback_register', 'AGENT_CANNOT_ROLLBACK', 'an agent cannot register a rollback', command.step);
  const step = state.steps.get(command.step);
  if (!step || step.digest === null || step.bundle_id !== compiled.bundleId) {
    return reject(d, caller, 'rollback_register', 'STEP_UNKNOWN', 'step is not known under the active bundle', command.step);
  }

  // The artifact is a step of its own: it must be one the active bundle can
  // decide (known action, allowed environment, target and params in contract).
  const own = { action: command.action, environment: step.environment, target: command.target, params: { ...(command.params ?? {}) } };
  const decision = decide(compiled, own, EMPTY_DECISION_STATE, ctx.now);
  if (decision.effect === 'deny' || decision.step_digest === null) {
    return reject(d, caller, 'rollback_register', 'ROLLBACK_INVALID', 'the rollback step is not one the active bundle allows', command.step, decision.rule_ids);
  }

  const artifact = ctx.ids.next('artifact');
  d.push('rollback.registered', stepSubjects(step, { artifact }), {
    artifact,
    reverses_step: step.id,
    action: own.action,
    environment: own.environment,
    target: own.target,
    params: own.params,
    digest: decision.step_digest,
    status: 'ready',
    credential: caller.credential,
    rule_ids: [...decision.rule_ids, `rollback:${step.action}`],
  });

  let grant: IssuedGrant | null = null;
  if (awaitsRollback(state, step) && step.requirements !== null) {
    const request = step.effect === 'require_approval' ? step.request : null;
    grant = issueGrant(d, ctx.ids, ctx.now, step, step.digest, compiled.bundleId, step.requirements, request);
  }
  return { entries: d.list, result: { ok: true, artifact, digest: decision.step_digest, grant } };
}

/**
 * Run a registered rollback. A rollback revokes live leases in its
 * environment at once (DESIGN "Override lease"): whatever they unlocked was
 * justified by a state that is being reversed.
 */
export function runRollback(state: AuthorityState, policy: CompiledPolicy | null, command: RunRollbackCommand, ctx: CommandContext): CommandOutput<RunRollbackResult> {
  const compiled = assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const authority = compiled.bundle.rollback;
  const standing = standingOf(compiled, caller.principal);
  if (standing.kind === 'unknown') return reject(d, caller, 'rollback_run', 'UNKNOWN_PRINCIPAL', 'caller is not in the roster', command.artifact, [RULE_ROLLBACK]);
  if (standing.kind === 'agent') return reject(d, caller, 'rollback_run', 'AGENT_CANNOT_ROLLBACK', 'an agent cannot run a rollback', command.artifact, [RULE_ROLLBACK]);
  if (!hasAnyRole(standing.principal, authority.roles)) return reject(d, caller, 'rollback_run', 'ROLE_NOT_ELIGIBLE', 'caller holds no rollback authority', command.artifact, [RULE_ROLLBACK]);
  const artifact = state.artifacts.get(command.artifact);
  if (!artifact) return reject(d, caller, 'rollback_run', 'ARTIFACT_UNKNOWN', 'rollback artifact is not known', command.artifact, [RULE_ROLLBACK]);
  if (!authority.environments.includes(artifact.environment)) {
    return reject(d, caller, 'rollback_run', 'ENVIRONMENT_NOT_ALLOWED', 'rollback authority does not cover this environment', artifact.id, [RULE_ROLLBACK]);
  }
  if (artifact.status !== 'ready') return reject(d, caller, 'rollback_run', 'ROLLBACK_NOT_READY', 'rollback artifact is not ready', artifact.id, [RULE_ROLLBACK]);

  const reversed = state.steps.get(artifact.reverses_step);
  const reversesExecution = reversed?.executions.at(-1) ?? null;
  const execution = ctx.ids.next('execution');
  const subjects: Record<string, string> = { artifact: artifact.id, execution, step: artifact.reverses_step };
  if (reversed) {
    subjects['proposal'] = reversed.proposal;
    if (reversed.incident !== null) subjects['incident'] = reversed.incident;
  }
  d.push('rollback.executed', subjects, {
    artifact: artifact.id,
    execution,
    reverses_step: artifact.reverses_step,
    reverses_execution: reversesExecution,
    digest: artifact.digest,
    credential: caller.credential,
    rule_ids: [RULE_ROLLBACK],
  });
  const revoked: string[] = [];
  for (const lease of liveLeases(state)) {
    if (!lease.environments.includes(artifact.environment)) continue;
    d.push('lease.revoked', { lease: lease.id, override: lease.override, artifact: artifact.id }, { lease: lease.id, reason: 'rollback', cause: artifact.id, rule_ids: ['override:revocation'] });
    revoked.push(lease.id);
  }
  return { entries: d.list, result: { ok: true, artifact: artifact.id, execution, revoked_leases: revoked } };
}
