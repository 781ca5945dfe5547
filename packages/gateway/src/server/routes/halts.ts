import { ENDPOINTS } from '@countersign/client/contract';
import { z } from 'zod';
import { route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, type ServerContext } from '../context.js';
import { defined, Id, IdParams, ShortText } from './bounds.js';
import { holdsRole } from './authority-of.js';

const Scope = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('environment'), environment: Id }),
  z.strictObject({ kind: z.literal('incident'), incident: Id }),
  z.strictObject({ kind: z.literal('all') }),
]);
const HaltAnswer = z.object({ halt: z.string(), revoked_grants: z.array(z.string()), revoked_leases: z.array(z.string()) });

export function haltRoutes(ctx: ServerContext): RouteSpec[] {
  return [
    route(ENDPOINTS.listHalts, {
      handler: async ({ request }) => {
        const caller = callerFrom(request);
        const bundle = activePolicy(ctx)?.loaded.bundle;
        const halts = [...ctx.reader.state.halts.values()].filter((h) => h.status === 'active');
        return {
          halts: halts.map((h) => ({ id: h.id, scope: { ...h.scope }, reason: h.reason, issued_by: h.issued_by, issued_at: h.issued_at })),
          environments: [...(bundle?.environments ?? [])],
          you_may: { halt: holdsRole(ctx, caller.principal, bundle?.halt.roles ?? []) },
        };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/halts',
      summary: 'suspend every grant and lease in a scope at once (halt authority, one key)',
      tag: 'halts',
      operation: 'halt',
      body: z.strictObject({ scope: Scope, reason: ShortText.optional() }),
      response: HaltAnswer,
      status: 201,
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.halt(caller, { scope: body.scope, ...defined({ reason: body.reason }) }));
        return { halt: result.halt, revoked_grants: [...result.revoked_grants], revoked_leases: [...result.revoked_leases] };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/halts/:id/lift',
      summary: 'lift a halt',
      tag: 'halts',
      operation: 'halt_lift',
      params: IdParams,
      body: z.strictObject({ reason: ShortText.optional() }),
      response: HaltAnswer,
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.liftHalt(caller, { halt: params.id, ...defined(body) }));
        return { halt: result.halt, revoked_grants: [...result.revoked_grants], revoked_leases: [...result.revoked_leases] };
      },
    }),
  ];
}
