import { z } from 'zod';
import { ProposalStep } from '@countersign/core';
import { MAX_GRANT_TOKEN_LENGTH } from '../../service/grant-token.js';
import { route, type RouteSpec } from '../app.js';
import { callerFrom, run, type ServerContext } from '../context.js';
import { Id, IdParams, ShortText } from './bounds.js';

/** The step as the executor will run it: compared by digest with what was granted. */
const Presented = ProposalStep.pick({ action: true, environment: true, target: true, params: true });
const Execution = z.object({ execution: z.string() });

export function executionRoutes(ctx: ServerContext): RouteSpec[] {
  return [
    route({
      method: 'POST',
      path: '/v1/executions',
      summary: 'consume a grant, once: holds, halts, bundle, expiry and prerequisites are checked again now; run the step only on success',
      tag: 'executions',
      operation: 'execute',
      body: z.strictObject({ grant: z.string().min(1).max(MAX_GRANT_TOKEN_LENGTH), step: Presented.optional() }),
      response: Execution,
      status: 201,
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.execute(caller, body.step === undefined ? { token: body.grant } : { token: body.grant, step: body.step }));
        return { execution: result.execution };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/leases/:id/executions',
      summary: 'run one step an override lease lists, inside its window, at most once',
      tag: 'executions',
      operation: 'execute',
      params: IdParams,
      body: z.strictObject({ step: Id, presented: Presented.optional() }),
      response: Execution,
      status: 201,
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        const input = { lease: params.id, step: body.step, ...(body.presented === undefined ? {} : { presented: body.presented }) };
        const result = await run(ctx, () => ctx.gateway.executeWithLease(caller, input));
        return { execution: result.execution };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/executions/:id/outcome',
      summary: 'report how an execution ended: succeeded, failed or ambiguous',
      tag: 'executions',
      operation: 'report_outcome',
      params: IdParams,
      body: z.strictObject({ outcome: z.enum(['succeeded', 'failed', 'ambiguous']), detail: ShortText.optional() }),
      response: z.object({ execution: z.string(), outcome: z.enum(['succeeded', 'failed', 'ambiguous']) }),
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        const input = { execution: params.id, outcome: body.outcome, ...(body.detail === undefined ? {} : { detail: body.detail }) };
        const result = await run(ctx, () => ctx.gateway.reportOutcome(caller, input));
        return { execution: result.execution, outcome: result.outcome };
      },
    }),
  ];
}
