import { ENDPOINTS } from '@countersign/client/contract';
import { route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, type ServerContext } from '../context.js';
import { defined } from './bounds.js';
import { holdsRole } from './authority-of.js';

export function holdRoutes(ctx: ServerContext): RouteSpec[] {
  return [
    route(ENDPOINTS.listHolds, {
      handler: async ({ request }) => {
        const caller = callerFrom(request);
        const bundle = activePolicy(ctx)?.loaded.bundle;
        const state = ctx.reader.state;
        const holds = [...state.holds.values()].filter((h) => h.status === 'open');
        const open = holdsRole(ctx, caller.principal, bundle?.holds.open_roles ?? []);
        return {
          holds: holds.map((h) => ({
            id: h.id,
            trip_gate: h.trip_gate,
            scope: { environments: [...h.scope.environments], classes: [...h.scope.classes], actions: [...h.scope.actions], targets: [...h.scope.targets] },
            evidence: [...h.evidence],
            incident: h.incident,
            reason: h.reason,
            opened_by: h.opened_by,
            opened_at: h.opened_at,
          })),
          trip_gates: (bundle?.holds.trip_gates ?? []).map((g) => ({ id: g.id, description: g.description })),
          you_may: { open, add_evidence: open, lift: holdsRole(ctx, caller.principal, bundle?.holds.lift_roles ?? []) },
        };
      },
    }),
    route(ENDPOINTS.openHold, {
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        const { trip_gate, evidence_hash, ...rest } = body;
        const result = await run(ctx, () => ctx.gateway.openHold(caller, { trip_gate, evidence_hash, ...defined(rest), scope: defined(body.scope) }));
        return { hold: result.hold, revoked_leases: [...result.revoked_leases] };
      },
    }),
    route(ENDPOINTS.addEvidence, {
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.addEvidence(caller, { hold: params.id, evidence_hash: body.evidence_hash }));
        return { hold: result.hold, revoked_leases: [...result.revoked_leases] };
      },
    }),
    route(ENDPOINTS.liftHold, {
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.liftHold(caller, { hold: params.id, ...defined(body) }));
        return { hold: result.hold, revoked_leases: [...result.revoked_leases] };
      },
    }),
  ];
}
