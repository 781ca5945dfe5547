import { ENDPOINTS, type OverrideView } from '@countersign/client/contract';
import type { OverrideRecord } from '@countersign/core';
import { ApiError, route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, type ServerContext } from '../context.js';
import { defined } from './bounds.js';
import { holdsRole } from './authority-of.js';


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
    route(ENDPOINTS.requestOverride, {
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        const { incident_class, ...rest } = body;
        const result = await run(ctx, () => ctx.gateway.requestOverride(caller, { ...rest, ...defined({ incident_class }) }));
        return { id: result.override, override: result.override, body: { ...result.body }, body_hash: result.body_hash };
      },
    }),
    route(ENDPOINTS.submitOverride, {
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
