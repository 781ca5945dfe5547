import { z } from 'zod';
import { route, type RouteSpec } from '../app.js';
import { callerFrom, run, type ServerContext } from '../context.js';
import { defined, Digest, Id, IdParams, Names, ShortText } from './bounds.js';

const HoldAnswer = z.object({ hold: z.string(), revoked_leases: z.array(z.string()) });

export function holdRoutes(ctx: ServerContext): RouteSpec[] {
  return [
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
