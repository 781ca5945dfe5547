/**
 * @countersign/client: what agents and executors install.
 * Fetch-based, no native dependencies.
 */
export const CLIENT_VERSION = '0.1.0';
export { CountersignClientError, isCountersignClientError, type ClientErrorCode, type ServerErrorCode } from './errors.js';
export { endpointUrl, ENDPOINTS, type Endpoint, type EndpointName } from './endpoints.js';
export {
  CountersignClient,
  type BundleActivation,
  type Release,
  type Checkpoint,
  type ClientOptions,
  type DecisionsResult,
  type Effect,
  type ExecutionOutcome,
  type ExecutionResult,
  type FetchLike,
  type Health,
  type InclusionProof,
  type LedgerHead,
  type OutcomeResult,
  type PolicySummary,
  type PresentedStep,
  type ProposalResult,
  type Readiness,
  type RequestState,
  type RequestFilter,
  type RequestPage,
  type RequestView,
  type TokenRecord,
  type SignedStatement,
  type StepResult,
  type StreamOptions,
} from './client.js';
export { verifyGrant, type GrantExpectation, type GrantPublicKey, type VerifyGrantOptions } from './grant.js';
export { guardTool, type GuardedStep, type GuardOptions, type PendingApproval } from './guard.js';
