import type { FastifyInstance } from 'fastify';
import { principalForIdentity, type Caller } from '@countersign/core';
import { APPROVE_ACTION, DENY_ACTION, verifySlackSignature, type SlackNotifier, type SlackRequest } from '../notify/slack.js';
import { ApiError } from './api-error.js';
import { activePolicy, type ServerContext } from './context.js';

/**
 * `POST /v1/slack/interactions`: the Approve and Deny buttons of a Slack
 * message (issue 16). Authenticated by Slack's request signature over the
 * raw body, with the signing secret of one of the bundle's Slack
 * destinations and a five-minute window; never by a bearer token. The Slack
 * user is a roster human only through the policy's `identities` (issuer
 * `https://slack.com`, subject their Slack user id); the decision is then an
 * ordinary approval or denial from the `slack` surface, attested by the
 * gateway, under every rule the approve command applies (independence,
 * roles, surfaces, already signed): a refusal is recorded and shown to the
 * person who clicked, and the message updated only for a decision.
 */

/** Slack's issuer for `identities`: the subject is the Slack user id. */
export const SLACK_ISSUER = 'https://slack.com';
const SLACK_SURFACE = 'slack';

interface Interaction {
  readonly type?: unknown;
  readonly user?: { readonly id?: unknown };
  readonly actions?: readonly { readonly action_id?: unknown; readonly value?: unknown }[];
  readonly channel?: { readonly id?: unknown };
  readonly container?: { readonly message_ts?: unknown; readonly channel_id?: unknown };
}

export interface SlackInteractionOptions {
  readonly slack: () => SlackNotifier | null;
  readonly request: (id: string) => SlackRequest | null;
  readonly env: Readonly<Record<string, string | undefined>>;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' && value.length <= 200 ? value : null;
}

export function registerSlackInteractions(app: FastifyInstance, ctx: ServerContext, options: SlackInteractionOptions): void {
  // a scope of its own: only here is a form body read, and only as the raw text the signature covers
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => done(null, body));
    scope.post('/v1/slack/interactions', async (request, reply) => {
      const raw = typeof request.body === 'string' ? request.body : '';
      const slack = options.slack();
      const served = activePolicy(ctx);
      if (slack === null || served === null) throw new ApiError('BUNDLE_NOT_LOADED', 'the active bundle is not loaded on this replica');
      const now = Math.floor(ctx.clock() / 1_000);
      const timestamp = request.headers['x-slack-request-timestamp'];
      const signature = request.headers['x-slack-signature'];
      let verdict: 'ok' | 'stale' | 'invalid' = 'invalid';
      let target: string | null = null;
      for (const t of slack.targets) {
        const secret = t.signing_secret_env === undefined ? undefined : options.env[t.signing_secret_env];
        if (secret === undefined || secret === '') continue;
        const v = verifySlackSignature(secret, typeof timestamp === 'string' ? timestamp : undefined, raw, typeof signature === 'string' ? signature : undefined, now);
        if (v !== 'invalid') {
          verdict = v;
          target = t.id;
          break;
        }
      }
      if (verdict === 'invalid') throw new ApiError('SLACK_SIGNATURE_INVALID', 'the request is not signed with a signing secret of this policy’s Slack destinations');
      if (verdict === 'stale') throw new ApiError('SLACK_SIGNATURE_STALE', 'the request’s timestamp is more than five minutes from now');

      let interaction: Interaction;
      try {
        interaction = JSON.parse(new URLSearchParams(raw).get('payload') ?? '') as Interaction;
      } catch {
        throw new ApiError('BAD_REQUEST', 'the interaction has no JSON `payload`');
      }
      const action = interaction.actions?.[0];
      const actionId = text(action?.action_id);
      const requestId = text(action?.value);
      const userId = text(interaction.user?.id);
      const channel = text(interaction.container?.channel_id) ?? text(interaction.channel?.id);
      const ts = text(interaction.container?.message_ts);
      if (interaction.type !== 'block_actions' || (actionId !== APPROVE_ACTION && actionId !== DENY_ACTION) || requestId === null || userId === null) {
        // a button of ours that decides nothing (the console link), or anything else: acknowledged, nothing done
        return reply.code(200).send({});
      }
      const client = slack.client(slack.targets.find((t) => t.id === target)!);
      const tell = async (message: string): Promise<void> => {
        if (client !== null && channel !== null) await client.chat.postEphemeral({ channel, user: userId, text: message }).catch(() => undefined);
      };
      const mapped = principalForIdentity(served.loaded.bundle, { iss: SLACK_ISSUER, sub: userId });
      if ('code' in mapped) {
        await tell(`Countersign: your Slack account is not mapped to anyone in the policy (${mapped.code}); nothing was decided.`);
        return reply.code(200).send({});
      }
      const view = options.request(requestId);
      const record = ctx.reader.state.requests.get(requestId);
      if (view === null || record === undefined) {
        await tell(`Countersign: request ${requestId} is unknown here (REQUEST_UNKNOWN).`);
        return reply.code(200).send({});
      }
      if (!served.surfaces.has(SLACK_SURFACE)) {
        await tell('Countersign: this policy declares no `slack` surface, so no decision can come from Slack.');
        return reply.code(200).send({});
      }
      const caller: Caller = { principal: mapped.principal, surface: SLACK_SURFACE, credential: `slack:${userId}` };
      const decision = actionId === APPROVE_ACTION ? 'approve' : 'deny';
      const statement = {
        request: record.id,
        step_digest: record.digest,
        bundle_id: record.bundle_id ?? '',
        decision,
        approver: mapped.principal,
        surface: SLACK_SURFACE,
        reason: `${decision === 'approve' ? 'approved' : 'denied'} in Slack`,
        signed_at: new Date(ctx.clock()).toISOString(),
      };
      const input = { statement, attestation: { kind: 'gateway' as const } };
      const result = await (decision === 'approve' ? ctx.gateway.approve(caller, input) : ctx.gateway.deny(caller, input));
      ctx.feed.changed();
      if (!result.ok) {
        await tell(`Countersign refused your ${decision === 'approve' ? 'approval' : 'denial'} of ${requestId}: ${result.code}. ${result.message}`);
        return reply.code(200).send({});
      }
      if (channel !== null && ts !== null && target !== null) {
        const after = ctx.reader.state.requests.get(requestId);
        const outcome = after?.status === 'open' ? `${decision}d by ${mapped.principal} via Slack; more approvals needed` : `${after?.status ?? decision} by ${mapped.principal} via Slack`;
        await slack.update(target, channel, ts, view, outcome);
      }
      return reply.code(200).send({});
    });
  });
}
