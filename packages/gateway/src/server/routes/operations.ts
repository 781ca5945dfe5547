import { createHash, timingSafeEqual } from 'node:crypto';
import type { Registry } from 'prom-client';
import { ENDPOINTS } from '@countersign/client/contract';
import { ApiError, route, type RouteSpec } from '../app.js';
import { activePolicy, type ServerContext } from '../context.js';

/**
 * Unauthenticated operational endpoints. `/metrics` carries counts and
 * latencies, no ids, tokens or payloads; it is served on the address the
 * gateway binds (loopback by default), so expose that address only to the
 * scraper (docs/http-api.md "Operations").
 */
export function operationRoutes(ctx: ServerContext, options: { readonly registry?: Registry; readonly metricsToken?: string }): RouteSpec[] {
  const routes: RouteSpec[] = [
    route(ENDPOINTS.health, {
      handler: async () => ({ status: 'ok' as const }),
    }),
    route(ENDPOINTS.ready, {
      handler: async () => {
        try {
          const head = await ctx.store.head();
          // a store that answers reads but refuses every write is not ready: the load balancer must route around it
          if (!(await ctx.reader.writable())) throw new Error('the store refuses writes');
          ctx.checkpoints.probe();
          const bundleId = ctx.reader.bundleId;
          if (bundleId === null || activePolicy(ctx) === null || ctx.feed.closed) throw new Error('not serving');
          return { status: 'ready' as const, ledger_size: head.size, bundle_id: bundleId };
        } catch {
          throw new ApiError('NOT_READY', 'the ledger store (reads or writes), the gateway key or the active bundle is not usable');
        }
      },
    }),
  ];
  const registry = options.registry;
  // a scraper's token, when the operator set one: hashed so the comparison is constant-time whatever its length
  const expected = options.metricsToken === undefined ? null : createHash('sha256').update(options.metricsToken, 'utf8').digest();
  if (registry) {
    routes.push(
      route(ENDPOINTS.metrics, {
        // the exposition format's version is the registry's to say
        stream: { contentType: registry.contentType },
        handler: async ({ request }) => {
          if (expected !== null) {
            const header = request.headers.authorization ?? '';
            const given = createHash('sha256').update(header.startsWith('Bearer ') ? header.slice(7) : '', 'utf8').digest();
            if (!timingSafeEqual(given, expected)) throw new ApiError('TOKEN_MISSING', '/metrics needs `Authorization: Bearer <COUNTERSIGN_METRICS_TOKEN>`');
          }
          return registry.metrics();
        },
      }),
    );
  }
  return routes;
}
