import type { CompiledAction, CompiledPolicy, CompiledRule } from '../policy/compile.js';
import {
  RULE_ACTION_CLOSED_LIST,
  RULE_ENV_CLOSED_LIST,
  RULE_FAIL_CLOSED,
  RULE_PRINCIPAL_ROSTER,
  RULE_SURFACE_CLOSED_LIST,
} from '../policy/compile.js';
import type { ActionClass } from '../policy/schema.js';
import type { Decision, DecisionRequirements, SatisfiedPrerequisite } from './decision.js';
import { stepDigest } from './digest.js';
import type { Proposal, ProposalStep } from './proposal.js';
import type { DecisionReason } from './reason.js';

/** An open hold as decide() sees it. An omitted or empty scope dimension matches everything. */
export interface ActiveHold {
  readonly id: string;
  readonly trip_gate: string;
  readonly scope: {
    readonly environments?: readonly string[] | undefined;
    readonly classes?: readonly ActionClass[] | undefined;
    readonly actions?: readonly string[] | undefined;
    readonly targets?: readonly string[] | undefined;
  };
}

/** The state a decision reads. Passed in, so decide() stays pure and synchronous. */
export interface DecisionState {
  readonly holds: readonly ActiveHold[];
  /** Epoch ms of the latest succeeded execution of `action` on this exact environment and target, if any. */
  lastSucceeded(action: string, environment: string, target: string): number | undefined;
}

export const EMPTY_DECISION_STATE: DecisionState = Object.freeze({
  holds: Object.freeze([]),
  lastSucceeded: () => undefined,
});

/** Checks made once per proposal and applied to each of its steps. */
interface ProposalContext {
  readonly surface: string | null;
  readonly reasons: readonly DecisionReason[];
  readonly ruleIds: readonly string[];
}

const NO_CONTEXT: ProposalContext = { surface: null, reasons: [], ruleIds: [] };

function isoAt(ms: number): string {
  return new Date(ms).toISOString();
}

function scopeMatches(list: readonly string[] | undefined, value: string): boolean {
  return list === undefined || list.length === 0 || list.includes(value);
}

function holdMatches(hold: ActiveHold, action: CompiledAction, step: ProposalStep): boolean {
  const { scope } = hold;
  return (
    scopeMatches(scope.environments, step.environment) &&
    scopeMatches(scope.classes, action.class) &&
    scopeMatches(scope.actions, action.id) &&
    scopeMatches(scope.targets, step.target)
  );
}

function codePointLength(text: string, atMost: number): number {
  // UTF-16 length bounds the code point count from above: count only when it could matter.
  if (text.length <= atMost) return text.length;
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Target and parameter checks. Parameters arrive from the agent: attacker-controlled. */
function checkStepShape(action: CompiledAction, step: ProposalStep, reasons: DecisionReason[], ruleIds: string[]): void {
  const add = (reason: DecisionReason, ruleId: string): void => {
    if (!reasons.includes(reason)) reasons.push(reason);
    if (!ruleIds.includes(ruleId)) ruleIds.push(ruleId);
  };
  if (action.target && !action.target.test(step.target)) add('TARGET_NOT_ALLOWED', action.targetRuleId);

  const params = step.params;
  if (action.closedParams) {
    for (const name of Object.keys(params)) {
      if (!action.params.has(name)) add('PARAM_NOT_ALLOWED', action.closedParamsRuleId);
    }
  }
  for (const rule of action.params.values()) {
    if (!Object.hasOwn(params, rule.name)) {
      if (rule.required) add('PARAM_INVALID', rule.ruleId);
      continue;
    }
    const value = params[rule.name];
    const typed =
      rule.type === 'string' ? typeof value === 'string' : rule.type === 'integer' ? Number.isSafeInteger(value) : typeof value === 'boolean';
    if (!typed) {
      add('PARAM_INVALID', rule.ruleId);
      continue;
    }
    if (rule.maxLength !== null && typeof value === 'string' && codePointLength(value, rule.maxLength) > rule.maxLength) {
      add('PARAM_INVALID', rule.ruleId);
    }
    if (rule.allow !== null && !rule.allow.has(value as string | number | boolean)) add('PARAM_NOT_ALLOWED', rule.ruleId);
  }
}

function requirementsFor(
  rule: CompiledRule,
  context: ProposalContext,
  now: number,
  approval: boolean,
  prerequisites: readonly SatisfiedPrerequisite[],
): DecisionRequirements {
  const { requirement } = rule;
  return {
    quorum: approval ? requirement.quorum : [],
    // An approval never arrives through the surface the request came from,
    // whatever the bundle lists (DESIGN invariant 4).
    surfaces: approval ? requirement.surfaces.filter((s) => s !== context.surface) : [],
    attestation: requirement.attestation,
    approval_expires_at: approval ? isoAt(now + requirement.approvalTtlMs) : null,
    grant_ttl_ms: requirement.grantTtlMs,
    rollback_required: rule.action.rollbackRequired,
    prerequisites,
  };
}

function evaluate(compiled: CompiledPolicy, step: ProposalStep, state: DecisionState, now: number, context: ProposalContext): Omit<Decision, 'step_index' | 'step_digest' | 'bundle_id' | 'action' | 'environment' | 'target'> {
  if (!Number.isSafeInteger(now)) throw new RangeError('now is not an epoch millisecond count');
  const reasons: DecisionReason[] = [...context.reasons];
  const ruleIds: string[] = [...context.ruleIds];

  // 1. Unknown or invalid: deny. Environments are compared byte for byte
  //    against the closed list; `Prod` and `prod ` are unknown, never corrected.
  const action = compiled.actions.get(step.action);
  if (action) ruleIds.push(action.ruleId);
  else {
    reasons.push('UNKNOWN_ACTION');
    ruleIds.push(RULE_ACTION_CLOSED_LIST);
  }
  let rule: CompiledRule | undefined;
  if (!compiled.environments.has(step.environment)) {
    reasons.push('UNKNOWN_ENVIRONMENT');
    ruleIds.push(RULE_ENV_CLOSED_LIST);
  } else if (action) {
    rule = action.byEnvironment.get(step.environment);
    if (rule) for (let i = 1; i < rule.ruleIds.length; i++) ruleIds.push(rule.ruleIds[i]!);
    else reasons.push('ENVIRONMENT_NOT_ALLOWED');
  }
  if (action) checkStepShape(action, step, reasons, ruleIds);

  const actionClass = action?.class ?? null;
  const risk = rule?.risk ?? null;
  const deny = (): ReturnType<typeof evaluate> => ({ effect: 'deny', action_class: actionClass, risk, rule_ids: ruleIds, reasons, requirements: null });
  if (reasons.length > 0 || !action || !rule) return deny();

  // 2. Holds stop mutations; diagnosis stays open (DESIGN invariant 5).
  if (action.class !== 'read') {
    let held = false;
    for (const hold of state.holds) {
      if (holdMatches(hold, action, step)) {
        held = true;
        ruleIds.push(`hold:${hold.id}`);
      }
    }
    if (held) return { effect: 'held', action_class: actionClass, risk, rule_ids: ruleIds, reasons: ['HOLD_ACTIVE'], requirements: null };
  }

  // 3. Prerequisites on the same environment and target, within the window.
  //    A timestamp after `now` does not count: clocks that disagree fail closed.
  const prerequisites: SatisfiedPrerequisite[] = [];
  for (const prior of action.prior) {
    ruleIds.push(prior.ruleId);
    const at = state.lastSucceeded(prior.action, step.environment, step.target);
    if (at === undefined || !Number.isFinite(at) || at > now || now - at > prior.withinMs) {
      if (!reasons.includes('PREREQUISITE_MISSING')) reasons.push('PREREQUISITE_MISSING');
    } else {
      prerequisites.push({ action: prior.action, within: prior.within, satisfied_at: isoAt(at), expires_at: isoAt(at + prior.withinMs) });
    }
  }
  if (reasons.length > 0) return deny();

  // 4. The risk class.
  if (rule.effect === 'deny') {
    reasons.push('RISK_DENIED');
    return deny();
  }
  const approval = rule.effect === 'require_approval';
  reasons.push(approval ? 'APPROVAL_REQUIRED' : 'ALLOWED');
  if (action.rollbackRequired) {
    reasons.push('ROLLBACK_REQUIRED');
    ruleIds.push(action.rollbackRuleId);
  }
  return {
    effect: rule.effect,
    action_class: actionClass,
    risk,
    rule_ids: ruleIds,
    reasons,
    requirements: requirementsFor(rule, context, now, approval, prerequisites),
  };
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function decideStep(compiled: CompiledPolicy, step: ProposalStep, state: DecisionState, now: number, stepIndex: number, context: ProposalContext): Decision {
  let digest: string | null = null;
  try {
    digest = stepDigest(step, compiled.bundleId);
    return {
      step_index: stepIndex,
      step_digest: digest,
      bundle_id: compiled.bundleId,
      action: step.action,
      environment: step.environment,
      target: step.target,
      ...evaluate(compiled, step, state, now, context),
    };
  } catch {
    // Fail closed: whatever went wrong inside evaluation, the step does not run.
    return {
      step_index: stepIndex,
      step_digest: digest,
      bundle_id: compiled.bundleId,
      action: text((step as Partial<ProposalStep> | null)?.action),
      environment: text((step as Partial<ProposalStep> | null)?.environment),
      target: text((step as Partial<ProposalStep> | null)?.target),
      effect: 'deny',
      action_class: null,
      risk: null,
      rule_ids: [RULE_FAIL_CLOSED],
      reasons: ['EVALUATION_ERROR'],
      requirements: null,
    };
  }
}

/**
 * Decide one step on its own. Pure and synchronous: the clock (`now`, epoch
 * ms) and state are passed in. Never throws: an exception inside evaluation
 * becomes `deny` with EVALUATION_ERROR.
 *
 * Precedence: unknown or invalid -> deny; matching hold -> held (mutations
 * only); missing prerequisite -> deny; risk class deny -> deny;
 * require_approval; allow.
 */
export function decide(compiled: CompiledPolicy, step: ProposalStep, state: DecisionState, now: number, stepIndex = 0): Decision {
  return decideStep(compiled, step, state, now, stepIndex, NO_CONTEXT);
}

function proposalContext(compiled: CompiledPolicy, proposal: Proposal): ProposalContext {
  const reasons: DecisionReason[] = [];
  const ruleIds: string[] = [];
  // Proposal is not authority: only a declared agent or service proposes, and
  // only on behalf of a declared human (DESIGN invariant 1).
  const agent = compiled.principals.get(proposal.agent);
  const principal = compiled.principals.get(proposal.on_behalf_of);
  if (!agent || agent.kind === 'human' || !principal || principal.kind !== 'human') {
    reasons.push('UNKNOWN_PRINCIPAL');
    ruleIds.push(RULE_PRINCIPAL_ROSTER);
  }
  if (!compiled.surfaces.has(proposal.surface)) {
    reasons.push('UNKNOWN_SURFACE');
    ruleIds.push(RULE_SURFACE_CLOSED_LIST);
  }
  return { surface: proposal.surface, reasons, ruleIds };
}

const BROKEN_CONTEXT: ProposalContext = { surface: null, reasons: ['EVALUATION_ERROR'], ruleIds: [RULE_FAIL_CLOSED] };

/**
 * One decision per step, each step decided on its own (DESIGN invariant 2):
 * a proposal's steps are never merged, and no step's outcome changes another's.
 */
export function decideProposal(compiled: CompiledPolicy, proposal: Proposal, state: DecisionState, now: number): Decision[] {
  let context: ProposalContext;
  try {
    context = proposalContext(compiled, proposal);
  } catch {
    context = BROKEN_CONTEXT;
  }
  return proposal.steps.map((step, i) => decideStep(compiled, step, state, now, i, context));
}
