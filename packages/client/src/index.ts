/**
 * @countersign/client: what agents and executors install.
 * Fetch-based, no native dependencies.
 */
export const CLIENT_VERSION = '0.1.0';
export { CountersignClientError, isCountersignClientError, type ClientErrorCode, type ServerErrorCode } from './errors.js';
export { endpointUrl, ENDPOINTS, type EndpointName } from './endpoints.js';
export {
  CountersignClient,
  type ClientOptions,
  type Effect,
  type ExecutionOutcome,
  type ExecutionResult,
  type FetchLike,
  type OutcomeResult,
  type PresentedStep,
  type ProposalResult,
  type RequestState,
  type RequestView,
  type SignedStatement,
  type StepResult,
} from './client.js';
export { verifyGrant, type GrantExpectation, type GrantPublicKey, type VerifyGrantOptions } from './grant.js';
export { guardTool, type GuardedStep, type GuardOptions } from './guard.js';
