import { ENDPOINTS } from '@countersign/client/contract';
import { route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, type ServerContext } from '../context.js';
import { defined } from './bounds.js';
import { holdsRole } from './authority-of.js';


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
    route(ENDPOINTS.halt, {
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.halt(caller, { scope: body.scope, ...defined({ reason: body.reason }) }));
        return { halt: result.halt, revoked_grants: [...result.revoked_grants], revoked_leases: [...result.revoked_leases] };
      },
    }),
    route(ENDPOINTS.liftHalt, {
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.liftHalt(caller, { halt: params.id, ...defined(body) }));
        return { halt: result.halt, revoked_grants: [...result.revoked_grants], revoked_leases: [...result.revoked_leases] };
      },
    }),
  ];
}
