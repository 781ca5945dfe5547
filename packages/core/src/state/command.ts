import type { CanonicalValue } from '../canonical.js';
import type { Decision } from '../decision/decision.js';
import type { GrantClaims } from '../grant/claims.js';
import { CountersignError } from '../errors.js';
import type { EntryDraft } from '../ledger/entry.js';
import type { CompiledPolicy } from '../policy/compile.js';
import { buildRoster, type Roster } from '../policy/roster.js';
import type { Principal } from '../policy/schema.js';
import type { CommandCode } from './codes.js';
import { toDraft, type EntryPayloads, type EntryType, type Operation, type RequirementsData } from './entries.js';
import type { AuthorityState, GrantRecord, HaltRecord, LeaseRecord, ProposalRecord, RequestRecord, StepRecord } from './state.js';

/**
 * What every command shares: who calls, the injected clock and id source, the
 * draft builder, and the refusal shape. Commands are pure
 * `(state, policy, command, context) -> { entries, result }` (ADR 002 §1):
 * they read the state, never change it, and say what happened as drafts for
 * the sequencer to seal and feed back through `applyEntry`.
 */

/** The authenticated call: principal and surface are the credential's, never fields the caller chooses. */
export interface Caller {
  readonly principal: string;
  readonly surface: string;
  readonly credential: string;
}

export type IdKind = 'proposal' | 'request' | 'grant' | 'execution' | 'hold' | 'override' | 'lease' | 'artifact' | 'halt' | 'release';

/** Injected so the core stays deterministic: tests count, the gateway draws random ids. */
export interface IdGenerator {
  next(kind: IdKind): string;
}

export interface CommandContext {
  /** Epoch milliseconds from the injected clock. */
  readonly now: number;
  readonly ids: IdGenerator;
}

export interface Refusal {
  readonly ok: false;
  readonly code: CommandCode;
  /** Every failing gate, for overrides; otherwise `[code]`. */
  readonly codes: readonly CommandCode[];
  readonly message: string;
  /** What the caller needs to act on the refusal (the golden cases that failed), as the API's `error.details`. */
  readonly details?: { readonly [key: string]: CanonicalValue };
}

export interface CommandOutput<R> {
  readonly entries: EntryDraft[];
  readonly result: R | Refusal;
}

/** A grant as the ledger records it; `grantTokenClaims` gives the claims its JWS carries. */
export type IssuedGrant = EntryPayloads['grant.issued'];

/** The JWS claims (grant/claims.ts) of an issued grant: RFC 7519 NumericDates in seconds. */
export function grantTokenClaims(grant: IssuedGrant): GrantClaims {
  return {
    jti: grant.jti,
    iat: Math.floor(parseAt(grant.issued_at) / 1_000),
    exp: Math.floor(parseAt(grant.expires_at) / 1_000),
    step_digest: grant.digest,
    environment: grant.environment,
    target: grant.target,
    bundle_id: grant.bundle_id,
    request_id: grant.request,
    lease_id: null,
  };
}

export function isoAt(ms: number): string {
  return new Date(ms).toISOString();
}

export function parseAt(text: string): number {
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : Number.NaN;
}

/** Collects the drafts of one command with the fields they share. */
export class Drafts {
  readonly list: EntryDraft[] = [];
  constructor(
    readonly at: string,
    readonly actor: string | null,
    readonly surface: string | null,
    public bundleId: string | null,
  ) {}

  push<T extends EntryType>(type: T, subjects: Readonly<Record<string, string>>, payload: EntryPayloads[T]): void {
    this.list.push(toDraft({ at: this.at, actor: this.actor, surface: this.surface, bundle_id: this.bundleId, subjects, type, payload } as never));
  }
}

export function draftsFor(state: AuthorityState, caller: Caller | null, now: number): Drafts {
  return new Drafts(isoAt(now), caller?.principal ?? null, caller?.surface ?? null, state.bundle.bundle_id);
}

export function refusal(code: CommandCode, message: string, codes: readonly CommandCode[] = [code]): Refusal {
  return { ok: false, code, codes, message };
}

/** Record a refusal of a non-approval call as `authority.rejected`. */
export function reject(d: Drafts, caller: Caller, operation: Operation, code: CommandCode, message: string, targetId: string | null, ruleIds: readonly string[] = []): CommandOutput<never> {
  const subjects: Record<string, string> = {};
  if (targetId !== null) subjects['target'] = targetId;
  d.push('authority.rejected', subjects, { operation, code, target_id: targetId, credential: caller.credential, rule_ids: [...ruleIds] });
  return { entries: d.list, result: refusal(code, message) };
}

/** Every command but bundle activation runs under the active bundle; anything else is a wiring bug. */
export function assertActive(state: AuthorityState, policy: CompiledPolicy | null): CompiledPolicy {
  if (policy === null || state.bundle.bundle_id === null || policy.bundleId !== state.bundle.bundle_id) {
    throw new CountersignError('INTERNAL', 'command evaluated under a policy that is not the active bundle');
  }
  return policy;
}

const rosters = new WeakMap<CompiledPolicy, Roster>();

/** The roster of a compiled policy, built once per policy. */
export function rosterOf(policy: CompiledPolicy): Roster {
  let roster = rosters.get(policy);
  if (!roster) {
    roster = buildRoster(policy.bundle);
    rosters.set(policy, roster);
  }
  return roster;
}

export type Standing =
  | { readonly kind: 'unknown' }
  | { readonly kind: 'agent'; readonly principal: Principal }
  | { readonly kind: 'human'; readonly principal: Principal };

/** Agents and services are automation: they propose and execute, never hold authority (DESIGN invariant 1). */
export function standingOf(policy: CompiledPolicy, principal: string): Standing {
  const p = policy.principals.get(principal);
  if (!p) return { kind: 'unknown' };
  return p.kind === 'human' ? { kind: 'human', principal: p } : { kind: 'agent', principal: p };
}

export function hasAnyRole(principal: Principal, roles: readonly string[]): boolean {
  return principal.roles.some((r) => roles.includes(r));
}

export function requirementsData(decision: Decision): RequirementsData | null {
  const r = decision.requirements;
  if (r === null) return null;
  return {
    quorum: r.quorum.map((f) => ({ roles: [...f.roles], count: f.count })),
    surfaces: [...r.surfaces],
    attestation: r.attestation,
    approval_expires_at: r.approval_expires_at,
    grant_ttl_ms: r.grant_ttl_ms,
    rollback_required: r.rollback_required,
    prerequisites: r.prerequisites.map((p) => ({ ...p })),
  };
}

/** True when a step has the authority for a grant but waits for its rollback artifact. */
export function awaitsRollback(state: AuthorityState, step: StepRecord): boolean {
  if (!step.authorized || step.requirements?.rollback_required !== true || step.executions.length > 0) return false;
  // INVARIANT: a decision grants once. A grant of this decision counts whatever became of it (live,
  // used, expired, revoked by a halt or by an activation): a new rollback never issues it again, so
  // both revocations are final. A grant is of the step's decision when both name one bundle: an
  // activation decides again only steps that hold no such grant (ADR 006 decision 4), so a grant
  // under another bundle is an earlier decision's. (Before that decision, an activation decided
  // granted steps again too; a step so decided again under a bundle a release brought back counts
  // its old grant, and waits for no rollback: it fails closed, and its agent proposes again.)
  const granted = step.grants.some((jti) => state.grants.get(jti)?.bundle_id === step.bundle_id);
  if (granted) return false;
  const artifact = step.artifact === null ? undefined : state.artifacts.get(step.artifact);
  return artifact?.status !== 'ready';
}

/**
 * Issue a grant for a step that has its authority. A grant never outlives the
 * prerequisites that justified it.
 */
export function issueGrant(
  d: Drafts,
  ids: IdGenerator,
  now: number,
  step: Pick<StepRecord, 'id' | 'proposal' | 'action' | 'environment' | 'target' | 'incident' | 'rule_ids'>,
  digest: string,
  bundleId: string,
  requirements: RequirementsData,
  request: string | null,
): IssuedGrant {
  let expires = now + requirements.grant_ttl_ms;
  for (const p of requirements.prerequisites) {
    const lapse = parseAt(p.expires_at);
    if (Number.isFinite(lapse) && lapse < expires) expires = lapse;
  }
  const jti = ids.next('grant');
  const claims: IssuedGrant = {
    jti,
    step: step.id,
    proposal: step.proposal,
    request,
    digest,
    action: step.action,
    environment: step.environment,
    target: step.target,
    bundle_id: bundleId,
    incident: step.incident,
    issued_at: isoAt(now),
    expires_at: isoAt(expires),
    rule_ids: [...step.rule_ids],
  };
  const subjects: Record<string, string> = { grant: jti, step: step.id, proposal: step.proposal };
  if (request !== null) subjects['request'] = request;
  if (step.incident !== null) subjects['incident'] = step.incident;
  d.push('grant.issued', subjects, claims);
  return claims;
}

export function haltCovers(halt: Pick<HaltRecord, 'scope'>, environment: string, incident: string | null): boolean {
  switch (halt.scope.kind) {
    case 'all':
      return true;
    case 'environment':
      return halt.scope.environment === environment;
    case 'incident':
      return incident !== null && halt.scope.incident === incident;
  }
}

export function activeHaltFor(state: AuthorityState, environment: string, incident: string | null): HaltRecord | null {
  for (const id of state.index.activeHalts) {
    const halt = state.halts.get(id);
    if (halt && haltCovers(halt, environment, incident)) return halt;
  }
  return null;
}

export function leaseIncident(state: AuthorityState, lease: LeaseRecord): string | null {
  return lease.incident ?? (lease.hold === null ? null : state.holds.get(lease.hold)?.incident ?? null);
}

export function liveGrants(state: AuthorityState): GrantRecord[] {
  const list: GrantRecord[] = [];
  for (const jti of state.index.liveGrants) {
    const g = state.grants.get(jti);
    if (g) list.push(g);
  }
  return list;
}

/**
 * The steps named, each once, with their proposals, in the order the ledger
 * recorded them (the proposal's sequence number, then the step's index): the
 * order a walk over every step gives, for the few steps a command finds
 * through an index instead (ADR 006 §5). A step whose proposal is not
 * recorded is left out, as such a walk skipped it.
 */
export function stepsInLedgerOrder(state: AuthorityState, ids: Iterable<string>): { step: StepRecord; proposal: ProposalRecord }[] {
  const found: { step: StepRecord; proposal: ProposalRecord }[] = [];
  for (const id of new Set(ids)) {
    const step = state.steps.get(id);
    const proposal = step === undefined ? undefined : state.proposals.get(step.proposal);
    if (step !== undefined && proposal !== undefined) found.push({ step, proposal });
  }
  return found.sort((a, b) => a.proposal.seq - b.proposal.seq || a.step.index - b.step.index);
}

/** Open requests, in the order they were opened; lazily, so a reader that wants a page stops there. */
export function* openRequests(state: AuthorityState): IterableIterator<RequestRecord> {
  for (const id of state.index.openRequests) {
    const r = state.requests.get(id);
    if (r) yield r;
  }
}

/** Every request opened for the step digest `digest`, whatever its status now, oldest first. */
export function* requestsForDigest(state: AuthorityState, digest: string): IterableIterator<RequestRecord> {
  for (const id of state.index.requestsByDigest.get(digest) ?? []) {
    const r = state.requests.get(id);
    // the index and the record name the same digest; checked, as it costs nothing
    if (r?.digest === digest) yield r;
  }
}

export function liveLeases(state: AuthorityState): LeaseRecord[] {
  const list: LeaseRecord[] = [];
  for (const id of state.index.liveLeases) {
    const l = state.leases.get(id);
    if (l) list.push(l);
  }
  return list;
}

/** Subjects of a step-level entry. */
export function stepSubjects(step: Pick<StepRecord, 'id' | 'proposal' | 'incident'>, extra: Record<string, string> = {}): Record<string, string> {
  const subjects: Record<string, string> = { step: step.id, proposal: step.proposal, ...extra };
  if (step.incident !== null) subjects['incident'] = step.incident;
  return subjects;
}
