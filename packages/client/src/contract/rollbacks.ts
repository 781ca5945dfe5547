import { z } from 'zod';
import { ProposalStep } from '@countersign/core';
import { endpoint, type DeepReadonly } from './endpoint.js';
import { Id, IdParams } from './bounds.js';

export const RollbackRegistration = z.strictObject({ step: Id, action: Id, target: z.string().min(1).max(300), params: ProposalStep.shape.params.optional() });
export type RollbackRegistration = DeepReadonly<z.input<typeof RollbackRegistration>>;

export const RollbackRegistered = z.object({
  artifact: z.string(),
  digest: z.string(),
  /** The reversed step's grant, when this released it and the caller proposed the step; otherwise null. */
  grant: z.string().nullable(),
  step_granted: z.boolean(),
});
export type RollbackRegistered = z.output<typeof RollbackRegistered>;

export const RollbackRun = z.object({ artifact: z.string(), execution: z.string(), revoked_leases: z.array(z.string()) });
export type RollbackRun = z.output<typeof RollbackRun>;

export const ROLLBACK_ENDPOINTS = {
  registerRollback: endpoint({
    method: 'POST',
    path: '/v1/rollbacks',
    summary: "register the rollback of a step (its own action, target, parameters and digest); may release the step's grant",
    tag: 'rollbacks',
    operation: 'rollback_register',
    body: RollbackRegistration,
    response: RollbackRegistered,
    status: 201,
  }),
  rollback: endpoint({
    method: 'POST',
    path: '/v1/rollbacks/{id}/run',
    summary: 'run a registered rollback artifact (rollback authority, no new quorum); revokes the live leases of its scope',
    tag: 'rollbacks',
    operation: 'rollback',
    params: IdParams,
    body: z.strictObject({}).optional(),
    response: RollbackRun,
  }),
};
