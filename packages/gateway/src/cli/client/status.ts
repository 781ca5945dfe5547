import { formatDuration, parseDuration } from '@countersign/core';
import { isCountersignClientError, type CountersignClient, type ProposalResult, type RequestView } from '@countersign/client';
import type { Command } from 'commander';
import { GatewayError } from '../../errors.js';
import { EXIT } from '../exit.js';
import { clientAction, connect, connectionOptions, EXIT_CODES_HELP, type ConnectionFlags } from './connection.js';
import { fields, type Outcome } from './output.js';
import { proposalText } from './propose.js';

const DEFAULT_WAIT = '5m';

interface StatusFlags extends ConnectionFlags {
  readonly proposal?: boolean;
  /** `true` for a bare `--wait`. */
  readonly wait?: string | true;
  readonly grant?: boolean;
}

function waitMs(wait: string | true): number {
  const textual = wait === true ? DEFAULT_WAIT : wait;
  try {
    return parseDuration(textual);
  } catch {
    throw new GatewayError('USAGE', `\`--wait\` must be a duration such as \`30s\` or \`5m\`; got \`${textual}\``);
  }
}

/** The request as an approver or a script needs to see it; fields the gateway did not send are left out. */
export function requestText(view: RequestView): string {
  return fields([
    ['request', view.id],
    ['status', view.status],
    ['action', view.action],
    ['environment', view.environment],
    ['target', view.target],
    ['risk', view.risk],
    ['digest', view.digest],
    ['bundle', view.bundle_id],
    ['expires', view.expires_at],
    ['grant', view.grant],
  ]);
}

/**
 * Long-poll until the request leaves `open`, or until `ms` has passed: then
 * the request as it stands, flagged as still open. Waiting is not an error.
 */
async function waitForRequest(client: CountersignClient, id: string, ms: number): Promise<{ view: RequestView; timedOut: boolean }> {
  try {
    return { view: await client.waitForRequest(id, { timeoutMs: ms }), timedOut: false };
  } catch (err) {
    if (isCountersignClientError(err) && err.code === 'WAIT_TIMEOUT') return { view: await client.status(id), timedOut: true };
    throw err;
  }
}

async function requestStatus(client: CountersignClient, id: string, wait: number | null, grantOnly: boolean): Promise<Outcome> {
  const { view, timedOut } = wait === null ? { view: await client.status(id), timedOut: false } : await waitForRequest(client, id, wait);
  if (grantOnly) {
    // For pipes: `countersign status ID --wait --grant | countersign execute -`
    return view.grant !== null
      ? { data: view, text: view.grant, exit: EXIT.OK }
      : { data: view, text: '', exit: EXIT.NEGATIVE, note: `request \`${id}\` has no grant (status ${view.status})` };
  }
  const note =
    view.status === 'approved' && view.grant !== null
      ? `approved: run it with \`countersign execute <grant>\``
      : timedOut
        ? `still open after ${formatDuration(wait ?? 0)}`
        : view.status === 'open'
          ? 'not decided yet: wait with --wait'
          : undefined;
  return { data: view, text: requestText(view), exit: view.status === 'approved' ? EXIT.OK : EXIT.NEGATIVE, ...(note ? { note } : {}) };
}

async function proposalStatus(client: CountersignClient, id: string, wait: number | null): Promise<Outcome> {
  let result: ProposalResult = await client.proposal(id);
  if (wait !== null) {
    const deadline = Date.now() + wait;
    for (const step of result.steps) {
      if (step.request === null || step.grant !== null) continue;
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      await waitForRequest(client, step.request, remaining);
    }
    result = await client.proposal(id);
  }
  const granted = result.steps.length > 0 && result.steps.every((s) => s.grant !== null);
  return { data: result, text: proposalText(result), exit: granted ? EXIT.OK : EXIT.NEGATIVE };
}

export function register(program: Command): void {
  connectionOptions(
    program
      .command('status')
      .description('show an approval request (or with --proposal, a proposal); --wait long-polls until it is decided')
      .argument('<id>', 'request id (as `propose` prints it), or a proposal id with --proposal')
      .option('--proposal', 'ID is a proposal: show every step')
      .option('--wait [duration]', `wait until decided, at most this long (default ${DEFAULT_WAIT})`)
      .option('--grant', 'print only the grant (compact JWS), for `countersign execute -`; exit 1 when there is none'),
  )
    .addHelpText(
      'after',
      `
Exit status: 0 when the request is approved (with --proposal: when every step
has a grant); 1 when it is open, denied, expired or voided, including when
--wait ran out with the request still open (stderr says so; the status is
still printed).
${EXIT_CODES_HELP}

Examples:
  countersign status request-7f3k --wait 10m
  countersign status proposal-2k9d --proposal --json
  countersign status request-7f3k --wait 5m --grant | countersign execute -`,
    )
    .action(
      clientAction(async (id: string, opts: StatusFlags): Promise<Outcome> => {
        const wait = opts.wait === undefined ? null : waitMs(opts.wait);
        const client = connect(opts);
        if (opts.proposal && opts.grant) throw new GatewayError('USAGE', '`--grant` applies to a request, not to `--proposal`');
        return opts.proposal ? proposalStatus(client, id, wait) : requestStatus(client, id, wait, opts.grant === true);
      }),
    );
}
