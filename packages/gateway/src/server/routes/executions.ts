import { ENDPOINTS } from '@countersign/client/contract';
import { route, type RouteSpec } from '../app.js';
import { callerFrom, run, type ServerContext } from '../context.js';

export function executionRoutes(ctx: ServerContext): RouteSpec[] {
  return [
    route(ENDPOINTS.execute, {
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.execute(caller, body.step === undefined ? { token: body.grant } : { token: body.grant, step: body.step }));
        return { execution: result.execution };
      },
    }),
    route(ENDPOINTS.executeWithLease, {
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        const input = { lease: params.id, step: body.step, ...(body.presented === undefined ? {} : { presented: body.presented }) };
        const result = await run(ctx, () => ctx.gateway.executeWithLease(caller, input));
        return { execution: result.execution };
      },
    }),
    route(ENDPOINTS.reportOutcome, {
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        const input = { execution: params.id, outcome: body.outcome, ...(body.detail === undefined ? {} : { detail: body.detail }) };
        const result = await run(ctx, () => ctx.gateway.reportOutcome(caller, input));
        return { execution: result.execution, outcome: result.outcome };
      },
    }),
  ];
}
