import { decideProposal } from '../decision/decide.js';
import type { CompiledPolicy } from '../policy/compile.js';
import {
  awaitsRollback,
  draftsFor,
  liveGrants,
  liveLeases,
  openRequests,
  reject,
  standingOf,
  stepsInLedgerOrder,
  type Caller,
  type CommandContext,
  type CommandOutput,
  type Drafts,
} from './command.js';
import type { CanonicalValue } from '../canonical.js';
import { CountersignError } from '../errors.js';
import { normalisePolicy } from '../policy/bundle-id.js';
import { recordedStepProposal, settleDecision, type StepOutcome } from './propose.js';
import { decisionState, type AuthorityState } from './state.js';

/**
 * Activating a bundle is itself a governed, recorded action (DESIGN invariant
 * 8). Everything that was decided under the old bundle and not yet used
 * loses its footing: pending requests are voided and their steps decided
 * again, live leases are revoked, and the `bundle.activated` entry itself
 * revokes every grant still live (a later use is refused with
 * BUNDLE_CHANGED; the agent proposes again under the new bundle).
 */
export interface ActivateBundleCommand {
  readonly kind: 'bundle_activate';
  /** Null when the gateway itself activates its configured bundle at start. */
  readonly caller: Caller | null;
  readonly policy: CompiledPolicy;
}

export interface ActivateBundleResult {
  readonly ok: true;
  readonly bundle_id: string;
  readonly previous_bundle_id: string | null;
  readonly voided_requests: readonly string[];
  readonly revoked_grants: readonly string[];
  readonly revoked_leases: readonly string[];
  readonly redecided: readonly StepOutcome[];
}

const RULE_ACTIVATION = 'bundle:activation';
const RULE_RELEASE = 'release:quorum';

export function activateBundle(state: AuthorityState, current: CompiledPolicy | null, command: ActivateBundleCommand, ctx: CommandContext): CommandOutput<ActivateBundleResult> {
  const { caller, policy: next } = command;
  const d = draftsFor(state, caller, ctx.now);
  const previous = state.bundle.bundle_id;
  if (caller !== null) {
    // Authority is judged by the bundle in force; at genesis there is only the new one.
    const standing = standingOf(current ?? next, caller.principal);
    if (standing.kind === 'unknown') return reject(d, caller, 'bundle_activate', 'UNKNOWN_PRINCIPAL', 'caller is not in the roster', next.bundleId, [RULE_ACTIVATION]);
    if (standing.kind === 'agent') return reject(d, caller, 'bundle_activate', 'AGENT_CANNOT_ACTIVATE', 'an agent cannot activate a bundle', next.bundleId, [RULE_ACTIVATION]);
    if (previous === next.bundleId) return reject(d, caller, 'bundle_activate', 'BUNDLE_ALREADY_ACTIVE', 'bundle is already active', next.bundleId, [RULE_ACTIVATION]);
    // DESIGN invariant 8: nobody changes the rules alone, whoever they are
    return reject(d, caller, 'bundle_activate', 'RELEASE_REQUIRED', 'a bundle is activated only by a governed release: propose it and collect its quorum', next.bundleId, [RULE_ACTIVATION]);
  }
  if (previous === next.bundleId) {
    return { entries: [], result: { ok: true, bundle_id: next.bundleId, previous_bundle_id: previous, voided_requests: [], revoked_grants: [], revoked_leases: [], redecided: [] } };
  }
  // The gateway installs the first bundle of a ledger, and only that one: a replica
  // started with another file must not change the rules by being restarted.
  if (previous !== null) {
    throw new CountersignError('INTERNAL', `bundle \`${next.bundleId}\` cannot replace \`${previous}\` without a governed release`);
  }
  return { entries: d.list, result: activationEffects(d, state, next, ctx, { credential: null, release: null, text: normalisePolicy(next.bundle) }) };
}

/**
 * Make `next` the bundle in force, in the commit of `d`: the first bundle of a
 * ledger (with its text), or a release's candidate on quorum. Everything
 * decided under the old bundle and not yet used loses its footing.
 *
 * ADR 006 decision 4: the grants still live are revoked by the one
 * `bundle.activated` entry (the reducer ends each one, reason
 * `bundle_change`), not by an entry each, and their steps are not decided
 * again: granted, a step was settled under rules no longer in force, and a
 * new grant would be authority nobody is waiting for. What is decided again
 * is the work still open under the old bundle, which people wait on: the
 * steps of the requests it voids and the steps awaiting a rollback. So the
 * commit grows with that open work, not with the rate times `grant_ttl`.
 */
export function activationEffects(
  d: Drafts,
  state: AuthorityState,
  next: CompiledPolicy,
  ctx: CommandContext,
  options: { readonly credential: string | null; readonly release: string | null; readonly text: CanonicalValue | null },
): ActivateBundleResult {
  const previous = state.bundle.bundle_id;
  // read before the entry: applying it ends them
  const revokedGrants = liveGrants(state).map((grant) => grant.jti);
  d.bundleId = next.bundleId;
  d.push('bundle.activated', { bundle: next.bundleId, ...(options.release === null ? {} : { release: options.release }) }, {
    bundle_id: next.bundleId,
    name: next.bundle.name,
    previous_bundle_id: previous,
    credential: options.credential,
    rule_ids: [options.release === null ? RULE_ACTIVATION : RULE_RELEASE],
    release: options.release,
    bundle: options.text,
    // a ledger's first bundle finds no grant to revoke
    ...(options.release === null ? {} : { grants_revoked: revokedGrants.length }),
  });

  const redecide = new Set<string>();
  const revokedLeases: string[] = [];
  for (const lease of liveLeases(state)) {
    d.push('lease.revoked', { lease: lease.id, override: lease.override, bundle: next.bundleId }, { lease: lease.id, reason: 'bundle_change', cause: next.bundleId, rule_ids: [RULE_ACTIVATION] });
    revokedLeases.push(lease.id);
  }
  const voided: string[] = [];
  for (const request of openRequests(state)) {
    const id = request.id;
    d.push('request.voided', { request: id, step: request.step, proposal: request.proposal }, { request: id, step: request.step, reason: 'bundle_change', new_bundle_id: next.bundleId });
    voided.push(id);
    redecide.add(request.step);
  }

  const view = decisionState(state);
  const outcomes: StepOutcome[] = [];
  // the steps an open request named, and those awaiting a rollback, from the indexes
  for (const { step, proposal } of stepsInLedgerOrder(state, [...redecide, ...state.index.rollbackSteps])) {
    if (!redecide.has(step.id) && !awaitsRollback(state, step)) continue;
    // A step that ran is history: no new decision can authorise it again.
    if (step.executions.length > 0) continue;
    const [decision] = decideProposal(next, recordedStepProposal(step, proposal), view, ctx.now);
    if (!decision) continue;
    outcomes.push(
      settleDecision(
        d,
        ctx.ids,
        ctx.now,
        { id: step.id, proposal: step.proposal, index: step.index, incident: step.incident },
        { agent: proposal.agent, on_behalf_of: proposal.on_behalf_of, surface: proposal.surface, credential: proposal.credential },
        decision,
        // An artifact's digest binds the old bundle: it must be registered again.
        { redecided: 'bundle_change', rollbackReady: false },
      ),
    );
  }
  return { ok: true, bundle_id: next.bundleId, previous_bundle_id: previous, voided_requests: voided, revoked_grants: revokedGrants, revoked_leases: revokedLeases, redecided: outcomes };
}
