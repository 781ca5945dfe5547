import { ENDPOINTS } from '@countersign/client/contract';
import { loadPolicy, MAX_POLICY_BYTES } from '@countersign/core';
import { ApiError, route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, servedPolicy, type ServerContext } from '../context.js';
import { stepOutcomeView } from '../views.js';

/** A bundle travels as YAML text inside JSON: escaping can double it, so the body may be larger than the bundle. */
export const BUNDLE_BODY_LIMIT_BYTES = 2 * MAX_POLICY_BYTES + 1_024;

export function bundleRoutes(ctx: ServerContext): RouteSpec[] {
  return [
    route(ENDPOINTS.policy, {
      handler: async () => {
        const served = activePolicy(ctx);
        if (served === null) throw new ApiError('BUNDLE_NOT_LOADED', 'the active bundle is not loaded on this replica');
        const { bundle, bundleId } = served.loaded;
        return {
          bundle_id: bundleId,
          name: bundle.name,
          environments: [...bundle.environments],
          surfaces: bundle.surfaces.map((s) => s.id),
          actions: bundle.actions.map((a) => ({ id: a.id, class: a.class })),
        };
      },
    }),
    route(ENDPOINTS.activateBundle, {
      bodyLimit: BUNDLE_BODY_LIMIT_BYTES,
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        // validated in full (schema and semantics) before anything is recorded: POLICY_PARSE_ERROR or POLICY_INVALID
        const served = servedPolicy(loadPolicy(body.policy, 'request body'));
        const result = await run(ctx, () => ctx.gateway.activateBundle(caller, served.compiled));
        ctx.requestsOpened(result.redecided.flatMap((s) => (s.request === null ? [] : [s.request])));
        return {
          bundle_id: result.bundle_id,
          previous_bundle_id: result.previous_bundle_id,
          voided_requests: [...result.voided_requests],
          revoked_grants: [...result.revoked_grants],
          revoked_leases: [...result.revoked_leases],
          // the activator is not the proposer of these steps: their grants go to their agents through status
          redecided: result.redecided.map((s) => stepOutcomeView(s, result.tokens, false)),
        };
      },
    }),
  ];
}
