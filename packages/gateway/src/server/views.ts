import type { KeyObject } from 'node:crypto';
import type { z } from 'zod';
import type { ListedRequestView, ProposalResult, RequestView, StepResult } from '@countersign/client/contract';
import { awaitsRollback, grantTokenClaims, type AuthorityState, type Caller, type GrantRecord, type RequestRecord, type StepOutcome, type StepRecord } from '@countersign/core';
import { signGrantToken } from '../service/grant-token.js';

/**
 * What the HTTP API shows of the authority state: approval requests,
 * proposals and their steps, built from the state in the contract's shapes
 * (`RequestView`, `ProposalResult`, `StepResult` of
 * @countersign/client/contract, ADR 005).
 *
 * A grant is a bearer token for one execution. It is shown only to the
 * principal that proposed the step (the agent that will execute it), never to
 * approvers or readers: whoever can read a request must not thereby be able
 * to run it. The token is re-signed from the ledger's grant record; EdDSA
 * signatures are deterministic (RFC 8032 §5.1.6), so it is byte for byte the
 * token issued when the grant was recorded.
 */

export type StepResultBody = z.input<typeof StepResult>;
export type ProposalBody = z.input<typeof ProposalResult>;
export type RequestBody = z.input<typeof RequestView>;
export type ListedRequestBody = z.input<typeof ListedRequestView>;

export interface ViewContext {
  readonly state: AuthorityState;
  readonly key: KeyObject;
  readonly keyId: string;
}

/** The grant's compact JWS, re-signed from its ledger record. */
export function grantToken(grant: GrantRecord, key: KeyObject, keyId: string): Promise<string> {
  return signGrantToken(grantTokenClaims(grant), key, keyId);
}

/** The step's grant that can still be consumed (issued, under the step's bundle), if any. */
export function liveGrant(state: AuthorityState, step: StepRecord): GrantRecord | null {
  for (let i = step.grants.length - 1; i >= 0; i -= 1) {
    const grant = state.grants.get(step.grants[i]!);
    if (grant && grant.status === 'issued' && grant.bundle_id === step.bundle_id) return grant;
  }
  return null;
}


/** The step's registered rollback, as people read it: what, on which target, its id and state. */
export function rollbackPlan(state: AuthorityState, step: StepRecord | undefined): string | null {
  if (!step || step.artifact === null) return null;
  const artifact = state.artifacts.get(step.artifact);
  if (!artifact) return null;
  return `${artifact.action} on ${artifact.target} (${artifact.id}, ${artifact.status})`;
}

async function visibleGrant(ctx: ViewContext, step: StepRecord | undefined, agent: string, caller: Caller): Promise<string | null> {
  if (!step || caller.principal !== agent) return null;
  const grant = liveGrant(ctx.state, step);
  return grant === null ? null : grantToken(grant, ctx.key, ctx.keyId);
}

export async function requestView(ctx: ViewContext, request: RequestRecord, caller: Caller): Promise<RequestBody> {
  const step = ctx.state.steps.get(request.step);
  return {
    id: request.id,
    status: request.status,
    digest: request.digest,
    bundle_id: request.bundle_id,
    proposal: request.proposal,
    step: request.step,
    action: request.action,
    environment: request.environment,
    target: request.target,
    params: step?.params ?? {},
    risk: request.risk,
    class: step?.class ?? null,
    rationale: step?.rationale ?? null,
    expected_consequence: step?.expected_consequence ?? null,
    rollback_plan: rollbackPlan(ctx.state, step),
    incident: step?.incident ?? null,
    agent: request.agent,
    on_behalf_of: request.on_behalf_of,
    surface: request.surface,
    requirements: {
      quorum: request.requirements.quorum.map((f) => ({ roles: [...f.roles], count: f.count })),
      surfaces: [...request.requirements.surfaces],
      attestation: request.requirements.attestation,
    },
    approvals: request.approvals.map((a) => ({
      approver: a.approver,
      decision: a.decision,
      surface: a.surface,
      attestation: a.attestation,
      key_id: a.key_id,
      signed_at: a.signed_at,
    })),
    opened_at: request.opened_at,
    expires_at: request.expires_at,
    closed_at: request.closed_at,
    grant: request.status === 'approved' ? await visibleGrant(ctx, step, request.agent, caller) : null,
    awaiting_rollback: step === undefined ? false : awaitsRollback(ctx.state, step),
  };
}

/** A step as it stands in the state. */
export async function stepView(ctx: ViewContext, step: StepRecord, agent: string, caller: Caller): Promise<StepResultBody> {
  return {
    step: step.id,
    index: step.index,
    effect: step.effect,
    reasons: [...step.reasons],
    rule_ids: [...step.rule_ids],
    digest: step.digest,
    request: step.request,
    grant: await visibleGrant(ctx, step, agent, caller),
    awaiting_rollback: awaitsRollback(ctx.state, step),
    action: step.action,
    environment: step.environment,
    target: step.target,
  };
}

/**
 * A step as a command just decided it, with the token the command issued.
 * `tokens` holds only what this call signed; the caller is the proposer here.
 */
export function stepOutcomeView(outcome: StepOutcome, tokens: Readonly<Record<string, string>>, showGrant: boolean): StepResultBody {
  const jti = outcome.grant?.jti;
  return {
    step: outcome.step,
    index: outcome.index,
    effect: outcome.effect,
    reasons: [...outcome.reasons],
    rule_ids: [...outcome.rule_ids],
    digest: outcome.digest,
    request: outcome.request,
    grant: showGrant && jti !== undefined ? (tokens[jti] ?? null) : null,
    awaiting_rollback: outcome.awaiting_rollback,
    ...(outcome.execution === null && outcome.refused === null ? {} : { execution: outcome.execution, refused: outcome.refused }),
  };
}
