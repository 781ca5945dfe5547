import { CountersignClientError } from './errors.js';

/**
 * The HTTP contract between this SDK and the gateway, in one table: method,
 * path (`{name}` is a path parameter, percent-encoded), and the gateway
 * operation that authorizes it (the `OPERATIONS` names of the gateway's auth
 * layer; an agent token may call only `propose`, `status`, `wait`, `execute`
 * and `report_outcome`). `operation: null` marks the public operational routes:
 * the token is not sent to them. Every body is JSON, and so is every answer
 * except those with `accept` (streams); every error is
 * `{ "error": { "code", "message", "details" } }`.
 *
 * The table covers every route the gateway serves except `GET /metrics`
 * (Prometheus text, for a scraper) and `GET /openapi.json` (the contract
 * itself, for tooling); test/client-routes.test.ts holds the two to each other.
 */
export interface Endpoint {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly operation: string | null;
  /** The media type of a streamed answer; JSON when absent. */
  readonly accept?: 'text/event-stream' | 'application/jsonl';
  /** Optional query parameters: those given are appended, percent-encoded, in this order. */
  readonly query?: readonly string[];
}

export const ENDPOINTS = {
  propose: { method: 'POST', path: '/v1/proposals', operation: 'propose' },
  proposal: { method: 'GET', path: '/v1/proposals/{id}', operation: 'status' },
  /** The one-call path: propose, and execute at once each step decided `allow`; each such step comes back with its `execution`. */
  proposeAndExecute: { method: 'POST', path: '/v1/proposals/execute', operation: 'propose', query: ['resume'] },
  /** Dry run: each step decided under the active bundle and open holds; records nothing, grants nothing. */
  decide: { method: 'POST', path: '/v1/decisions', operation: 'decide' },
  /** Requests in the order they were opened (`open` unless `status` names others, comma-separated); an agent sees its own; `approvable_by=me` keeps those the caller may approve now. Answers `{ requests, next_cursor }`, each request with its `approvable` verdict. */
  listRequests: {
    method: 'GET',
    path: '/v1/requests',
    operation: 'status',
    query: ['status', 'action', 'environment', 'target', 'digest', 'incident', 'risk', 'approvable_by', 'cursor', 'limit'],
  },
  status: { method: 'GET', path: '/v1/requests/{id}', operation: 'status' },
  /** Long poll: the status route, answering as soon as the request is settled, or after `wait` (the gateway holds 60 s at most) with it still open. */
  wait: { method: 'GET', path: '/v1/requests/{id}?wait={wait}', operation: 'status' },
  /** Server-Sent Events: `event: request` with the request view at once and on every change, until it is settled (10 min at most). */
  events: { method: 'GET', path: '/v1/requests/{id}/events', operation: 'wait', accept: 'text/event-stream' },
  approve: { method: 'POST', path: '/v1/requests/{id}/approvals', operation: 'approve' },
  deny: { method: 'POST', path: '/v1/requests/{id}/denials', operation: 'deny' },
  /** Consume a grant: body `{ grant: <compact JWS>, step? }`; answers with the execution id. */
  execute: { method: 'POST', path: '/v1/executions', operation: 'execute' },
  /** Run one step an override lease lists: body `{ step: <step id>, presented? }`. */
  executeWithLease: { method: 'POST', path: '/v1/leases/{id}/executions', operation: 'execute' },
  reportOutcome: { method: 'POST', path: '/v1/executions/{id}/outcome', operation: 'report_outcome' },
  openHold: { method: 'POST', path: '/v1/holds', operation: 'hold_open' },
  addEvidence: { method: 'POST', path: '/v1/holds/{id}/evidence', operation: 'hold_evidence' },
  liftHold: { method: 'POST', path: '/v1/holds/{id}/lift', operation: 'hold_lift' },
  requestOverride: { method: 'POST', path: '/v1/overrides', operation: 'override_request' },
  submitOverride: { method: 'POST', path: '/v1/overrides/{id}/submit', operation: 'override_submit' },
  registerRollback: { method: 'POST', path: '/v1/rollbacks', operation: 'rollback_register' },
  rollback: { method: 'POST', path: '/v1/rollbacks/{id}/run', operation: 'rollback' },
  halt: { method: 'POST', path: '/v1/halts', operation: 'halt' },
  liftHalt: { method: 'POST', path: '/v1/halts/{id}/lift', operation: 'halt_lift' },
  policy: { method: 'GET', path: '/v1/policy', operation: 'policy_read' },
  /** Refused for anyone, and recorded (RELEASE_REQUIRED): bundles change by a governed release. */
  activateBundle: { method: 'POST', path: '/v1/bundles', operation: 'bundle_activate' },
  /** Body `{ policy: <YAML text>, golden?: [{ name, text }] }`: a candidate for release, golden sets run and diff recorded. */
  proposeRelease: { method: 'POST', path: '/v1/releases', operation: 'release_propose' },
  release: { method: 'GET', path: '/v1/releases/{id}', operation: 'policy_read' },
  /** The shadow run: every decision recorded while the release was open, decided again under the candidate. */
  releaseShadow: { method: 'GET', path: '/v1/releases/{id}/shadow', operation: 'policy_read' },
  /** Body `{ statement, attestation }`, as an approval: `request` is the release id, `step_digest` its release digest. */
  signRelease: { method: 'POST', path: '/v1/releases/{id}/signatures', operation: 'release_sign' },
  /** Token administration (policy `credentials.admin_roles`): body `{ principal, surface, expires_in? }`; the secret is in the answer once. */
  issueToken: { method: 'POST', path: '/v1/tokens', operation: 'token_admin' },
  listTokens: { method: 'GET', path: '/v1/tokens', operation: 'token_admin', query: ['principal'] },
  revokeToken: { method: 'POST', path: '/v1/tokens/{id}/revoke', operation: 'token_admin' },
  /** Passkeys (issue 14): registration is the console's, from a signed-in session in a browser; listing and revoking are anyone's own. */
  passkeyRegistrationOptions: { method: 'POST', path: '/v1/passkeys/registration', operation: 'passkey_register' },
  registerPasskey: { method: 'POST', path: '/v1/passkeys', operation: 'passkey_register' },
  listPasskeys: { method: 'GET', path: '/v1/passkeys', operation: 'status', query: ['principal'] },
  revokePasskey: { method: 'POST', path: '/v1/passkeys/{id}/revoke', operation: 'passkey_revoke' },
  ledgerHead: { method: 'GET', path: '/v1/ledger/head', operation: 'ledger_read' },
  /** JSON Lines, the format of `countersign ledger export`, streamed. */
  exportLedger: { method: 'GET', path: '/v1/ledger/export', operation: 'ledger_read', accept: 'application/jsonl' },
  checkpoint: { method: 'GET', path: '/v1/ledger/checkpoint', operation: 'checkpoint' },
  prove: { method: 'GET', path: '/v1/ledger/proofs/{seq}', operation: 'prove' },
  trace: { method: 'GET', path: '/v1/trace/{id}', operation: 'trace' },
  health: { method: 'GET', path: '/healthz', operation: null },
  ready: { method: 'GET', path: '/readyz', operation: null },
} as const satisfies Record<string, Endpoint>;

export type EndpointName = keyof typeof ENDPOINTS;

/**
 * Fill `{name}` placeholders and append the endpoint's optional query
 * parameters that are given; values are percent-encoded so an id can never add
 * a path segment or a query.
 */
export function endpointUrl(server: string, name: EndpointName, params: Readonly<Record<string, string | number | undefined>> = {}): string {
  const endpoint: Endpoint = ENDPOINTS[name];
  const path = endpoint.path.replace(/\{([a-z]+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined) throw new CountersignClientError('USAGE', `endpoint \`${name}\` needs \`${key}\``);
    return encodeURIComponent(String(value));
  });
  const query = (endpoint.query ?? []).flatMap((key) => {
    const value = params[key];
    return value === undefined ? [] : [`${key}=${encodeURIComponent(String(value))}`];
  });
  return `${server.replace(/\/+$/, '')}${path}${query.length === 0 ? '' : `?${query.join('&')}`}`;
}
