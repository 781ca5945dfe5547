import { decideProposal } from '../decision/decide.js';
import type { Decision } from '../decision/decision.js';
import type { LedgerEntry } from '../ledger/entry.js';
import { recordedStepProposal } from '../state/propose.js';
import { decisionState, type AuthorityState, type ReleaseRecord } from '../state/state.js';
import type { CompiledPolicy } from './compile.js';
import { replayDiff, type ReplayDiff } from './diff.js';

/**
 * Shadow runs (issue 13): while a release is open, every decision the bundle
 * in force records is also decided under the candidate, and the differences
 * are counted and listed. Shadow never changes what is allowed: it reads the
 * state and the candidate, and records nothing.
 *
 * Two views of the same thing: `shadowDecision` decides one step live, as it
 * is recorded (the gateway counts these in a metric); `shadowReport` replays
 * the release's window of the ledger, so any replica, or anyone holding an
 * export, lists the same differences.
 */

/** The step `step` decided under `candidate`, against `state` at `now`. Null when the ledger does not know the step. */
export function shadowDecision(state: AuthorityState, stepId: string, candidate: CompiledPolicy, now: number): Decision | null {
  const step = state.steps.get(stepId);
  const proposal = step === undefined ? undefined : state.proposals.get(step.proposal);
  if (step === undefined || proposal === undefined) return null;
  const [decision] = decideProposal(candidate, recordedStepProposal(step, proposal), decisionState(state), now);
  return decision ?? null;
}

export interface ShadowWindow {
  /** RFC 3339: the release was proposed. */
  readonly from: string;
  /** RFC 3339: activated, denied, superseded or expired; null while it is open. */
  readonly to: string | null;
}

export interface ShadowReport {
  readonly release: string;
  readonly candidate: string;
  readonly window: ShadowWindow;
  readonly replay: ReplayDiff;
}

/**
 * Every decision recorded while the release was open, decided again under
 * the bundle then in force and under the candidate: the replay diff of the
 * release's window. `entries` is the whole ledger in seq order.
 */
export function shadowReport(entries: readonly LedgerEntry[], release: Pick<ReleaseRecord, 'id' | 'candidate' | 'proposed_at' | 'closed_at' | 'expires_at' | 'status'>, active: CompiledPolicy, candidate: CompiledPolicy): ShadowReport {
  const from = Date.parse(release.proposed_at);
  const to = release.status === 'open' ? null : (release.closed_at ?? release.expires_at);
  const end = to === null ? Number.POSITIVE_INFINITY : Date.parse(to);
  // the window's entries and everything before them: the state each decision read
  const inWindow = entries.filter((e) => Date.parse(e.at) < end);
  return { release: release.id, candidate: release.candidate, window: { from: release.proposed_at, to }, replay: replayDiff(inWindow, active, candidate, { since: from }) };
}
