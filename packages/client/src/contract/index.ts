/**
 * @countersign/client/contract: the one HTTP contract (ADR 005). Every route
 * of the gateway with its method, path, operation and the zod schemas of its
 * parameters, query, body and answer; every error code with its HTTP status.
 * The gateway serves and validates by these objects and publishes them as
 * `/openapi.json`; the SDK calls by them and types its answers with them.
 */
import { AUTHORITY_ENDPOINTS } from './authority.js';
import type { Endpoint } from './endpoint.js';
import { EXECUTION_ENDPOINTS } from './executions.js';
import { HALT_ENDPOINTS } from './halts.js';
import { HOLD_ENDPOINTS } from './holds.js';
import { LEDGER_ENDPOINTS } from './ledger.js';
import { OPERATION_ENDPOINTS } from './operations.js';
import { OVERRIDE_ENDPOINTS } from './overrides.js';
import { PASSKEY_ENDPOINTS } from './passkeys.js';
import { POLICY_ENDPOINTS } from './policy.js';
import { PROPOSAL_ENDPOINTS } from './proposals.js';
import { REQUEST_ENDPOINTS } from './requests.js';
import { ROLLBACK_ENDPOINTS } from './rollbacks.js';
import { TOKEN_ENDPOINTS } from './tokens.js';

/** Every route the gateway serves except `GET /openapi.json`, which is this table as a document. */
export const ENDPOINTS = {
  ...PROPOSAL_ENDPOINTS,
  ...REQUEST_ENDPOINTS,
  ...EXECUTION_ENDPOINTS,
  ...HOLD_ENDPOINTS,
  ...OVERRIDE_ENDPOINTS,
  ...ROLLBACK_ENDPOINTS,
  ...HALT_ENDPOINTS,
  ...AUTHORITY_ENDPOINTS,
  ...POLICY_ENDPOINTS,
  ...TOKEN_ENDPOINTS,
  ...PASSKEY_ENDPOINTS,
  ...LEDGER_ENDPOINTS,
  ...OPERATION_ENDPOINTS,
} satisfies Record<string, Endpoint>;

export type EndpointName = keyof typeof ENDPOINTS;

export { endpoint, mediaType, queryNames, type AnswerOf, type BodyOf, type DeepReadonly, type Endpoint } from './endpoint.js';
export { ArtifactList, HaltList, HoldList, OverrideView } from './authority.js';
export { ERROR_STATUS, ErrorBody, isErrorCode, statusOfCode, type ErrorCode } from './errors.js';
export { Digest, Id, ID_MAX_LENGTH, IdParams, Instant, LongText, MAX_GRANT_TOKEN_LENGTH, Names, ShortText } from './bounds.js';
export { DecisionsResult, Effect, ProposalResult, StepResult } from './proposals.js';
export { ApprovalResult, ApprovalView, Attestation, ListedRequestView, Remaining, RequestPage, RequestState, RequestView, Requirements, SignedStatement } from './requests.js';
export { ExecutionOutcome, ExecutionResult, OutcomeResult, PresentedStep } from './executions.js';
export { HoldRequest, HoldResult } from './holds.js';
export { HaltRequest, HaltResult, HaltScope } from './halts.js';
export { LeaseGranted, OverrideOpened, OverrideRequest, OverrideSignature } from './overrides.js';
export { RollbackRegistered, RollbackRegistration, RollbackRun } from './rollbacks.js';
export { BundleActivation, MAX_GOLDEN_FILES, PolicySummary, ProposedRelease, Release, ReleaseProposal, ReleaseSignature, ReleaseSigned, ReleaseWithReport, ShadowRun } from './policy.js';
export { Checkpoint, InclusionProof, LedgerHead, TraceResult } from './ledger.js';
export { TokenIssue, TokenIssued, TokenList, TokenRecord } from './tokens.js';
export { PasskeyCreationOptions, PasskeyList, PasskeyRegistration, PasskeyView } from './passkeys.js';
export { Health, Readiness } from './operations.js';
