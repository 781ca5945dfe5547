import { ENDPOINTS, type OverrideView } from '@countersign/client/contract';
import { z } from 'zod';
import type { OverrideRecord } from '@countersign/core';
import { ApiError, route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, type ServerContext } from '../context.js';
import { defined, Digest, Id, IdParams, Instant, LongText, Names } from './bounds.js';
import { holdsRole } from './authority-of.js';

const Claim = {
  role: z.enum(['a', 'b', 'extra']),
  signer: Id,
  /** A roster key's id, or a passkey's credential id. */
  key_id: Id,
  surface: Id,
  signed_at: Instant,
  body_hash: Digest,
};
/** A roster key's Ed25519 signature (`kind` absent or `key`), or a registered passkey's WebAuthn assertion (issue 14). */
const Signature = z.union([
  z.strictObject({ ...Claim, kind: z.literal('key').optional(), signature: z.string().min(1).max(200) }),
  z.strictObject({
    ...Claim,
    kind: z.literal('passkey'),
    // an RS256 signature of a 4096-bit key is 683 base64url characters
    signature: z.string().min(1).max(1_024),
    authenticator_data: z.string().min(1).max(2_048),
    client_data_json: z.string().min(1).max(4_096),
  }),
]);

function overrideView(ctx: ServerContext, record: OverrideRecord, principal: string): OverrideView {
  const rules = activePolicy(ctx)?.loaded.bundle.overrides;
  const seats: ('a' | 'b' | 'extra')[] = [];
  if (rules !== undefined) {
    if (holdsRole(ctx, principal, rules.signer_a_roles)) seats.push('a');
    if (holdsRole(ctx, principal, rules.signer_b_roles)) seats.push('b');
    if (holdsRole(ctx, principal, rules.budgets.flatMap((b) => b.extra_signer_roles))) seats.push('extra');
  }
  return {
    id: record.id,
    status: record.status,
    body: { ...record.body },
    body_hash: record.body_hash,
    hold: record.hold,
    step_digests: [...record.step_digests],
    incident: record.incident,
    requester: record.requester,
    request_surface: record.surface,
    requested_at: record.requested_at,
    decided_at: record.decided_at,
    lease: record.lease,
    codes: [...record.codes],
    you_may_sign: seats,
  };
}

export function overrideRoutes(ctx: ServerContext): RouteSpec[] {
  return [
    route(ENDPOINTS.listOverrides, {
      handler: async ({ request }) => {
        const caller = callerFrom(request);
        // bounded: the first 200 waiting
        const waiting = [...ctx.reader.state.overrides.values()].filter((o) => o.status === 'requested').slice(0, 200);
        return { overrides: waiting.map((o) => overrideView(ctx, o, caller.principal)) };
      },
    }),
    route(ENDPOINTS.override, {
      handler: async ({ params, request }) => {
        const caller = callerFrom(request);
        const record = ctx.reader.state.overrides.get(params.id);
        if (record === undefined) throw new ApiError('OVERRIDE_UNKNOWN', `no override \`${params.id}\``);
        return overrideView(ctx, record, caller.principal);
      },
    }),
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
