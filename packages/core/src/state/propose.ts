import { decideProposal } from '../decision/decide.js';
import type { Decision } from '../decision/decision.js';
import type { Proposal } from '../decision/proposal.js';
import type { CompiledPolicy } from '../policy/compile.js';
import {
  activeHaltFor,
  assertActive,
  draftsFor,
  issueGrant,
  reject,
  requirementsData,
  stepSubjects,
  type Caller,
  type CommandContext,
  type CommandOutput,
  type Drafts,
  type IssuedGrant,
  type IdGenerator,
} from './command.js';
import { stepId, type StepBody } from './entries.js';
import { decisionState, type AuthorityState, type ProposalRecord, type StepRecord } from './state.js';

export interface ProposeCommand {
  readonly kind: 'propose';
  readonly caller: Caller;
  /** Already validated with `parseProposal`: sizes bounded, values canonical. */
  readonly proposal: Proposal;
  /**
   * The one-call path (issue 15): a step decided `allow` (and needing no
   * rollback artifact first) is executed at once, recorded as `step.executed`
   * instead of a grant issued now and consumed by a second call. Same rules,
   * same refusals, the same at-most-once key. Other steps are settled as by
   * a plain proposal.
   */
  readonly execute?: boolean;
}

/** What became of one step. */
export interface StepOutcome {
  readonly step: string;
  readonly index: number;
  readonly effect: Decision['effect'];
  readonly reasons: readonly string[];
  readonly rule_ids: readonly string[];
  readonly digest: string | null;
  readonly request: string | null;
  readonly grant: IssuedGrant | null;
  /** Authorized, but the grant waits for a rollback artifact to be registered for this step. */
  readonly awaiting_rollback: boolean;
  /** On the one-call path: the execution started for an allowed step, or null. */
  readonly execution: string | null;
  /** On the one-call path: why an allowed step was not executed (HALT_ACTIVE), recorded; else null. */
  readonly refused: 'HALT_ACTIVE' | null;
}

export interface ProposeResult {
  readonly ok: true;
  readonly proposal: string;
  readonly steps: readonly StepOutcome[];
}

export interface StepIdentity {
  readonly id: string;
  readonly proposal: string;
  readonly index: number;
  readonly incident: string | null;
}

export interface Proposer {
  readonly agent: string;
  readonly on_behalf_of: string;
  readonly surface: string;
  readonly credential: string | null;
}

/**
 * Record one step's decision and act on it: `allow` gets a grant at once
 * unless its contract wants a rollback artifact that is not registered yet;
 * `require_approval` opens a request of its own; `deny` and `held` are the
 * decision entry itself, with their reason codes.
 */
export function settleDecision(
  d: Drafts,
  ids: IdGenerator,
  now: number,
  step: StepIdentity,
  proposer: Proposer,
  decision: Decision,
  options: { readonly redecided: 'bundle_change' | null; readonly rollbackReady: boolean; readonly execute?: { readonly state: AuthorityState } },
): StepOutcome {
  const requirements = requirementsData(decision);
  d.push('step.decided', stepSubjects(step), {
    step: step.id,
    proposal: step.proposal,
    index: step.index,
    action: decision.action,
    environment: decision.environment,
    target: decision.target,
    effect: decision.effect,
    risk: decision.risk,
    class: decision.action_class,
    rule_ids: [...decision.rule_ids],
    reasons: [...decision.reasons],
    digest: decision.step_digest,
    requirements,
    redecided: options.redecided,
    credential: proposer.credential,
  });
  let request: string | null = null;
  let grant: IssuedGrant | null = null;
  let awaiting = false;
  let execution: string | null = null;
  let refused: 'HALT_ACTIVE' | null = null;
  const digest = decision.step_digest;
  if (digest !== null && requirements !== null) {
    const info = { ...step, action: decision.action, environment: decision.environment, target: decision.target, rule_ids: [...decision.rule_ids] };
    if (decision.effect === 'allow') {
      if (requirements.rollback_required && !options.rollbackReady) awaiting = true;
      else if (options.execute !== undefined) {
        // the checks a consumption repeats that a fresh decision has not made: an active halt
        const halt = activeHaltFor(options.execute.state, decision.environment, step.incident);
        if (halt !== null) {
          refused = 'HALT_ACTIVE';
          d.push('authority.rejected', stepSubjects(step, { target: step.id }), {
            operation: 'consume',
            code: 'HALT_ACTIVE',
            target_id: step.id,
            credential: proposer.credential,
            rule_ids: [...decision.rule_ids, `halt:${halt.id}`],
          });
        } else {
          execution = ids.next('execution');
          d.push('step.executed', stepSubjects(step, { execution }), {
            step: step.id,
            proposal: step.proposal,
            execution,
            digest,
            action: decision.action,
            environment: decision.environment,
            target: decision.target,
            credential: proposer.credential,
            rule_ids: [...decision.rule_ids],
          });
        }
      } else grant = issueGrant(d, ids, now, info, digest, decision.bundle_id, requirements, null);
    } else if (decision.effect === 'require_approval') {
      request = ids.next('request');
      d.push('request.opened', stepSubjects(step, { request }), {
        request,
        step: step.id,
        proposal: step.proposal,
        digest,
        action: decision.action,
        environment: decision.environment,
        target: decision.target,
        risk: decision.risk ?? '',
        agent: proposer.agent,
        on_behalf_of: proposer.on_behalf_of,
        request_surface: proposer.surface,
        credentials: proposer.credential === null ? [] : [proposer.credential],
        requirements,
        expires_at: requirements.approval_expires_at ?? d.at,
        rule_ids: [...decision.rule_ids],
      });
    }
  }
  return {
    step: step.id,
    index: step.index,
    effect: decision.effect,
    reasons: decision.reasons,
    rule_ids: decision.rule_ids,
    digest,
    request,
    grant,
    awaiting_rollback: awaiting,
    execution,
    refused,
  };
}

/**
 * An agent proposes; each step is decided on its own (DESIGN invariant 2).
 * The caller must be the proposal's agent calling through the proposal's
 * surface: the credential, not the body, says who is asking.
 */
export function propose(state: AuthorityState, policy: CompiledPolicy | null, command: ProposeCommand, ctx: CommandContext): CommandOutput<ProposeResult> {
  const compiled = assertActive(state, policy);
  const { caller, proposal } = command;
  const d = draftsFor(state, caller, ctx.now);
  if (caller.principal !== proposal.agent || caller.surface !== proposal.surface) {
    return reject(d, caller, 'propose', 'PROPOSER_MISMATCH', 'the proposal must name the calling agent and its surface', null, ['principal:roster']);
  }

  const id = ctx.ids.next('proposal');
  const incident = proposal.incident ?? null;
  const steps: StepBody[] = proposal.steps.map((s, index) => ({
    step: stepId(id, index),
    index,
    action: s.action,
    environment: s.environment,
    target: s.target,
    params: s.params,
    rationale: s.rationale ?? null,
    expected_consequence: s.expected_consequence ?? null,
  }));
  const subjects: Record<string, string> = { proposal: id };
  if (incident !== null) subjects['incident'] = incident;
  d.push('proposal.received', subjects, {
    proposal: id,
    agent: proposal.agent,
    on_behalf_of: proposal.on_behalf_of,
    surface: proposal.surface,
    credential: caller.credential,
    incident,
    steps,
  });

  const decisions = decideProposal(compiled, proposal, decisionState(state), ctx.now);
  const proposer: Proposer = { agent: proposal.agent, on_behalf_of: proposal.on_behalf_of, surface: proposal.surface, credential: caller.credential };
  const outcomes = decisions.map((decision, index) =>
    settleDecision(d, ctx.ids, ctx.now, { id: stepId(id, index), proposal: id, index, incident }, proposer, decision, {
      redecided: null,
      rollbackReady: false,
      ...(command.execute === true ? { execute: { state } } : {}),
    }),
  );
  return { entries: d.list, result: { ok: true, proposal: id, steps: outcomes } };
}

/**
 * A recorded step as the one-step proposal it was decided as, with the
 * proposal's agent, requester, surface and incident: what a bundle change, a
 * replay diff and a shadow run decide again under another bundle.
 */
export function recordedStepProposal(step: StepRecord, proposal: ProposalRecord): Proposal {
  return {
    agent: proposal.agent,
    on_behalf_of: proposal.on_behalf_of,
    surface: proposal.surface,
    ...(proposal.incident === null ? {} : { incident: proposal.incident }),
    steps: [
      {
        action: step.action,
        environment: step.environment,
        target: step.target,
        params: step.params,
        ...(step.rationale === null ? {} : { rationale: step.rationale }),
        ...(step.expected_consequence === null ? {} : { expected_consequence: step.expected_consequence }),
      },
    ],
  };
}
