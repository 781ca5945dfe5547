import type { CountersignClient, RequestFilter, RequestPage, RequestState } from '@countersign/client';
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';
import { EXIT } from '../exit.js';
import { clientAction, connect, connectionOptions, EXIT_CODES_HELP, type ConnectionFlags } from './connection.js';
import { table, text, type Outcome } from './output.js';

type ListedRequest = RequestPage['requests'][number];

const STATES: readonly RequestState[] = ['open', 'approved', 'denied', 'expired', 'voided'];
/** The gateway's largest page (MAX_LIST_LIMIT in server/routes/requests.ts). */
const PAGE = 200;
const DEFAULT_LIMIT = 1_000;
/** However many are asked for, the listing stops here: a bounded number of pages. */
const MAX_LIMIT = 10_000;

interface RequestsFlags extends ConnectionFlags {
  readonly mine?: boolean;
  readonly status?: string;
  readonly env?: string;
  readonly incident?: string;
  readonly risk?: string;
  readonly limit?: string;
}

function statusesOf(flag: string | undefined): RequestState[] | undefined {
  if (flag === undefined) return undefined;
  const given = flag.split(',').map((s) => s.trim());
  for (const s of given) {
    if (!(STATES as readonly string[]).includes(s)) {
      throw new GatewayError('USAGE', `\`--status\` takes ${STATES.join(', ')}, comma-separated; got \`${s}\``);
    }
  }
  return given as RequestState[];
}

function limitOf(flag: string | undefined): number {
  if (flag === undefined) return DEFAULT_LIMIT;
  if (!/^\d{1,5}$/.test(flag) || Number(flag) < 1 || Number(flag) > MAX_LIMIT) {
    throw new GatewayError('USAGE', `\`--limit\` is a whole number from 1 to ${MAX_LIMIT}; got \`${flag}\``);
  }
  return Number(flag);
}

/** A span for a table cell: the largest whole unit, `45s`, `12m`, `3h`, `2d`. */
export function span(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1_000));
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3_600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** `in 12m` for an open request, `-` for one already decided, `lapsed` past its window. */
function expiry(view: ListedRequest, now: number): string {
  if (view.status !== 'open') return '-';
  const left = Date.parse(view.expires_at) - now;
  return Number.isNaN(left) || left <= 0 ? 'lapsed' : `in ${span(left)}`;
}

/** `yes`, or `no:` and the approval refusal codes; `-` for a request no one can decide any more. */
function yours(view: ListedRequest): string {
  if (view.status !== 'open') return '-';
  const verdict = view.approvable as ListedRequest['approvable'] | undefined;
  if (verdict === undefined) return '?';
  return verdict.by_you ? 'yes' : `no: ${verdict.reasons.join(', ')}`;
}

export function requestsTable(views: readonly ListedRequest[], now: number): string {
  return table(
    ['ID', 'STATUS', 'ACTION', 'ENV', 'TARGET', 'RISK', 'AGE', 'EXPIRES', 'YOU MAY APPROVE'],
    views.map((v) => {
      const opened = Date.parse(text(v, 'opened_at') ?? '');
      return [v.id, v.status, v.action, v.environment, v.target, v.risk, Number.isNaN(opened) ? '-' : span(now - opened), expiry(v, now), yours(v)];
    }),
  );
}

/** Every page, following `next_cursor`, until the last one or `limit` requests. */
async function listAll(client: CountersignClient, filter: RequestFilter, limit: number): Promise<{ requests: ListedRequest[]; next_cursor: string | null }> {
  const requests: ListedRequest[] = [];
  let cursor: string | null = null;
  // bounded: a page either adds a request or ends the loop, so at most `limit` pages are read
  for (let pages = 0; pages <= MAX_LIMIT; pages++) {
    const page: RequestPage = await client.listRequests({ ...filter, limit: Math.min(PAGE, limit - requests.length), ...(cursor === null ? {} : { cursor }) });
    requests.push(...page.requests);
    cursor = page.next_cursor;
    if (cursor === null || requests.length >= limit || page.requests.length === 0) break;
  }
  return { requests, next_cursor: cursor };
}

export function register(program: Command): void {
  connectionOptions(
    program
      .command('requests')
      .description('list approval requests (open ones unless --status says otherwise), with whether you may approve each; --mine lists only those you may approve now')
      .option('--mine', 'only the requests you may approve now (the approval rules the gateway enforces: role, surface, independence, not already signed)')
      .option('--status <states>', `comma-separated: ${STATES.join(', ')} (default open)`)
      .option('--env <environment>', 'only this environment')
      .option('--incident <id>', 'only requests for steps of this incident')
      .option('--risk <class>', 'only this risk class')
      .option('--limit <n>', `list at most this many, following pages to the end (default ${DEFAULT_LIMIT}, at most ${MAX_LIMIT})`),
  )
    .addHelpText(
      'after',
      `
The last column says whether the token's principal, through the token's
surface, may approve the request now, and if not, the approval refusal codes
that say why (SELF_APPROVAL, REPORTS_TO_REQUESTER, SURFACE_NOT_ALLOWED,
DUPLICATE_APPROVER, ROLE_NOT_ELIGIBLE, ...; docs/http-api.md). An agent's
token lists only the agent's own requests and may approve none.

With --json: {"requests": [...], "next_cursor": null}, each request as
GET /v1/requests/{id} shows it plus "approvable": {"by_you", "reasons"};
next_cursor is not null when --limit cut the list short.

Exit status: 0 when the list was read, even when it is empty (stderr says so,
and when --limit cut it short).
${EXIT_CODES_HELP}

Examples:
  countersign requests --mine
  countersign requests --status open,approved --env prod --incident inc-payments-0912
  countersign requests --risk high --limit 20 --json`,
    )
    .action(
      clientAction(async (opts: RequestsFlags): Promise<Outcome> => {
        const status = statusesOf(opts.status);
        const limit = limitOf(opts.limit);
        const client = connect(opts);
        const filter: RequestFilter = {
          ...(status === undefined ? {} : { status }),
          ...(opts.env === undefined ? {} : { environment: opts.env }),
          ...(opts.incident === undefined ? {} : { incident: opts.incident }),
          ...(opts.risk === undefined ? {} : { risk: opts.risk }),
          ...(opts.mine ? { approvable_by: 'me' as const } : {}),
        };
        const listed = await listAll(client, filter, limit);
        const notes: string[] = [];
        if (listed.requests.length === 0) notes.push(opts.mine ? 'no requests you may approve now' : 'no requests match');
        if (listed.next_cursor !== null) notes.push(`more than ${limit} requests: narrow with filters or raise --limit`);
        return {
          data: listed,
          text: listed.requests.length === 0 ? '' : requestsTable(listed.requests, Date.now()),
          exit: EXIT.OK,
          ...(notes.length > 0 ? { note: notes.join('\n') } : {}),
        };
      }),
    );
}
