import { createHmac, timingSafeEqual } from 'node:crypto';
import { WebClient, type KnownBlock } from '@slack/web-api';
import { Turns } from './turns.js';

/**
 * Slack for approvers (issue 16). When a request opens, each Slack
 * destination whose risks and environments match gets a Block Kit message:
 * the request's full context and a button to its console page, and, where
 * the request accepts approvals through the `slack` surface with gateway
 * attestation, Approve and Deny buttons. When the request is decided the
 * message is updated. Posting is advisory like every notification: it never
 * blocks, allows or denies anything, and every attempt is recorded.
 *
 * The buttons come back to `POST /v1/slack/interactions`, authenticated by
 * Slack's request signature (`v0`, the app's signing secret, a five-minute
 * window), never by a token; see `verifySlackSignature`.
 */

export interface SlackTarget {
  readonly id: string;
  readonly channel: string;
  readonly token_env: string;
  readonly signing_secret_env?: string | undefined;
  readonly risks?: readonly string[] | undefined;
  readonly environments?: readonly string[] | undefined;
}

/** What a message shows of a request. */
export interface SlackRequest {
  readonly id: string;
  readonly action: string;
  readonly target: string;
  readonly environment: string;
  readonly risk: string;
  readonly expected_consequence: string | null;
  readonly rollback: string;
  readonly asked_by: string;
  readonly required: string;
  readonly digest: string;
  readonly link: string | null;
  /** Approve and Deny buttons: the request accepts `slack` approvals the gateway attests, and the destination can verify them. */
  readonly interactive: boolean;
}

export interface SlackDelivery {
  readonly webhook: string;
  readonly event: string;
  readonly request_id: string;
  readonly delivery_id: string;
  readonly attempt: number;
  readonly ok: boolean;
  readonly final: boolean;
  readonly status?: number;
  readonly error?: string;
}

export const APPROVE_ACTION = 'countersign_approve';
export const DENY_ACTION = 'countersign_deny';
/** How far a Slack request's timestamp may be from now: Slack's own recommendation, against replays. */
export const SLACK_TOLERANCE_S = 300;

/** `v0=<hex HMAC-SHA256(secret, "v0:<timestamp>:<raw body>")>`, compared in constant time, within the window. */
export function verifySlackSignature(secret: string, timestamp: string | undefined, body: string, signature: string | undefined, nowS: number): 'ok' | 'stale' | 'invalid' {
  if (timestamp === undefined || signature === undefined || !/^\d{1,12}$/.test(timestamp)) return 'invalid';
  const expected = Buffer.from(`v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`, 'utf8').digest('hex')}`);
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  return Math.abs(nowS - Number(timestamp)) > SLACK_TOLERANCE_S ? 'stale' : 'ok';
}

function field(label: string, value: string): { type: 'mrkdwn'; text: string } {
  return { type: 'mrkdwn', text: `*${label}*\n${value}` };
}

/** Slack's mrkdwn treats `<`, `>` and `&` as markup: attacker-chosen text (targets, params) is escaped. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The message for a request: its context, the console button, and the decision buttons or the outcome. */
export function requestBlocks(request: SlackRequest, outcome: string | null): KnownBlock[] {
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: `${outcome === null ? 'Approval needed' : 'Decided'}: ${request.action}`.slice(0, 150) } },
    {
      type: 'section',
      fields: [
        field('Action', `\`${escape(request.action)}\``),
        field('Target', `\`${escape(request.target)}\``),
        field('Environment', escape(request.environment)),
        field('Risk', escape(request.risk)),
        field('Asked by', escape(request.asked_by)),
        field('Rollback', escape(request.rollback)),
      ],
    },
    { type: 'section', text: { type: 'mrkdwn', text: `*Expected consequence*\n${escape(request.expected_consequence ?? 'not stated')}\n*Required*\n${escape(request.required)}` } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `request \`${request.id}\` · step digest \`${request.digest}\`` }] },
  ];
  if (outcome !== null) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: escape(outcome) } });
  }
  const buttons: KnownBlock = {
    type: 'actions',
    elements: [
      ...(request.link === null ? [] : [{ type: 'button' as const, text: { type: 'plain_text' as const, text: 'Open in the console' }, url: request.link, action_id: 'countersign_open' }]),
      ...(request.interactive && outcome === null
        ? [
            { type: 'button' as const, style: 'primary' as const, text: { type: 'plain_text' as const, text: 'Approve' }, action_id: APPROVE_ACTION, value: request.id },
            { type: 'button' as const, style: 'danger' as const, text: { type: 'plain_text' as const, text: 'Deny' }, action_id: DENY_ACTION, value: request.id },
          ]
        : []),
    ],
  };
  if (buttons.elements.length > 0) blocks.push(buttons);
  return blocks;
}

export interface SlackNotifierOptions {
  readonly targets: readonly SlackTarget[];
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Slack's Web API base; COUNTERSIGN_SLACK_API_URL overrides it (a proxy, or tests). */
  readonly apiUrl?: string;
  readonly onDelivery?: (delivery: SlackDelivery) => void | Promise<void>;
}

/** Posts and updates request messages; never throws to its caller. */
export class SlackNotifier {
  readonly #options: SlackNotifierOptions;
  readonly #clients = new Map<string, WebClient>();
  /** Messages this process posted, by request: updated when the request is decided here. */
  readonly #posted = new Map<string, { target: string; channel: string; ts: string; request: SlackRequest }[]>();
  readonly #inFlight = new Set<Promise<void>>();
  /** Messages under way to one destination at a time: an activation can open thousands of requests at once. */
  readonly #turns = new Turns(4);

  constructor(options: SlackNotifierOptions) {
    this.#options = options;
  }

  get targets(): readonly SlackTarget[] {
    return this.#options.targets;
  }

  /** The client for a destination, or null when its token is not set. */
  client(target: SlackTarget): WebClient | null {
    const token = (this.#options.env ?? process.env)[target.token_env];
    if (token === undefined || token === '') return null;
    let client = this.#clients.get(target.id);
    if (client === undefined) {
      client = new WebClient(token, {
        ...(this.#options.apiUrl === undefined ? {} : { slackApiUrl: this.#options.apiUrl }),
        // one attempt per message: a retry loop belongs to nobody's approval
        retryConfig: { retries: 0 },
        rejectRateLimitedCalls: true,
        timeout: 10_000,
      });
      this.#clients.set(target.id, client);
    }
    return client;
  }

  /** Tell every matching destination that a request waits for approval. Fire and forget. */
  requestOpened(request: SlackRequest, wants: (target: SlackTarget) => boolean): void {
    for (const target of this.#options.targets) {
      if (!wants(target)) continue;
      this.#track(this.#turns.run(target.id, () => this.#post(target, request)));
    }
  }

  /** Update every message this process posted for the request with its outcome. Fire and forget. */
  requestDecided(requestId: string, outcome: string): void {
    const posted = this.#posted.get(requestId) ?? [];
    this.#posted.delete(requestId);
    for (const message of posted) this.#track(this.#turns.run(message.target, () => this.update(message.target, message.channel, message.ts, message.request, outcome)));
  }

  /** Replace a message's buttons with the outcome (also for a message this process did not post: its channel and ts come from Slack). */
  async update(targetId: string, channel: string, ts: string, request: SlackRequest, outcome: string): Promise<void> {
    const target = this.#options.targets.find((t) => t.id === targetId);
    const client = target === undefined ? null : this.client(target);
    if (client === null) return;
    try {
      await client.chat.update({ channel, ts, text: `${request.action} on ${request.target}: ${outcome}`, blocks: requestBlocks(request, outcome) });
      await this.#report({ webhook: targetId, event: 'request.decided', request_id: request.id, delivery_id: ts, attempt: 1, ok: true, final: true, status: 200 });
    } catch (err) {
      await this.#report({ webhook: targetId, event: 'request.decided', request_id: request.id, delivery_id: ts, attempt: 1, ok: false, final: true, error: slackError(err) });
    }
  }

  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #track(work: Promise<void>): void {
    const settled = work.catch(() => undefined);
    this.#inFlight.add(settled);
    void settled.finally(() => this.#inFlight.delete(settled));
  }

  async #post(target: SlackTarget, request: SlackRequest): Promise<void> {
    const client = this.client(target);
    const base = { webhook: target.id, event: 'approval.requested', request_id: request.id, attempt: 1, final: true };
    if (client === null) {
      await this.#report({ ...base, delivery_id: '-', attempt: 0, ok: false, error: 'SECRET_MISSING' });
      return;
    }
    // buttons only where this destination can verify what comes back from them
    request = { ...request, interactive: request.interactive && target.signing_secret_env !== undefined };
    try {
      const answer = await client.chat.postMessage({ channel: target.channel, text: `Approval needed: ${request.action} on ${request.target} (${request.environment}, ${request.risk})`, blocks: requestBlocks(request, null) });
      if (typeof answer.ts === 'string' && typeof answer.channel === 'string') {
        const list = this.#posted.get(request.id) ?? [];
        list.push({ target: target.id, channel: answer.channel, ts: answer.ts, request });
        this.#posted.set(request.id, list);
      }
      await this.#report({ ...base, delivery_id: typeof answer.ts === 'string' ? answer.ts : '-', ok: true, status: 200 });
    } catch (err) {
      await this.#report({ ...base, delivery_id: '-', ok: false, error: slackError(err) });
    }
  }

  async #report(delivery: SlackDelivery): Promise<void> {
    try {
      await this.#options.onDelivery?.(delivery);
    } catch {
      // recording is the gateway's concern; it never reaches the caller
    }
  }
}

/** A Slack failure as a code: its API error (`channel_not_found`, `invalid_auth`), or UNREACHABLE. Never a token. */
function slackError(err: unknown): string {
  const data = (err as { data?: { error?: unknown } }).data;
  if (data !== undefined && typeof data.error === 'string') return `SLACK_${data.error.toUpperCase()}`.slice(0, 64);
  return 'UNREACHABLE';
}
