import { z } from 'zod';
import { ApprovalStatement } from '@countersign/core';
import { endpoint, type DeepReadonly } from './endpoint.js';
import { Digest, Id, IdParams, ShortText } from './bounds.js';

export const RequestState = z.enum(['open', 'approved', 'denied', 'expired', 'voided']);
export type RequestState = z.output<typeof RequestState>;

/** One approval or denial a request has received. */
export const ApprovalView = z.object({
  approver: z.string(),
  decision: z.enum(['approve', 'deny']),
  surface: z.string(),
  attestation: z.enum(['key', 'gateway', 'passkey']),
  key_id: z.string().nullable(),
  signed_at: z.string(),
});
export type ApprovalView = z.output<typeof ApprovalView>;

/** What a request still needs: quorum factors (roles and count), the surfaces approvals may come from, and the attestation. */
export const Requirements = z.object({
  quorum: z.array(z.object({ roles: z.array(z.string()), count: z.number().int() })),
  surfaces: z.array(z.string()),
  attestation: z.enum(['key', 'any']),
});

/** An approval request; `grant` is the compact JWS once it is approved, shown only to the agent that proposed the step. */
export const RequestView = z.object({
  id: z.string(),
  status: RequestState,
  /** The step's digest under `bundle_id`: recompute it from action, environment, target and params to know the request is for this step. */
  digest: z.string(),
  bundle_id: z.string().nullable(),
  proposal: z.string(),
  step: z.string(),
  action: z.string(),
  environment: z.string(),
  target: z.string(),
  params: z.record(z.string(), z.unknown()),
  risk: z.string(),
  class: z.string().nullable(),
  rationale: z.string().nullable(),
  expected_consequence: z.string().nullable(),
  /** The step's registered rollback, as people read it: what, on which target, its id and state; null when none is registered. */
  rollback_plan: z.string().nullable(),
  incident: z.string().nullable(),
  agent: z.string(),
  on_behalf_of: z.string(),
  /** The surface the request came from; approvals must arrive through another. */
  surface: z.string(),
  requirements: Requirements,
  approvals: z.array(ApprovalView),
  opened_at: z.string(),
  expires_at: z.string(),
  closed_at: z.string().nullable(),
  grant: z.string().nullable(),
  /** Approved, but the grant waits for a rollback artifact registered for the step. */
  awaiting_rollback: z.boolean(),
});
export type RequestView = z.output<typeof RequestView>;

/**
 * A request as the list shows it: with whether the caller may approve it now
 * and, if not, every approval refusal code that says why (core `mayApprove`,
 * the approve command's own rules; codes in APPROVAL_CHECK_ORDER). A verdict,
 * not a promise: the request may change before a statement arrives.
 */
export const ListedRequestView = RequestView.extend({
  approvable: z.object({
    by_you: z.boolean(),
    reasons: z.array(z.string()),
  }),
});
export type ListedRequestView = z.output<typeof ListedRequestView>;

export const RequestPage = z.object({
  requests: z.array(ListedRequestView),
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: z.string().nullable(),
});
export type RequestPage = z.output<typeof RequestPage>;

const STATUSES = RequestState.options;

const ListQuery = z.strictObject({
  status: z
    .string()
    .regex(/^(open|approved|denied|expired|voided)(,(open|approved|denied|expired|voided))*$/, `a status is one of ${STATUSES.join(', ')}, or several separated by commas`)
    .optional(),
  action: Id.optional(),
  environment: Id.optional(),
  target: ShortText.optional(),
  digest: Digest.optional(),
  incident: Id.optional(),
  risk: Id.optional(),
  /** `me`: only the requests the caller may approve now, by the approve command's own rules (core `mayApprove`). */
  approvable_by: z.string().regex(/^me$/, '`approvable_by` takes only `me`').optional(),
  cursor: Id.optional(),
  limit: z
    .string()
    .regex(/^\d{1,3}$/, 'a limit is a whole number')
    .optional(),
});

const WaitQuery = z.strictObject({
  /** Hold the answer until the request is settled, this long at most (the gateway holds 60 s at most). */
  wait: z
    .string()
    .regex(/^\d{1,6}(ms|s)?$/, 'a wait is a number of seconds: `30s`, `30` or `500ms`')
    .optional(),
});

/** How an approval statement is vouched for. */
export const Attestation = z.discriminatedUnion('kind', [
  // signed on the approver's own machine with a key of theirs in the roster
  z.strictObject({ kind: z.literal('key'), key_id: z.string().min(1).max(200), signature: z.string().min(1).max(200) }),
  // an authenticated console session: the gateway attests the statement for the token's principal
  z.strictObject({ kind: z.literal('gateway') }),
  // signed by a passkey registered to the caller (issue 14): WebAuthn's bytes, base64url, over the statement's passkey challenge
  z.strictObject({
    kind: z.literal('passkey'),
    credential_id: z.string().min(1).max(1_400),
    authenticator_data: z.string().min(1).max(4_096),
    client_data_json: z.string().min(1).max(4_096),
    signature: z.string().min(1).max(1_024),
  }),
]);
export type Attestation = z.output<typeof Attestation>;

export const SignedStatement = z.strictObject({ statement: ApprovalStatement, attestation: Attestation });
export type SignedStatement = DeepReadonly<z.input<typeof SignedStatement>>;

/** What is still needed after an approval: per quorum factor, the roles and how many more. */
export const Remaining = z.array(z.object({ factor: z.number().int(), roles: z.array(z.string()), needed: z.number().int() }));

export const ApprovalResult = RequestView.extend({
  decision: z.enum(['approve', 'deny']),
  quorum_met: z.boolean(),
  remaining: Remaining,
});
export type ApprovalResult = z.output<typeof ApprovalResult>;

export const REQUEST_ENDPOINTS = {
  /** Requests in the order they were opened (`open` unless `status` names others, comma-separated); an agent sees its own; `approvable_by=me` keeps those the caller may approve now. */
  listRequests: endpoint({
    method: 'GET',
    path: '/v1/requests',
    summary:
      'approval requests in the order they were opened, `open` ones unless `status` says otherwise (comma-separated), narrowed by `action`, `environment`, `target`, `digest`, `incident` and `risk`, and with `approvable_by=me` to those the caller may approve now; each says whether the caller may approve it and why not (`approvable`); an agent sees only the requests it proposed and approves none; `cursor` pages on',
    tag: 'requests',
    operation: 'status',
    query: ListQuery,
    response: RequestPage,
  }),
  /** With `wait`, a long poll: answered as soon as the request is settled, or after `wait` with it still open. */
  status: endpoint({
    method: 'GET',
    path: '/v1/requests/{id}',
    summary: 'an approval request as it stands; with `wait` (at most 60 s) the answer is held until it is decided and granted, or the wait ends',
    tag: 'requests',
    operation: 'status',
    params: IdParams,
    query: WaitQuery,
    response: RequestView,
  }),
  /** Server-Sent Events: `event: request` with the request view at once and on every change, until it is settled (10 min at most). */
  events: endpoint({
    method: 'GET',
    path: '/v1/requests/{id}/events',
    summary: 'Server-Sent Events: `event: request` with the request view at once and on every change, until it is decided and granted',
    tag: 'requests',
    operation: 'wait',
    params: IdParams,
    response: RequestView,
    stream: { contentType: 'text/event-stream; charset=utf-8' },
  }),
  approve: endpoint({
    method: 'POST',
    path: '/v1/requests/{id}/approvals',
    summary:
      'approve a request with a statement signed by the approver (attestation `key` or `passkey`) or attested by the gateway for a console session (`gateway`)',
    tag: 'requests',
    operation: 'approve',
    params: IdParams,
    body: SignedStatement,
    response: ApprovalResult,
  }),
  deny: endpoint({
    method: 'POST',
    path: '/v1/requests/{id}/denials',
    summary: 'deny a request with a signed statement; one eligible denial closes it',
    tag: 'requests',
    operation: 'deny',
    params: IdParams,
    body: SignedStatement,
    response: ApprovalResult,
  }),
};
