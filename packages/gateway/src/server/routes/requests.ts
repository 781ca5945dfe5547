import { PassThrough } from 'node:stream';
import { ENDPOINTS, RequestView } from '@countersign/client/contract';
import { mayApprove, type ApprovalEligibility, type AuthorityState, type Caller, type RequestRecord } from '@countersign/core';
import type { AttestationInput } from '../../service/gateway.js';
import { ApiError, route, type RouteSpec } from '../app.js';
import { activePolicy, callerFrom, run, viewContext, type ServerContext } from '../context.js';
import { requestView, type RequestBody } from '../views.js';

/** A long poll is held at most this long, whatever `wait` asks (docs/http-api.md "Waiting"). */
export const MAX_WAIT_MS = 60_000;
/** An event stream is closed after this long; the client reconnects. */
export const MAX_STREAM_MS = 10 * 60_000;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEP_ALIVE_MS = 15_000;

/** A page of the request list holds this many at most; `limit` asks for fewer. */
export const MAX_LIST_LIMIT = 200;

function waitMs(wait: string | undefined): number {
  if (wait === undefined) return 0;
  const ms = wait.endsWith('ms') ? Number(wait.slice(0, -2)) : Number(wait.replace(/s$/, '')) * 1_000;
  return Math.min(MAX_WAIT_MS, ms);
}

/** Nothing more will happen without someone acting: decided, and if approved, granted (or waiting for nothing). */
function settled(view: RequestBody): boolean {
  return view.status !== 'open' && !(view.status === 'approved' && view.awaiting_rollback);
}

function requestOf(ctx: ServerContext, id: string): RequestRecord {
  const record = ctx.reader.state.requests.get(id);
  if (!record) throw new ApiError('REQUEST_UNKNOWN', `no request \`${id}\``);
  return record;
}

function view(ctx: ServerContext, id: string, caller: Caller): Promise<RequestBody> {
  return requestView(viewContext(ctx), requestOf(ctx, id), caller);
}

/**
 * The requests a listing reads, in the order they were opened, after
 * `cursor` when there is one (a request the caller checked exists). Open
 * ones only (the default, what an approver's queue asks for) come from the
 * open index instead of every request ever opened, unless the cursor names
 * one decided since: then every request is read, to find where to go on
 * from. Ids are skipped up to the cursor without reading their records.
 */
function* listed(state: AuthorityState, statuses: ReadonlySet<string>, cursor: string | undefined): Iterable<RequestRecord> {
  const openOnly = statuses.size === 1 && statuses.has('open');
  const ids = openOnly && (cursor === undefined || state.index.openRequests.has(cursor)) ? state.index.openRequests : state.requests.keys();
  let started = cursor === undefined;
  for (const id of ids) {
    if (!started) {
      started = id === cursor;
      continue;
    }
    const record = state.requests.get(id);
    if (record !== undefined) yield record;
  }
}

export function requestRoutes(ctx: ServerContext): RouteSpec[] {
  const decide = (decision: 'approve' | 'deny'): RouteSpec =>
    route(decision === 'approve' ? ENDPOINTS.approve : ENDPOINTS.deny, {
      handler: async ({ params, body, request }) => {
        const caller = callerFrom(request);
        if (body.statement.request !== params.id) {
          throw new ApiError('PATH_MISMATCH', `the statement is for request \`${body.statement.request}\`, not \`${params.id}\``);
        }
        const attestation: AttestationInput = body.attestation.kind === 'gateway' ? { kind: 'gateway' } : body.attestation;
        const input = { statement: body.statement, attestation };
        const result = await run(ctx, () => (decision === 'approve' ? ctx.gateway.approve(caller, input) : ctx.gateway.deny(caller, input)));
        return {
          ...(await view(ctx, result.request, caller)),
          decision: result.decision,
          quorum_met: result.quorum_met,
          remaining: result.remaining.map((r) => ({ factor: r.factor, roles: [...r.roles], needed: r.needed })),
        };
      },
    });

  return [
    route(ENDPOINTS.listRequests, {
      handler: async ({ query, request }) => {
        const caller = callerFrom(request);
        const limit = Math.min(MAX_LIST_LIMIT, Math.max(1, query.limit === undefined ? 50 : Number(query.limit)));
        const statuses = new Set(query.status === undefined ? ['open'] : query.status.split(','));
        // an agent lists its own requests only (a human reads any, as by id)
        const onlyAgent = activePolicy(ctx)?.roster.get(caller.principal)?.kind === 'agent' ? caller.principal : undefined;
        const state = ctx.reader.state;
        const policy = ctx.reader.policy;
        const now = Date.now();
        // one verdict per request, by the rules the approve command enforces, judged at one instant
        const verdicts = new Map<string, ApprovalEligibility>();
        const verdict = (record: RequestRecord): ApprovalEligibility => {
          let known = verdicts.get(record.id);
          if (known === undefined) {
            known = mayApprove(state, policy, caller, record, now);
            verdicts.set(record.id, known);
          }
          return known;
        };
        // a cursor naming no request is refused before anything is read
        if (query.cursor !== undefined && !state.requests.has(query.cursor)) throw new ApiError('CURSOR_UNKNOWN', `no request \`${query.cursor}\` to continue after`);
        const page: RequestRecord[] = [];
        let next: string | null = null;
        for (const record of listed(state, statuses, query.cursor)) {
          if (!statuses.has(record.status)) continue;
          if (onlyAgent !== undefined && record.agent !== onlyAgent) continue;
          if (query.action !== undefined && record.action !== query.action) continue;
          if (query.environment !== undefined && record.environment !== query.environment) continue;
          if (query.target !== undefined && record.target !== query.target) continue;
          if (query.digest !== undefined && record.digest !== query.digest) continue;
          if (query.risk !== undefined && record.risk !== query.risk) continue;
          if (query.incident !== undefined && (state.steps.get(record.step)?.incident ?? null) !== query.incident) continue;
          if (query.approvable_by === 'me' && !verdict(record).eligible) continue;
          if (page.length === limit) {
            next = page[page.length - 1]!.id;
            break;
          }
          page.push(record);
        }
        const views = await Promise.all(
          page.map(async (record) => {
            const { eligible, reasons } = verdict(record);
            return { ...(await requestView(viewContext(ctx), record, caller)), approvable: { by_you: eligible, reasons: [...reasons] } };
          }),
        );
        return { requests: views, next_cursor: next };
      },
    }),
    route(ENDPOINTS.status, {
      handler: async ({ params, query, request }) => {
        const caller = callerFrom(request);
        const deadline = Date.now() + waitMs(query.wait);
        for (;;) {
          const current = await view(ctx, params.id, caller);
          const remaining = deadline - Date.now();
          if (settled(current) || remaining <= 0 || ctx.feed.closed) return current;
          await ctx.feed.next(remaining);
        }
      },
    }),
    route(ENDPOINTS.events, {
      handler: async ({ params, request, reply }) => {
        const caller = callerFrom(request);
        requestOf(ctx, params.id);
        void reply.header('cache-control', 'no-cache').header('x-accel-buffering', 'no');
        const stream = new PassThrough();
        let open = true;
        request.raw.once('close', () => {
          open = false;
          ctx.feed.changed();
        });
        void (async () => {
          const started = Date.now();
          let last = '';
          let written = started;
          let id = 0;
          stream.write('retry: 2000\n\n');
          while (open) {
            const current = RequestView.parse(await view(ctx, params.id, caller));
            const json = JSON.stringify(current);
            if (json !== last) {
              id += 1;
              stream.write(`event: request\nid: ${id}\ndata: ${json}\n\n`);
              last = json;
              written = Date.now();
            } else if (Date.now() - written >= KEEP_ALIVE_MS) {
              stream.write(': keep-alive\n\n');
              written = Date.now();
            }
            if (settled(current) || ctx.feed.closed || Date.now() - started >= MAX_STREAM_MS) break;
            await ctx.feed.next(KEEP_ALIVE_MS);
          }
        })()
          .catch((err: unknown) => request.log.error({ err }, 'request event stream failed'))
          .finally(() => stream.end());
        return stream;
      },
    }),
    decide('approve'),
    decide('deny'),
  ];
}
