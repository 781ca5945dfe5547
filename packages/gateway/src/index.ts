export { GatewayError, type GatewayErrorCode } from './errors.js';
export { openStore, type StoreConfig } from './store/open.js';
export { SqliteLedgerStore, type SqliteStoreOptions, type SqliteSynchronous } from './store/sqlite.js';
export { PostgresLedgerStore, type PostgresStoreOptions } from './store/postgres.js';
export { DEFAULT_LEDGER_ORIGIN, signedCheckpoints, type CheckpointSchedule } from './ledger/checkpoint-scheduler.js';
export type { SequencerObserver } from './ledger/observer.js';
export { THREADED_VERIFY_DEFAULTS, ThreadedVerifier, type ThreadedVerifierOptions } from './ledger/threaded-verify.js';
export { generateKeyPair, loadPrivateKey, loadPublicKey, publicKeyOf, publicKeyPathFor, type KeyPairPaths } from './keys.js';
export {
  authenticate,
  authorize,
  callerOf,
  issueCredential,
  isOperation,
  OPERATIONS,
  revokeCredential,
  TOKEN_PREFIX,
  type AuthorityRoster,
  type Identity,
  type IssuedCredential,
  type IssueRequest,
  type Operation,
} from './auth/credentials.js';
export {
  openCredentialStore,
  PostgresCredentialStore,
  SqliteCredentialStore,
  type CredentialRecord,
  type CredentialStore,
  type StoredCredential,
} from './auth/credential-store.js';
export { createGuard, identityOf, requireAuth, type AuthorityView, type Guard, type GuardOptions } from './auth/hook.js';
export {
  signWebhook,
  SIGNATURE_HEADER,
  verifyWebhookSignature,
  WebhookNotifier,
  type ApprovalRequested,
  type ApprovalRequestedEvent,
  type DeliveryError,
  type WebhookDelivery,
  type WebhookNotifierOptions,
  type WebhookTarget,
} from './notify/webhook.js';
export { Gateway, type ApprovalInput, type AttestationInput, type ExecuteInput, type GatewayOptions, type GatewayResult, type PolicyInput, type Success } from './service/gateway.js';
export { replayCheck, type ProjectionDifference, type ReplayReport } from './service/replay.js';
export { CommandSequencer, DEFAULT_MAX_BATCH, type CommandJob, type CommandSequencerOptions, type Committed, type Evaluate } from './service/command-sequencer.js';
export { MAX_GRANT_TOKEN_LENGTH, signGrantToken, verifyGrantToken } from './service/grant-token.js';
export { randomIds } from './service/ids.js';
export { createObservability, startTracing, type Observability, type ObservabilityOptions, type StateSource, type TracingOptions, type TracingSetup } from './observability/index.js';
