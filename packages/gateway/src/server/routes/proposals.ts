import type { FastifyRequest } from 'fastify';
import { ENDPOINTS } from '@countersign/client/contract';
import { decideProposal, decisionState, parseProposal, requestsForDigest, stepDigest, type Caller, type Proposal, type ProposalRecord, type RequestRecord } from '@countersign/core';
import { ApiError, route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, viewContext, type ServerContext } from '../context.js';
import { liveGrant, stepOutcomeView, stepView, type ProposalBody as ProposalAnswer } from '../views.js';

/**
 * A retried call finds its request: the caller's open request, or approved one
 * whose grant is still live, for exactly this one step (same digest under the
 * bundle in force, same `on_behalf_of`). Reads only; nothing is recorded.
 */
function resumable(ctx: ServerContext, caller: Caller, body: Proposal): RequestRecord | null {
  const policy = activePolicy(ctx);
  // a body that is not the caller's own (another agent, another surface) is proposed, and refused and recorded there
  if (policy === null || body.steps.length !== 1 || body.agent !== caller.principal || body.surface !== caller.surface) return null;
  let digest: string;
  try {
    digest = stepDigest(parseProposal(body).steps[0]!, policy.compiled.bundleId);
  } catch {
    // a step that cannot be digested is decided (and refused) by the proposal itself
    return null;
  }
  const state = ctx.reader.state;
  // the requests for this step only, oldest first (an index), not every request ever opened
  for (const record of requestsForDigest(state, digest)) {
    if (record.agent !== caller.principal || record.on_behalf_of !== body.on_behalf_of) continue;
    const step = state.steps.get(record.step);
    if ((step?.incident ?? null) !== (body.incident ?? null)) continue;
    if (record.status === 'open') return record;
    if (record.status !== 'approved' || step === undefined || step.executions.length > 0) continue;
    // approved, its grant still live (not consumed, revoked, or expired, by its status or by the clock): the retry consumes it
    const grant = liveGrant(state, step);
    if (grant !== null && ctx.clock() < Date.parse(grant.expires_at)) return record;
  }
  return null;
}

/** A recorded proposal and these of its steps as they stand now; grants only for the proposing agent. */
async function proposalView(ctx: ServerContext, record: ProposalRecord, stepIds: readonly string[], caller: Caller): Promise<ProposalAnswer> {
  const view = viewContext(ctx);
  const steps = [];
  for (const id of stepIds) {
    const step = ctx.reader.state.steps.get(id);
    if (step) steps.push(await stepView(view, step, record.agent, caller));
  }
  return {
    proposal: record.id,
    bundle_id: record.bundle_id,
    agent: record.agent,
    on_behalf_of: record.on_behalf_of,
    surface: record.surface,
    incident: record.incident,
    steps,
  };
}

export function proposalRoutes(ctx: ServerContext): RouteSpec[] {
  /** A proposal, plain or on the one-call path: the same body, answer and checks, one flag apart. */
  const propose = async (body: Proposal, request: FastifyRequest, execute: boolean, resume: boolean): Promise<ProposalAnswer> => {
    const caller = callerFrom(request);
    if (execute && resume) {
      const found = resumable(ctx, caller, body);
      if (found !== null) return resumed(found, caller);
    }
    const result = await run(ctx, () => (execute ? ctx.gateway.proposeAndExecute(caller, body) : ctx.gateway.propose(caller, body)));
    const record = ctx.reader.state.proposals.get(result.proposal);
    ctx.requestsOpened(result.steps.flatMap((s) => (s.request === null ? [] : [s.request])));
    return {
      proposal: result.proposal,
      bundle_id: record?.bundle_id ?? ctx.reader.bundleId,
      agent: record?.agent ?? caller.principal,
      on_behalf_of: record?.on_behalf_of ?? body.on_behalf_of,
      surface: record?.surface ?? caller.surface,
      incident: record?.incident ?? null,
      // the caller is the proposing agent (the core refuses any other): it gets its grants
      steps: result.steps.map((s) => stepOutcomeView(s, result.tokens, true)),
    };
  };

  /** The proposal a found request belongs to, its one step as it stands: what the first call answered, brought up to date. */
  const resumed = async (found: RequestRecord, caller: Caller): Promise<ProposalAnswer> => {
    const state = ctx.reader.state;
    const record = state.proposals.get(found.proposal);
    const step = state.steps.get(found.step);
    if (record === undefined || step === undefined) throw new ApiError('STORE_STALE', `request \`${found.id}\` has no proposal or step in this replica's state`);
    return { ...(await proposalView(ctx, record, [step.id], caller)), resumed: true };
  };

  return [
    route(ENDPOINTS.propose, { handler: ({ body, request }) => propose(body, request, false, false) }),
    route(ENDPOINTS.proposeAndExecute, { handler: ({ body, query, request }) => propose(body, request, true, query.resume === 'true') }),
    route(ENDPOINTS.proposal, {
      handler: async ({ params, request }) => {
        const caller = callerFrom(request);
        const state = ctx.reader.state;
        const record = state.proposals.get(params.id);
        if (!record) throw new ApiError('PROPOSAL_UNKNOWN', `no proposal \`${params.id}\``);
        return proposalView(ctx, record, record.steps, caller);
      },
    }),
    route(ENDPOINTS.decide, {
      handler: async ({ body }) => {
        const policy = activePolicy(ctx);
        if (policy === null) throw new ApiError('BUNDLE_NOT_LOADED', 'the active bundle is not loaded on this replica');
        const decisions = decideProposal(policy.compiled, parseProposal(body), decisionState(ctx.reader.state), ctx.clock());
        return { bundle_id: policy.compiled.bundleId, decisions: [...decisions] };
      },
    }),
  ];
}
