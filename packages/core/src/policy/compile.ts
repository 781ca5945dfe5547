import { CountersignError } from '../errors.js';
import { parseDuration } from './duration.js';
import type { ActionClass, ActionContract, ApprovalRequirement, ParamRule, PolicyBundle, Principal, QuorumFactor } from './schema.js';

/**
 * A bundle compiled once into indexed structures, so that the cost of one
 * decision grows with the rules that can apply to the step (one contract, one
 * risk entry, its prerequisites, the active holds), never with the size of the
 * bundle. casbin's linear scan over every rule is the counter-example.
 *
 * Everything here is frozen: a compiled policy is shared by every request and
 * must not be changed by one of them.
 */
export interface CompiledPolicy {
  readonly bundleId: string;
  readonly bundle: PolicyBundle;
  /** The closed list, compared byte for byte: `Prod` and `prod ` are not members. */
  readonly environments: ReadonlySet<string>;
  readonly surfaces: ReadonlySet<string>;
  readonly principals: ReadonlyMap<string, Principal>;
  readonly actions: ReadonlyMap<string, CompiledAction>;
  /** Keyed `action|environment`; both halves are ids that cannot contain `|`. */
  readonly rules: ReadonlyMap<string, CompiledRule>;
  /** Every rule id a decision under this bundle can cite, in bundle order: the universe for coverage reports. */
  readonly ruleIds: readonly string[];
}

export interface CompiledParam {
  readonly name: string;
  readonly type: ParamRule['type'];
  readonly required: boolean;
  readonly allow: ReadonlySet<string | number | boolean> | null;
  readonly maxLength: number | null;
  readonly ruleId: string;
}

export interface CompiledPrior {
  readonly action: string;
  /** As written in the bundle, for messages and rule ids. */
  readonly within: string;
  readonly withinMs: number;
  readonly ruleId: string;
}

export interface CompiledAction {
  readonly id: string;
  readonly class: ActionClass;
  readonly contract: ActionContract;
  readonly ruleId: string;
  readonly target: RegExp | null;
  readonly targetRuleId: string;
  readonly params: ReadonlyMap<string, CompiledParam>;
  readonly closedParams: boolean;
  readonly closedParamsRuleId: string;
  readonly prior: readonly CompiledPrior[];
  readonly rollbackRequired: boolean;
  readonly rollbackRuleId: string;
  /** This action's rules by environment: the hot path, with no key to build per decision. */
  readonly byEnvironment: ReadonlyMap<string, CompiledRule>;
}

/** The approval requirement resolved for one action in one environment, durations in ms. */
export interface CompiledRequirement {
  readonly quorum: readonly QuorumFactor[];
  readonly surfaces: readonly string[];
  readonly attestation: ApprovalRequirement['attestation'];
  readonly approvalTtlMs: number;
  readonly grantTtlMs: number;
}

export interface CompiledRule {
  readonly action: CompiledAction;
  readonly environment: string;
  readonly risk: string;
  readonly effect: 'allow' | 'require_approval' | 'deny';
  readonly requirement: CompiledRequirement;
  /** `action:<id>`, `risk:<risk>@<env>` and, when the action tightens its risk class, `approval:<id>`. */
  readonly ruleIds: readonly string[];
}

export const RULE_ENV_CLOSED_LIST = 'env:closed-list';
export const RULE_ACTION_CLOSED_LIST = 'action:closed-list';
export const RULE_SURFACE_CLOSED_LIST = 'surface:closed-list';
export const RULE_PRINCIPAL_ROSTER = 'principal:roster';
export const RULE_FAIL_CLOSED = 'engine:fail-closed';

export function ruleKey(action: string, environment: string): string {
  return `${action}|${environment}`;
}

// An approval block with every default applied: what a risk class without one
// means for its grants. Kept literal rather than parsed so compile needs no zod.
const NO_APPROVAL: ApprovalRequirement = { quorum: [], surfaces: [], attestation: 'any', approval_ttl: '30m', grant_ttl: '10m' };

function invalid(message: string, details?: Record<string, unknown>): CountersignError {
  return new CountersignError('POLICY_INVALID', message, details);
}

function compileRequirement(approval: ApprovalRequirement): CompiledRequirement {
  return Object.freeze({
    quorum: Object.freeze(approval.quorum.map((f) => Object.freeze({ roles: Object.freeze([...f.roles]) as string[], count: f.count }))),
    surfaces: Object.freeze([...approval.surfaces]),
    attestation: approval.attestation,
    approvalTtlMs: parseDuration(approval.approval_ttl),
    grantTtlMs: parseDuration(approval.grant_ttl),
  });
}

/**
 * Contracts often share a target pattern; one RegExp per distinct source keeps
 * a decision's memory footprint small. Sharing is safe: without the `g` or `y`
 * flag, `test` neither reads nor writes `lastIndex`.
 */
function compileTarget(contract: ActionContract, patterns: Map<string, RegExp>): RegExp | null {
  if (contract.target_pattern === undefined) return null;
  const known = patterns.get(contract.target_pattern);
  if (known) return known;
  try {
    // The pattern must match the whole target, whatever anchors the author wrote.
    const compiled = new RegExp(`^(?:${contract.target_pattern})$`, 'u');
    patterns.set(contract.target_pattern, compiled);
    return compiled;
  } catch {
    throw invalid(`action \`${contract.id}\` has a target_pattern that is not a valid regular expression`, { action: contract.id });
  }
}

function compileParams(contract: ActionContract): Map<string, CompiledParam> {
  const params = new Map<string, CompiledParam>();
  for (const [name, rule] of Object.entries(contract.params ?? {})) {
    params.set(name, Object.freeze({
      name,
      type: rule.type,
      required: rule.required,
      allow: rule.allow === undefined ? null : new Set(rule.allow),
      maxLength: rule.max_length ?? null,
      ruleId: `param:${contract.id}.${name}`,
    }));
  }
  return params;
}

function compileAction(contract: ActionContract, byEnvironment: ReadonlyMap<string, CompiledRule>, patterns: Map<string, RegExp>): CompiledAction {
  return Object.freeze({
    id: contract.id,
    class: contract.class,
    contract,
    ruleId: `action:${contract.id}`,
    target: compileTarget(contract, patterns),
    targetRuleId: `target:${contract.id}`,
    params: compileParams(contract),
    // Declaring params closes the list unless the author opens it explicitly.
    closedParams: contract.closed_params ?? contract.params !== undefined,
    closedParamsRuleId: `params:${contract.id}:closed`,
    prior: Object.freeze(contract.requires_prior.map((p) => Object.freeze({
      action: p.action,
      within: p.within,
      withinMs: parseDuration(p.within),
      ruleId: `prior:${p.action}<=${p.within}`,
    }))),
    rollbackRequired: contract.rollback_required,
    rollbackRuleId: `rollback:${contract.id}`,
    byEnvironment,
  });
}

/**
 * Compile a validated bundle. Throws POLICY_INVALID for what the schema cannot
 * see and a compiled policy cannot tolerate (a reference to an undeclared risk
 * class or environment, a target pattern that does not compile, an approval
 * requirement with no quorum): failing here is better than deciding wrongly later.
 */
export function compilePolicy(bundle: PolicyBundle, bundleId: string): CompiledPolicy {
  const environments = new Set(bundle.environments);
  const riskClasses = new Map(bundle.risk_classes.map((r) => [r.id, r]));
  const actions = new Map<string, CompiledAction>();
  const rules = new Map<string, CompiledRule>();
  const patterns = new Map<string, RegExp>();
  const ruleIds = new Set<string>([RULE_ENV_CLOSED_LIST, RULE_ACTION_CLOSED_LIST, RULE_SURFACE_CLOSED_LIST, RULE_PRINCIPAL_ROSTER]);

  for (const contract of bundle.actions) {
    if (actions.has(contract.id)) throw invalid(`action \`${contract.id}\` is declared twice`, { action: contract.id });
    const byEnvironment = new Map<string, CompiledRule>();
    const action = compileAction(contract, byEnvironment, patterns);
    actions.set(contract.id, action);
    ruleIds.add(action.ruleId);
    if (action.target) ruleIds.add(action.targetRuleId);
    for (const p of action.params.values()) ruleIds.add(p.ruleId);
    if (action.closedParams) ruleIds.add(action.closedParamsRuleId);
    for (const p of action.prior) ruleIds.add(p.ruleId);
    if (action.rollbackRequired) ruleIds.add(action.rollbackRuleId);

    for (const [environment, riskId] of Object.entries(contract.risk)) {
      if (!environments.has(environment)) {
        throw invalid(`action \`${contract.id}\` gives a risk for undeclared environment \`${environment}\``, { action: contract.id, environment });
      }
      const risk = riskClasses.get(riskId);
      if (!risk) throw invalid(`action \`${contract.id}\` uses undeclared risk class \`${riskId}\``, { action: contract.id, risk: riskId });

      // A per-action approval is tighter than its risk class: it replaces the
      // class requirement, and turns an `allow` into `require_approval` when
      // it names a quorum. A `deny` stays a deny.
      const tightened = contract.approval !== undefined && risk.effect !== 'deny';
      const approval = (tightened ? contract.approval : risk.approval) ?? NO_APPROVAL;
      const effect = risk.effect === 'allow' && tightened && approval.quorum.length > 0 ? 'require_approval' : risk.effect;
      if (effect === 'require_approval' && approval.quorum.length === 0) {
        throw invalid(`action \`${contract.id}\` requires approval in \`${environment}\` but names no quorum`, { action: contract.id, environment });
      }
      const riskRuleId = `risk:${riskId}@${environment}`;
      ruleIds.add(riskRuleId);
      const approvalRuleId = `approval:${contract.id}`;
      if (tightened) ruleIds.add(approvalRuleId);
      const rule: CompiledRule = Object.freeze({
        action,
        environment,
        risk: riskId,
        effect,
        requirement: compileRequirement(approval),
        ruleIds: Object.freeze(tightened ? [action.ruleId, riskRuleId, approvalRuleId] : [action.ruleId, riskRuleId]),
      });
      rules.set(ruleKey(contract.id, environment), rule);
      byEnvironment.set(environment, rule);
    }
  }

  return Object.freeze({
    bundleId,
    bundle,
    environments,
    surfaces: new Set(bundle.surfaces.map((s) => s.id)),
    principals: new Map(bundle.principals.map((p) => [p.id, p])),
    actions,
    rules,
    ruleIds: Object.freeze([...ruleIds]),
  });
}
