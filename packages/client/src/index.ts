/**
 * @countersign/client: what agents and executors install.
 * Fetch-based, no native dependencies.
 */
export const CLIENT_VERSION = '0.1.0';
export { CountersignClientError, isCountersignClientError, type ClientErrorCode, type ServerErrorCode } from './errors.js';
export { endpointUrl, ENDPOINTS, type Endpoint, type EndpointName } from './endpoints.js';
export { CountersignClient, type ClientOptions, type FetchLike, type RequestFilter, type StreamOptions } from './client.js';
/** The answers and bodies of the HTTP API, as the contract types them (`@countersign/client/contract` has their schemas). */
export type {
  ApprovalResult,
  BundleActivation,
  Checkpoint,
  DecisionsResult,
  Effect,
  ErrorCode,
  ExecutionOutcome,
  ExecutionResult,
  HaltRequest,
  HaltResult,
  Health,
  HoldRequest,
  HoldResult,
  InclusionProof,
  LeaseGranted,
  LedgerHead,
  ListedRequestView,
  OutcomeResult,
  OverrideOpened,
  OverrideRequest,
  PasskeyList,
  PasskeyView,
  PolicySummary,
  PresentedStep,
  ProposalResult,
  ProposedRelease,
  Readiness,
  Release,
  ReleaseSigned,
  ReleaseWithReport,
  RequestPage,
  RequestState,
  RequestView,
  RollbackRegistered,
  RollbackRun,
  ShadowRun,
  SignedStatement,
  StepResult,
  TokenIssued,
  TokenRecord,
} from './contract/index.js';
export { verifyGrant, type GrantExpectation, type GrantPublicKey, type VerifyGrantOptions } from './grant.js';
export { guardTool, type GuardedStep, type GuardOptions, type PendingApproval } from './guard.js';
