import type { CompiledPolicy } from '../policy/compile.js';
import {
  assertActive,
  draftsFor,
  haltCovers,
  hasAnyRole,
  leaseIncident,
  liveGrants,
  liveLeases,
  reject,
  standingOf,
  type Caller,
  type CommandContext,
  type CommandOutput,
} from './command.js';
import type { HaltScopeData } from './entries.js';
import type { AuthorityState, HaltRecord } from './state.js';

/**
 * Halt: one principal with halt authority suspends every grant and lease in
 * a scope at once. One key is enough because stopping is the safe direction
 * (DESIGN "Rollback artifact and halt"). While a halt is active, execution in
 * its scope is refused with HALT_ACTIVE. The `halt.issued` entry itself
 * revokes the live grants in its scope (ADR 006 decision 4), so a halt is one
 * entry however many grants are live; each live lease still gets its own
 * `lease.revoked`.
 */

export interface HaltCommand {
  readonly kind: 'halt';
  readonly caller: Caller;
  readonly scope: HaltScopeData;
  readonly reason?: string;
}

export interface LiftHaltCommand {
  readonly kind: 'halt_lift';
  readonly caller: Caller;
  readonly halt: string;
  readonly reason?: string;
}

export interface HaltResult {
  readonly ok: true;
  readonly halt: string;
  readonly revoked_grants: readonly string[];
  readonly revoked_leases: readonly string[];
}

const RULE_HALT = 'halt:authority';

function scopeEnvironments(policy: CompiledPolicy, scope: HaltScopeData): string[] {
  return scope.kind === 'environment' ? [scope.environment] : scope.kind === 'all' ? [...policy.environments] : [];
}

export function halt(state: AuthorityState, policy: CompiledPolicy | null, command: HaltCommand, ctx: CommandContext): CommandOutput<HaltResult> {
  const compiled = assertActive(state, policy);
  const { caller, scope } = command;
  const d = draftsFor(state, caller, ctx.now);
  const authority = compiled.bundle.halt;
  const standing = standingOf(compiled, caller.principal);
  if (standing.kind === 'unknown') return reject(d, caller, 'halt', 'UNKNOWN_PRINCIPAL', 'caller is not in the roster', null, [RULE_HALT]);
  if (standing.kind === 'agent') return reject(d, caller, 'halt', 'AGENT_CANNOT_HALT', 'an agent cannot halt', null, [RULE_HALT]);
  if (!hasAnyRole(standing.principal, authority.roles)) return reject(d, caller, 'halt', 'ROLE_NOT_ELIGIBLE', 'caller holds no halt authority', null, [RULE_HALT]);
  if (scopeEnvironments(compiled, scope).some((e) => !authority.environments.includes(e))) {
    return reject(d, caller, 'halt', 'ENVIRONMENT_NOT_ALLOWED', 'halt authority does not cover this scope', null, [RULE_HALT]);
  }

  const id = ctx.ids.next('halt');
  const subjects: Record<string, string> = { halt: id };
  if (scope.kind === 'incident') subjects['incident'] = scope.incident;
  const normalized: HaltScopeData =
    scope.kind === 'environment' ? { kind: 'environment', environment: scope.environment } : scope.kind === 'incident' ? { kind: 'incident', incident: scope.incident } : { kind: 'all' };
  const record: Pick<HaltRecord, 'scope'> = { scope: normalized };
  // read before the entry: applying it ends them
  const grants = liveGrants(state)
    .filter((grant) => haltCovers(record, grant.environment, grant.incident))
    .map((grant) => grant.jti);
  d.push('halt.issued', subjects, {
    halt: id,
    scope: normalized,
    reason: (command.reason ?? '').slice(0, 2_000),
    credential: caller.credential,
    rule_ids: [RULE_HALT],
    grants_revoked: grants.length,
  });

  const leases: string[] = [];
  for (const lease of liveLeases(state)) {
    const incident = leaseIncident(state, lease);
    if (!lease.environments.some((e) => haltCovers(record, e, incident))) continue;
    d.push('lease.revoked', { lease: lease.id, override: lease.override, halt: id }, { lease: lease.id, reason: 'halt', cause: id, rule_ids: [RULE_HALT] });
    leases.push(lease.id);
  }
  return { entries: d.list, result: { ok: true, halt: id, revoked_grants: grants, revoked_leases: leases } };
}

export function liftHalt(state: AuthorityState, policy: CompiledPolicy | null, command: LiftHaltCommand, ctx: CommandContext): CommandOutput<HaltResult> {
  const compiled = assertActive(state, policy);
  const { caller } = command;
  const d = draftsFor(state, caller, ctx.now);
  const authority = compiled.bundle.halt;
  const standing = standingOf(compiled, caller.principal);
  if (standing.kind === 'unknown') return reject(d, caller, 'halt_lift', 'UNKNOWN_PRINCIPAL', 'caller is not in the roster', command.halt, [RULE_HALT]);
  if (standing.kind === 'agent') return reject(d, caller, 'halt_lift', 'AGENT_CANNOT_HALT', 'an agent cannot lift a halt', command.halt, [RULE_HALT]);
  if (!hasAnyRole(standing.principal, authority.roles)) return reject(d, caller, 'halt_lift', 'ROLE_NOT_ELIGIBLE', 'caller holds no halt authority', command.halt, [RULE_HALT]);
  const record = state.halts.get(command.halt);
  if (!record) return reject(d, caller, 'halt_lift', 'HALT_UNKNOWN', 'halt is not known', command.halt, [RULE_HALT]);
  if (record.status !== 'active') return reject(d, caller, 'halt_lift', 'HALT_NOT_ACTIVE', 'halt is not active', record.id, [RULE_HALT]);
  const subjects: Record<string, string> = { halt: record.id };
  if (record.scope.kind === 'incident') subjects['incident'] = record.scope.incident;
  d.push('halt.lifted', subjects, { halt: record.id, reason: (command.reason ?? '').slice(0, 2_000), credential: caller.credential, rule_ids: [RULE_HALT] });
  return { entries: d.list, result: { ok: true, halt: record.id, revoked_grants: [], revoked_leases: [] } };
}
