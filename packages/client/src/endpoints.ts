import { CountersignClientError } from './errors.js';

/**
 * The HTTP contract between this SDK and the gateway, in one table: method,
 * path (`{name}` is a path parameter, percent-encoded), and the gateway
 * operation that authorizes it (the `OPERATIONS` names of the gateway's auth
 * layer; an agent token may call only `propose`, `status`, `wait`, `execute`
 * and `report_outcome`). Every body is JSON; every error is
 * `{ "error": { "code", "message", "details" } }`.
 */
export const ENDPOINTS = {
  propose: { method: 'POST', path: '/v1/proposals', operation: 'propose' },
  proposal: { method: 'GET', path: '/v1/proposals/{id}', operation: 'status' },
  status: { method: 'GET', path: '/v1/requests/{id}', operation: 'status' },
  /** Long poll: answers as soon as the request leaves `open`, or after `wait` (`30s` at most) with it still open. */
  wait: { method: 'GET', path: '/v1/requests/{id}?wait={wait}', operation: 'wait' },
  approve: { method: 'POST', path: '/v1/requests/{id}/approvals', operation: 'approve' },
  deny: { method: 'POST', path: '/v1/requests/{id}/denials', operation: 'deny' },
  /** Consume a grant: body `{ grant: <compact JWS>, step? }`; answers with the execution id. */
  execute: { method: 'POST', path: '/v1/executions', operation: 'execute' },
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
  checkpoint: { method: 'GET', path: '/v1/ledger/checkpoint', operation: 'checkpoint' },
  prove: { method: 'GET', path: '/v1/ledger/proofs/{seq}', operation: 'prove' },
} as const satisfies Record<string, { readonly method: 'GET' | 'POST'; readonly path: string; readonly operation: string }>;

export type EndpointName = keyof typeof ENDPOINTS;

/** Fill `{name}` placeholders; values are percent-encoded so an id can never add a path segment or a query. */
export function endpointUrl(server: string, name: EndpointName, params: Readonly<Record<string, string | number>> = {}): string {
  const path = ENDPOINTS[name].path.replace(/\{([a-z]+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined) throw new CountersignClientError('USAGE', `endpoint \`${name}\` needs \`${key}\``);
    return encodeURIComponent(String(value));
  });
  return `${server.replace(/\/+$/, '')}${path}`;
}
