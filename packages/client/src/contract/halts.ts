import { z } from 'zod';
import { endpoint, type DeepReadonly } from './endpoint.js';
import { Id, IdParams, ShortText } from './bounds.js';

export const HaltScope = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('environment'), environment: Id }),
  z.strictObject({ kind: z.literal('incident'), incident: Id }),
  z.strictObject({ kind: z.literal('all') }),
]);
export type HaltScope = z.output<typeof HaltScope>;

export const HaltResult = z.object({ halt: z.string(), revoked_grants: z.array(z.string()), revoked_leases: z.array(z.string()) });
export type HaltResult = z.output<typeof HaltResult>;

export const HaltRequest = z.strictObject({ scope: HaltScope, reason: ShortText.optional() });
export type HaltRequest = DeepReadonly<z.input<typeof HaltRequest>>;

export const HALT_ENDPOINTS = {
  halt: endpoint({
    method: 'POST',
    path: '/v1/halts',
    summary: 'suspend every grant and lease in a scope at once (halt authority, one key)',
    tag: 'halts',
    operation: 'halt',
    body: HaltRequest,
    response: HaltResult,
    status: 201,
  }),
  liftHalt: endpoint({
    method: 'POST',
    path: '/v1/halts/{id}/lift',
    summary: 'lift a halt',
    tag: 'halts',
    operation: 'halt_lift',
    params: IdParams,
    body: z.strictObject({ reason: ShortText.optional() }),
    response: HaltResult,
  }),
};
