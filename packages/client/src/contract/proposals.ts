import { z } from 'zod';
import { Proposal, type Decision } from '@countersign/core';
import { endpoint } from './endpoint.js';
import { IdParams } from './bounds.js';

export const Effect = z.enum(['allow', 'require_approval', 'deny', 'held']);
export type Effect = z.output<typeof Effect>;

/** What became of one step of a proposal. */
export const StepResult = z.object({
  step: z.string(),
  index: z.number().int(),
  effect: Effect,
  reasons: z.array(z.string()),
  rule_ids: z.array(z.string()),
  /** The step's digest under the bundle it was decided by; null when it could not be digested. */
  digest: z.string().nullable(),
  request: z.string().nullable(),
  /** Compact JWS when the step is granted and the caller proposed it; otherwise null. */
  grant: z.string().nullable(),
  /** Allowed or approved, but the grant waits for a rollback artifact registered for this step. */
  awaiting_rollback: z.boolean(),
  /** The one-call path (`POST /v1/proposals/execute`): the execution started for an allowed step, and why one was not (`HALT_ACTIVE`). */
  execution: z.string().nullable().optional(),
  refused: z.string().nullable().optional(),
  /** Named in answers that mix steps of several proposals (re-decisions after a bundle activation) and in a proposal read back. */
  action: z.string().optional(),
  environment: z.string().optional(),
  target: z.string().optional(),
});
export type StepResult = z.output<typeof StepResult>;

export const ProposalResult = z.object({
  proposal: z.string(),
  bundle_id: z.string().nullable(),
  agent: z.string(),
  on_behalf_of: z.string(),
  surface: z.string(),
  incident: z.string().nullable(),
  /** The one-call path with `resume=true`: an earlier proposal's step, found by its digest, nothing proposed anew. */
  resumed: z.boolean().optional(),
  steps: z.array(StepResult),
});
export type ProposalResult = z.output<typeof ProposalResult>;

const isObject = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A dry run: each step as core's `decide()` judged it under the active bundle and open holds (core's `Decision`). */
export const DecisionsResult = z.object({ bundle_id: z.string(), decisions: z.array(z.custom<Decision>(isObject)) });
export type DecisionsResult = z.output<typeof DecisionsResult>;

const ResumeQuery = z.strictObject({
  resume: z.enum(['true', 'false']).optional(),
});

export const PROPOSAL_ENDPOINTS = {
  propose: endpoint({
    method: 'POST',
    path: '/v1/proposals',
    summary: 'propose steps: each is decided on its own; allowed steps come back with a grant, others with a request id or their refusal codes',
    tag: 'proposals',
    operation: 'propose',
    // the proposal arrives from an agent: attacker-controlled, validated by core's schema before anything reads it
    body: Proposal,
    response: ProposalResult,
    status: 201,
  }),
  /** The one-call path: propose, and execute at once each step decided `allow`; each such step comes back with its `execution`. */
  proposeAndExecute: endpoint({
    method: 'POST',
    path: '/v1/proposals/execute',
    summary:
      'the one-call path: propose, and execute at once each step decided allow (recorded as step.executed, no grant token, no second call); other steps are settled as by POST /v1/proposals; report each outcome on its execution. With `resume=true`, a one-step proposal whose step has an open request of the caller (or an approved one not yet executed) answers with that request instead of proposing again (`resumed: true`), recording nothing',
    tag: 'proposals',
    operation: 'propose',
    body: Proposal,
    query: ResumeQuery,
    response: ProposalResult,
    status: 201,
  }),
  proposal: endpoint({
    method: 'GET',
    path: '/v1/proposals/{id}',
    summary: 'a proposal and what became of each of its steps; grants are shown to the proposing agent only',
    tag: 'proposals',
    operation: 'status',
    params: IdParams,
    response: ProposalResult,
  }),
  /** Dry run: each step decided under the active bundle and open holds; records nothing, grants nothing. */
  decide: endpoint({
    method: 'POST',
    path: '/v1/decisions',
    summary: 'dry run: decide each step of a proposal under the active bundle and the open holds; records nothing, grants nothing',
    tag: 'proposals',
    operation: 'decide',
    body: Proposal,
    response: DecisionsResult,
  }),
};
