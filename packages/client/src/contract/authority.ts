import { z } from 'zod';
import { endpoint } from './endpoint.js';
import { IdParams } from './bounds.js';

/**
 * What is in force, for the approver console's holds, halts, rollbacks and
 * overrides (issue 14 part 6): each listing also says which of these
 * authorities the policy gives the caller. Only a hint: each command judges
 * again, in ledger order, and records its refusal.
 */

const Scope = z.object({ environments: z.array(z.string()), classes: z.array(z.string()), actions: z.array(z.string()), targets: z.array(z.string()) });

export const HoldList = z.object({
  holds: z.array(
    z.object({
      id: z.string(),
      trip_gate: z.string(),
      scope: Scope,
      evidence: z.array(z.string()),
      incident: z.string().nullable(),
      reason: z.string(),
      opened_by: z.string().nullable(),
      opened_at: z.string(),
    }),
  ),
  trip_gates: z.array(z.object({ id: z.string(), description: z.string() })),
  you_may: z.object({ open: z.boolean(), add_evidence: z.boolean(), lift: z.boolean() }),
});
export type HoldList = z.output<typeof HoldList>;

const HaltScopeView = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('environment'), environment: z.string() }),
  z.object({ kind: z.literal('incident'), incident: z.string() }),
  z.object({ kind: z.literal('all') }),
]);

export const HaltList = z.object({
  halts: z.array(z.object({ id: z.string(), scope: HaltScopeView, reason: z.string(), issued_by: z.string().nullable(), issued_at: z.string() })),
  environments: z.array(z.string()),
  you_may: z.object({ halt: z.boolean() }),
});
export type HaltList = z.output<typeof HaltList>;

export const ArtifactList = z.object({
  artifacts: z.array(
    z.object({
      id: z.string(),
      reverses_step: z.string(),
      action: z.string(),
      environment: z.string(),
      target: z.string(),
      digest: z.string(),
      status: z.string(),
      registered_by: z.string().nullable(),
      registered_at: z.string(),
      execution: z.string().nullable(),
      you_may_run: z.boolean(),
    }),
  ),
});
export type ArtifactList = z.output<typeof ArtifactList>;

export const OverrideView = z.object({
  id: z.string(),
  status: z.enum(['requested', 'granted', 'denied']),
  body: z.record(z.string(), z.unknown()),
  body_hash: z.string(),
  hold: z.string().nullable(),
  step_digests: z.array(z.string()),
  incident: z.string().nullable(),
  requester: z.string().nullable(),
  request_surface: z.string().nullable(),
  requested_at: z.string(),
  decided_at: z.string().nullable(),
  lease: z.string().nullable(),
  codes: z.array(z.string()),
  /** The signer seats the caller's roles fit (`overrides.signer_a_roles`, `signer_b_roles`, budgets' extra signers); the gates judge the rest at submit. */
  you_may_sign: z.array(z.enum(['a', 'b', 'extra'])),
});
export type OverrideView = z.output<typeof OverrideView>;

export const AUTHORITY_ENDPOINTS = {
  listHolds: endpoint({
    method: 'GET',
    path: '/v1/holds',
    summary: "the open holds, the policy's trip gates, and whether the caller's roles may open, extend (add evidence) and lift holds",
    tag: 'holds',
    operation: 'trace',
    response: HoldList,
  }),
  listHalts: endpoint({
    method: 'GET',
    path: '/v1/halts',
    summary: "the active halts, and whether the caller holds halt authority (the policy's `halt.roles`)",
    tag: 'halts',
    operation: 'trace',
    response: HaltList,
  }),
  listRollbacks: endpoint({
    method: 'GET',
    path: '/v1/rollbacks',
    summary: "the registered rollback artifacts, newest first (200 at most), each with whether the caller's rollback authority covers it (the policy's `rollback.roles` and `environments`)",
    tag: 'rollbacks',
    operation: 'trace',
    response: ArtifactList,
  }),
  listOverrides: endpoint({
    method: 'GET',
    path: '/v1/overrides',
    summary: 'overrides waiting for their signatures (status `requested`), oldest first (200 at most), each with its exact body and body hash',
    tag: 'overrides',
    operation: 'trace',
    response: z.object({ overrides: z.array(OverrideView) }),
  }),
  override: endpoint({
    method: 'GET',
    path: '/v1/overrides/{id}',
    summary: 'an override as it stands: the exact body both signers sign, its hash, its status, its lease or the gates that denied it',
    tag: 'overrides',
    operation: 'trace',
    params: IdParams,
    response: OverrideView,
  }),
};
