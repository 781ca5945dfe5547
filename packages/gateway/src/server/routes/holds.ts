import { ENDPOINTS } from '@countersign/client/contract';
import { z } from 'zod';
import { route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, type ServerContext } from '../context.js';
import { defined, Digest, Id, IdParams, Names, ShortText } from './bounds.js';
import { holdsRole } from './authority-of.js';

const HoldAnswer = z.object({ hold: z.string(), revoked_leases: z.array(z.string()) });

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
    route({
      method: 'POST',
      path: '/v1/holds',
      summary: 'open a hold (kill switch): matching mutations are held and grants in scope suspended; read-only diagnostics continue',
      tag: 'holds',
      operation: 'hold_open',
      body: z.strictObject({
        trip_gate: Id,
        scope: z.strictObject({ environments: Names.optional(), classes: Names.optional(), actions: Names.optional(), targets: Names.optional() }),
        evidence_hash: Digest,
        incident: Id.optional(),
        reason: ShortText.optional(),
      }),
      response: HoldAnswer,
      status: 201,
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        const { trip_gate, evidence_hash, ...rest } = body;
        const result = await run(ctx, () => ctx.gateway.openHold(caller, { trip_gate, evidence_hash, ...defined(rest), scope: defined(body.scope) }));
        return { hold: result.hold, revoked_leases: [...result.revoked_leases] };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/holds/:id/evidence',
      summary: 'add evidence to an open hold; revokes every live override lease granted under it',
      tag: 'holds',
      operation: 'hold_evidence',
      params: IdParams,
      body: z.strictObject({ evidence_hash: Digest }),
      response: HoldAnswer,
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.addEvidence(caller, { hold: params.id, evidence_hash: body.evidence_hash }));
        return { hold: result.hold, revoked_leases: [...result.revoked_leases] };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/holds/:id/lift',
      summary: 'lift a hold (only the roles the policy names)',
      tag: 'holds',
      operation: 'hold_lift',
      params: IdParams,
      body: z.strictObject({ reason: ShortText.optional() }),
      response: HoldAnswer,
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.liftHold(caller, { hold: params.id, ...defined(body) }));
        return { hold: result.hold, revoked_leases: [...result.revoked_leases] };
      },
    }),
  ];
}
