import { z } from 'zod';
import { endpoint, type DeepReadonly } from './endpoint.js';
import { Digest, Id, IdParams, Names, ShortText } from './bounds.js';

export const HoldResult = z.object({ hold: z.string(), revoked_leases: z.array(z.string()) });
export type HoldResult = z.output<typeof HoldResult>;

export const HoldRequest = z.strictObject({
  trip_gate: Id,
  scope: z.strictObject({ environments: Names.optional(), classes: Names.optional(), actions: Names.optional(), targets: Names.optional() }),
  evidence_hash: Digest,
  incident: Id.optional(),
  reason: ShortText.optional(),
});
export type HoldRequest = DeepReadonly<z.input<typeof HoldRequest>>;

export const HOLD_ENDPOINTS = {
  openHold: endpoint({
    method: 'POST',
    path: '/v1/holds',
    summary: 'open a hold (kill switch): matching mutations are held and grants in scope suspended; read-only diagnostics continue',
    tag: 'holds',
    operation: 'hold_open',
    body: HoldRequest,
    response: HoldResult,
    status: 201,
  }),
  addEvidence: endpoint({
    method: 'POST',
    path: '/v1/holds/{id}/evidence',
    summary: 'add evidence to an open hold; revokes every live override lease granted under it',
    tag: 'holds',
    operation: 'hold_evidence',
    params: IdParams,
    body: z.strictObject({ evidence_hash: Digest }),
    response: HoldResult,
  }),
  liftHold: endpoint({
    method: 'POST',
    path: '/v1/holds/{id}/lift',
    summary: 'lift a hold (only the roles the policy names)',
    tag: 'holds',
    operation: 'hold_lift',
    params: IdParams,
    body: z.strictObject({ reason: ShortText.optional() }),
    response: HoldResult,
  }),
};
