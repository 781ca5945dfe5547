import { ENDPOINTS } from '@countersign/client/contract';
import { route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, type ServerContext } from '../context.js';
import { holdsRole } from './authority-of.js';

export function rollbackRoutes(ctx: ServerContext): RouteSpec[] {
  return [
    route(ENDPOINTS.listRollbacks, {
      handler: async ({ request }) => {
        const caller = callerFrom(request);
        const authority = activePolicy(ctx)?.loaded.bundle.rollback;
        const mayRun = authority !== undefined && holdsRole(ctx, caller.principal, authority.roles);
        // bounded: the newest 200
        const artifacts = [...ctx.reader.state.artifacts.values()].reverse().slice(0, 200);
        return {
          artifacts: artifacts.map((a) => ({
            id: a.id,
            reverses_step: a.reverses_step,
            action: a.action,
            environment: a.environment,
            target: a.target,
            digest: a.digest,
            status: a.status,
            registered_by: a.registered_by,
            registered_at: a.registered_at,
            execution: a.execution,
            you_may_run: mayRun && a.status === 'ready' && (authority?.environments.includes(a.environment) ?? false),
          })),
        };
      },
    }),
    route(ENDPOINTS.registerRollback, {
      handler: async ({ body, request }) => {
        const caller = callerFrom(request);
        const { params, ...rest } = body;
        const result = await run(ctx, () => ctx.gateway.registerRollback(caller, { ...rest, ...(params === undefined ? {} : { params }) }));
        const jti = result.grant?.jti;
        const proposer = result.grant ? ctx.reader.state.proposals.get(result.grant.proposal)?.agent : undefined;
        return {
          artifact: result.artifact,
          digest: result.digest,
          grant: jti !== undefined && proposer === caller.principal ? (result.tokens[jti] ?? null) : null,
          step_granted: jti !== undefined,
        };
      },
    }),
    route(ENDPOINTS.rollback, {
      handler: async ({ params, request }) => {
        const caller = callerFrom(request);
        const result = await run(ctx, () => ctx.gateway.runRollback(caller, { artifact: params.id }));
        return { artifact: result.artifact, execution: result.execution, revoked_leases: [...result.revoked_leases] };
      },
    }),
  ];
}
