import { hasWildcard } from '../authority/wildcard.js';
import type { CompiledPolicy } from '../policy/compile.js';
import type { CommandCode } from './codes.js';
import {
  assertActive,
  draftsFor,
  hasAnyRole,
  liveLeases,
  refusal,
  standingOf,
  type Caller,
  type CommandContext,
  type CommandOutput,
  type Drafts,
} from './command.js';
import type { HoldScopeData } from './entries.js';
import type { AuthorityState } from './state.js';

/**
 * The kill switch (DESIGN "Hold"): opened with the trip gate that fired and
 * an evidence hash, added to, lifted. Only the roles the policy names; agents
 * never. A hold stops matching mutations at decision and at execution; it
 * never stops read-only diagnosis.
 */

export interface OpenHoldCommand {
  readonly kind: 'hold_open';
  readonly caller: Caller;
  readonly trip_gate: string;
  /** An omitted or empty dimension covers everything in it. */
  readonly scope: Partial<HoldScopeData>;
  readonly evidence_hash: string;
  readonly incident?: string;
  readonly reason?: string;
}

export interface AddEvidenceCommand {
  readonly kind: 'hold_evidence';
  readonly caller: Caller;
  readonly hold: string;
  readonly evidence_hash: string;
}

export interface LiftHoldCommand {
  readonly kind: 'hold_lift';
  readonly caller: Caller;
  readonly hold: string;
  readonly reason?: string;
}

export interface HoldResult {
  readonly ok: true;
  readonly hold: string;
  /** Leases revoked by this call (new evidence revokes every live lease granted under the hold). */
  readonly revoked_leases: readonly string[];
}

const EVIDENCE = /^sha256:[0-9a-f]{64}$/;
const CLASSES = new Set(['read', 'write', 'destructive']);
const RULE_OPEN = 'holds:open_roles';
const RULE_LIFT = 'holds:lift_roles';

type HoldOperation = 'hold_open' | 'hold_evidence' | 'hold_lift';

function refuse(d: Drafts, caller: Caller, operation: HoldOperation, hold: string | null, code: CommandCode, message: string, ruleIds: readonly string[]): CommandOutput<HoldResult> {
  const subjects: Record<string, string> = {};
  if (hold !== null) subjects['hold'] = hold;
  d.push('hold.rejected', subjects, { operation, hold, code, credential: caller.credential, rule_ids: [...ruleIds] });
  return { entries: d.list, result: refusal(code, message) };
}

/** Who may touch a hold: a human holding one of `roles`. Null when allowed. */
function standingProblem(policy: CompiledPolicy, caller: Caller, roles: readonly string[]): { code: CommandCode; message: string } | null {
  const standing = standingOf(policy, caller.principal);
  if (standing.kind === 'unknown') return { code: 'UNKNOWN_PRINCIPAL', message: 'caller is not in the roster' };
  // DESIGN invariant 1: an agent can never open or lift a hold.
  if (standing.kind === 'agent') return { code: 'AGENT_CANNOT_HOLD', message: 'an agent cannot open, extend or lift a hold' };
  if (!hasAnyRole(standing.principal, roles)) return { code: 'ROLE_NOT_ELIGIBLE', message: 'caller holds no role the policy names for this' };
  return null;
}

/** Why a hold scope would not hold what it says, or null when it is sound. */
function scopeProblem(policy: CompiledPolicy, scope: HoldScopeData): string | null {
  // Scopes match literally: a `shard-*` hold would report success and stop nothing.
  const entries = [...scope.environments, ...scope.classes, ...scope.actions, ...scope.targets];
  const wildcard = entries.find((e) => hasWildcard(e));
  if (wildcard !== undefined) return `hold scope entry \`${shown(wildcard)}\` holds a wildcard: scopes are explicit lists, name each one`;
  // A misspelt scope would silently hold nothing: refuse what the bundle does not declare.
  const undeclared =
    scope.environments.some((e) => !policy.environments.has(e)) ||
    scope.classes.some((c) => !CLASSES.has(c)) ||
    scope.actions.some((a) => !policy.actions.has(a)) ||
    scope.targets.some((t) => t.length === 0 || t.length > 512);
  return undeclared ? 'hold scope names something the bundle does not declare' : null;
}

/** Scope entries come from the caller: shortened so a message stays one short line. */
function shown(text: string): string {
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}

export function openHold(state: AuthorityState, policy: CompiledPolicy | null, command: OpenHoldCommand, ctx: CommandContext): CommandOutput<HoldResult> {
  const compiled = assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const holds = compiled.bundle.holds;
  const problem = standingProblem(compiled, caller, holds.open_roles);
  if (problem) return refuse(d, caller, 'hold_open', null, problem.code, problem.message, [RULE_OPEN]);
  if (!holds.trip_gates.some((g) => g.id === command.trip_gate)) {
    return refuse(d, caller, 'hold_open', null, 'UNKNOWN_TRIP_GATE', `trip gate \`${command.trip_gate}\` is not declared`, ['holds:trip_gates']);
  }
  const scope: HoldScopeData = {
    environments: [...(command.scope.environments ?? [])],
    classes: [...(command.scope.classes ?? [])],
    actions: [...(command.scope.actions ?? [])],
    targets: [...(command.scope.targets ?? [])],
  };
  const invalid = scopeProblem(compiled, scope);
  if (invalid !== null) return refuse(d, caller, 'hold_open', null, 'HOLD_SCOPE_INVALID', invalid, [RULE_OPEN]);
  if (!EVIDENCE.test(command.evidence_hash)) return refuse(d, caller, 'hold_open', null, 'EVIDENCE_INVALID', 'evidence hash is not `sha256:` and 64 hex digits', [RULE_OPEN]);

  const hold = ctx.ids.next('hold');
  const incident = command.incident ?? null;
  const subjects: Record<string, string> = { hold };
  if (incident !== null) subjects['incident'] = incident;
  d.push('hold.opened', subjects, {
    hold,
    trip_gate: command.trip_gate,
    scope,
    evidence_hash: command.evidence_hash,
    incident,
    reason: (command.reason ?? '').slice(0, 2_000),
    credential: caller.credential,
    rule_ids: [RULE_OPEN, `hold:trip_gate:${command.trip_gate}`],
  });
  return { entries: d.list, result: { ok: true, hold, revoked_leases: [] } };
}

/**
 * New evidence on a hold revokes every live lease granted under it at once:
 * the facts the signers saw are no longer the facts (reference procedure,
 * "Revocation").
 */
export function addHoldEvidence(state: AuthorityState, policy: CompiledPolicy | null, command: AddEvidenceCommand, ctx: CommandContext): CommandOutput<HoldResult> {
  const compiled = assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const problem = standingProblem(compiled, caller, compiled.bundle.holds.open_roles);
  if (problem) return refuse(d, caller, 'hold_evidence', command.hold, problem.code, problem.message, [RULE_OPEN]);
  const hold = state.holds.get(command.hold);
  if (!hold) return refuse(d, caller, 'hold_evidence', command.hold, 'HOLD_UNKNOWN', 'hold is not known', [RULE_OPEN]);
  if (hold.status !== 'open') return refuse(d, caller, 'hold_evidence', hold.id, 'HOLD_NOT_OPEN', 'hold is not open', [RULE_OPEN]);
  if (!EVIDENCE.test(command.evidence_hash)) return refuse(d, caller, 'hold_evidence', hold.id, 'EVIDENCE_INVALID', 'evidence hash is not `sha256:` and 64 hex digits', [RULE_OPEN]);

  const subjects: Record<string, string> = { hold: hold.id };
  if (hold.incident !== null) subjects['incident'] = hold.incident;
  d.push('hold.evidence_added', subjects, { hold: hold.id, evidence_hash: command.evidence_hash, credential: caller.credential, rule_ids: [RULE_OPEN] });
  const revoked: string[] = [];
  for (const lease of liveLeases(state)) {
    if (lease.hold !== hold.id) continue;
    d.push('lease.revoked', { lease: lease.id, hold: hold.id, override: lease.override }, { lease: lease.id, reason: 'hold_evidence', cause: hold.id, rule_ids: ['override:revocation'] });
    revoked.push(lease.id);
  }
  return { entries: d.list, result: { ok: true, hold: hold.id, revoked_leases: revoked } };
}

/** Lifting needs someone accountable for resuming: the policy's lift roles. */
export function liftHold(state: AuthorityState, policy: CompiledPolicy | null, command: LiftHoldCommand, ctx: CommandContext): CommandOutput<HoldResult> {
  const compiled = assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const problem = standingProblem(compiled, caller, compiled.bundle.holds.lift_roles);
  if (problem) return refuse(d, caller, 'hold_lift', command.hold, problem.code, problem.message, [RULE_LIFT]);
  const hold = state.holds.get(command.hold);
  if (!hold) return refuse(d, caller, 'hold_lift', command.hold, 'HOLD_UNKNOWN', 'hold is not known', [RULE_LIFT]);
  if (hold.status !== 'open') return refuse(d, caller, 'hold_lift', hold.id, 'HOLD_NOT_OPEN', 'hold is not open', [RULE_LIFT]);
  const subjects: Record<string, string> = { hold: hold.id };
  if (hold.incident !== null) subjects['incident'] = hold.incident;
  d.push('hold.lifted', subjects, { hold: hold.id, reason: (command.reason ?? '').slice(0, 2_000), credential: caller.credential, rule_ids: [RULE_LIFT] });
  return { entries: d.list, result: { ok: true, hold: hold.id, revoked_leases: [] } };
}
