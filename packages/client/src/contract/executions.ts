import { z } from 'zod';
import { ProposalStep } from '@countersign/core';
import { endpoint, type DeepReadonly } from './endpoint.js';
import { Id, IdParams, MAX_GRANT_TOKEN_LENGTH, ShortText } from './bounds.js';

/** The step as the executor will run it: the gateway compares it by digest with what was granted. */
export const PresentedStep = ProposalStep.pick({ action: true, environment: true, target: true, params: true });
export type PresentedStep = DeepReadonly<z.input<typeof PresentedStep>>;

export const ExecutionOutcome = z.enum(['succeeded', 'failed', 'ambiguous']);
export type ExecutionOutcome = z.output<typeof ExecutionOutcome>;

export const ExecutionResult = z.object({ execution: z.string() });
export type ExecutionResult = z.output<typeof ExecutionResult>;

export const OutcomeResult = z.object({ execution: z.string(), outcome: ExecutionOutcome });
export type OutcomeResult = z.output<typeof OutcomeResult>;

export const EXECUTION_ENDPOINTS = {
  /** Consume a grant: body `{ grant: <compact JWS>, step? }`; answers with the execution id. */
  execute: endpoint({
    method: 'POST',
    path: '/v1/executions',
    summary: 'consume a grant, once: holds, halts, bundle, expiry and prerequisites are checked again now; run the step only on success',
    tag: 'executions',
    operation: 'execute',
    body: z.strictObject({ grant: z.string().min(1).max(MAX_GRANT_TOKEN_LENGTH), step: PresentedStep.optional() }),
    response: ExecutionResult,
    status: 201,
  }),
  /** Run one step an override lease lists: body `{ step: <step id>, presented? }`. */
  executeWithLease: endpoint({
    method: 'POST',
    path: '/v1/leases/{id}/executions',
    summary: 'run one step an override lease lists, inside its window, at most once',
    tag: 'executions',
    operation: 'execute',
    params: IdParams,
    body: z.strictObject({ step: Id, presented: PresentedStep.optional() }),
    response: ExecutionResult,
    status: 201,
  }),
  reportOutcome: endpoint({
    method: 'POST',
    path: '/v1/executions/{id}/outcome',
    summary: 'report how an execution ended: succeeded, failed or ambiguous',
    tag: 'executions',
    operation: 'report_outcome',
    params: IdParams,
    body: z.strictObject({ outcome: ExecutionOutcome, detail: ShortText.optional() }),
    response: OutcomeResult,
  }),
};
