import { z } from 'zod';
import { route, type RouteSpec } from '../app.js';
import { callerFrom, run, type ServerContext } from '../context.js';
import { defined, Digest, Id, IdParams, Instant, LongText, Names } from './bounds.js';

const Signature = z.strictObject({
  role: z.enum(['a', 'b', 'extra']),
  signer: Id,
  key_id: Id,
  surface: Id,
  signed_at: Instant,
  body_hash: Digest,
  signature: z.string().min(1).max(200),
});

export function overrideRoutes(ctx: ServerContext): RouteSpec[] {
  return [
    route({
      method: 'POST',
      path: '/v1/overrides',
      summary: 'request an override lease; the answer carries the canonical body the two signers sign on their own machines',
      tag: 'overrides',
      operation: 'override_request',
      body: z.strictObject({
        hold: Id.nullable(),
        step_digests: z.array(Digest).min(1).max(64),
        trip_gate_ack: z.string().max(32).nullable(),
        valid_from: Instant,
        valid_to: Instant,
        scope: z.strictObject({ environments: Names, actions: Names, targets: Names }),
        reason_code: z.string().min(1).max(64),
        reason_text: LongText,
        rollback_artifact: Id,
        incident_class: Id.optional(),
      }),
      response: z.object({ id: z.string(), override: z.string(), body: z.record(z.string(), z.unknown()), body_hash: z.string() }),
      status: 201,
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        const { incident_class, ...rest } = body;
        const result = await run(ctx, () => ctx.gateway.requestOverride(caller, { ...rest, ...defined({ incident_class }) }));
        return { id: result.override, override: result.override, body: { ...result.body }, body_hash: result.body_hash };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/overrides/:id/submit',
      summary: 'submit the signatures of an override: every gate (O1-O8) is checked and every attempt recorded; a lease on success',
      tag: 'overrides',
      operation: 'override_submit',
      params: IdParams,
      body: z.strictObject({ signatures: z.array(Signature).min(1).max(8) }),
      response: z.object({
        override: z.string(),
        lease: z.string(),
        valid_from: z.string(),
        valid_to: z.string(),
        step_digests: z.array(z.string()),
        evidence_hash: z.string(),
      }),
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.submitOverride(caller, { override: params.id, signatures: body.signatures }));
        return {
          override: result.override,
          lease: result.lease,
          valid_from: result.valid_from,
          valid_to: result.valid_to,
          step_digests: [...result.step_digests],
          evidence_hash: result.evidence_hash,
        };
      },
    }),
  ];
}
