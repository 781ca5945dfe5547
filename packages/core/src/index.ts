export { CountersignError, isCountersignError, type CoreErrorCode } from './errors.js';
export { assertCanonicalValue, canonicalBytes, canonicalJson, type CanonicalValue } from './canonical.js';
export { canonicalDigest, sha256, sha256Hex } from './digest.js';
export { formatDuration, parseDuration } from './policy/duration.js';
export * from './policy/schema.js';
export { principalForIdentity, type IdentityClaims, type UnmappedCode } from './policy/identity.js';
export {
  decodeEntry,
  ENTRY_VERSION,
  GENESIS_PREV_HASH,
  leafHash,
  sealEntry,
  type EntryDraft,
  type LedgerEntry,
  type SealedEntry,
} from './ledger/entry.js';
export type {
  AppendBuilder,
  AppendOptions,
  AppendPlan,
  AppendWithResult,
  LedgerHead,
  LedgerStore,
  ProjectionWrite,
  StoredCheckpoint,
  StoredProjection,
  TransactionalLedgerStore,
} from './ledger/store.js';
export {
  EMPTY_ROOT,
  HASH_SIZE,
  MerkleFrontier,
  merkleRoot,
  nodeHash,
  splitPoint,
  subtreeHash,
  type FrontierState,
  type LeafSource,
} from './ledger/merkle.js';
export {
  consistencyProof,
  decodeHash,
  inclusionProof,
  inclusionProofFromJson,
  inclusionProofToJson,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
  type ConsistencyProof,
  type InclusionProof,
  type InclusionProofJson,
} from './ledger/proof.js';
export {
  ed25519PrivateKeyFromSeed,
  ed25519Signer,
  formatVerifierKey,
  noteKeyId,
  noteVerifierKey,
  parseVerifierKey,
  newEd25519KeyPair,
  rawPublicKey,
  signerVerifierKey,
  type Ed25519KeyPair,
  type NoteVerifierKey,
  type Signer,
} from './ledger/key.js';
export { openNote, parseNote, signNote, type Note, type NoteSignature, type OpenedNote } from './ledger/note.js';
export {
  checkpointText,
  parseCheckpoint,
  parseCheckpointText,
  signCheckpoint,
  verifyCheckpoint,
  type Checkpoint,
  type ParsedCheckpoint,
  type VerifiedCheckpoint,
} from './ledger/checkpoint.js';
export {
  KEY_ROTATED,
  keyRotationStatement,
  signKeyRotation,
  verifyKeyRotation,
  type KeyRotationContext,
  type KeyRotationPayload,
} from './ledger/rotation.js';
export {
  createChainVerifier,
  createVerifier,
  type ChainVerifier,
  type LedgerVerifier,
  type TreeSink,
  type VerifierOptions,
  type VerifyFailureKind,
  type VerifyResult,
} from './ledger/verify.js';
export { VerifyTree, type PendingCheckpoint, type TreeState } from './ledger/verify-tree.js';
export {
  classifyExportLine,
  createExportVerifier,
  EXPORT_FORMAT_VERSION,
  exportCheckpointLine,
  exportEntryLine,
  exportHeaderLine,
  LineSplitter,
  type ExportLine,
  type ExportVerifier,
  type ExportVerifierOptions,
} from './ledger/export.js';
export {
  compilePolicy,
  ruleKey,
  type CompiledAction,
  type CompiledParam,
  type CompiledPolicy,
  type CompiledPrior,
  type CompiledRequirement,
  type CompiledRule,
} from './policy/compile.js';
export { DECISION_EFFECTS, DECISION_REASONS, type DecisionEffect, type DecisionReason } from './decision/reason.js';
export { parseProposal, parseStep, Proposal, ProposalStep, PROPOSAL_LIMITS, type ProposalInput } from './decision/proposal.js';
export { stepDigest } from './decision/digest.js';
export type { Decision, DecisionRequirements, SatisfiedPrerequisite } from './decision/decision.js';
export { decide, decideProposal, EMPTY_DECISION_STATE, type ActiveHold, type DecisionState } from './decision/decide.js';
export { loadPolicy, formatPolicyIssue, MAX_POLICY_BYTES, type LoadedPolicy, type PolicyIssue, type PolicySource, type SourcePosition } from './policy/load.js';
export { validatePolicy, type PolicyIssueCode, type PolicyIssueDraft, type PolicyPath } from './policy/validate.js';
export { normalisePolicy, policyBundleId } from './policy/bundle-id.js';
export {
  formatPolicyDiff,
  policyDiff,
  replayDiff,
  REPLAY_CHANGE_KINDS,
  staticDiff,
  type BundleRef,
  type DecisionSummary,
  type FieldChange,
  type PolicyDiff,
  type PolicyDiffOptions,
  type ReplayChange,
  type ReplayChangeKind,
  type ReplayDiff,
  type ReplayOptions,
  type SectionCount,
  type StaticChange,
  type StaticChangeKind,
  type StaticDiff,
} from './policy/diff.js';
export {
  GOLDEN_DEFAULT_NOW,
  GoldenCase,
  GoldenExecution,
  GoldenExpectation,
  GoldenGiven,
  GoldenHold,
  GoldenRequirements,
  type GoldenCaseInput,
} from './golden/case.js';
export {
  compareDecisions,
  formatDifference,
  goldenCoverage,
  goldenState,
  runGoldenCase,
  type GoldenCoverage,
  type GoldenDifference,
  type GoldenResult,
} from './golden/run.js';
export {
  APPROVAL_CHECK_ORDER,
  OVERRIDE_CODE_ORDER,
  type ApprovalRejectionCode,
  type AuthorityCode,
  type GrantClaimCode,
  type LeaseUseCode,
  type OverrideGateCode,
  type OverrideRejectionCode,
} from './authority/codes.js';
export { nfcDeep, parseUtc } from './authority/nfc.js';
export { buildRoster, formatPublicKey, parsePublicKey, type Roster, type RosterKey, type RosterPrincipal } from './policy/roster.js';
export {
  ApprovalStatement,
  attestStatement,
  isOwnKey,
  parseStatement,
  signStatement,
  statementBytes,
  verifyApprovalAttestation,
  verifyAttestation,
  verifyStatement,
  type ApprovalAttestation,
  type StatementVerification,
} from './approval/statement.js';
export {
  PASSKEY_ALGORITHMS,
  passkeyChallenge,
  passkeyPublicKey,
  verifyPasskeyAssertion,
  verifyPasskeySignature,
  type PasskeyAlgorithm,
  type PasskeyAssertion,
  type PasskeyJwk,
  type PasskeyKey,
  type WebAuthnAssertion,
} from './approval/passkey.js';
export { statementText, type AttestationKind, type StatementFields } from './approval/statement-text.js';
export { registerPasskey, revokePasskey, type PasskeyResult, type RegisterPasskeyCommand, type RevokePasskeyCommand } from './state/passkey.js';
export { assignQuorum, type QuorumFactorSpec, type QuorumSeat, type QuorumShortfall, type QuorumState } from './approval/quorum.js';
export {
  approvalEligibility,
  evaluateApproval,
  type AcceptedApproval,
  type ApprovalContext,
  type ApprovalEligibility,
  type ApprovalSubject,
  type ApprovalEvaluation,
  type ApprovalRequestState,
  type ApprovalRequirementSpec,
  type DeliveringCredential,
  type IncomingApproval,
} from './approval/independence.js';
export { OverrideBody, overrideBodyHash, overrideBodyValue, parseOverrideBody } from './override/body.js';
export {
  overrideEvidenceHash,
  overridePasskeyChallenge,
  overrideSignatureBytes,
  signOverride,
  verifyOverrideSignature,
  type OverrideKeySignature,
  type OverridePasskeySignature,
  type OverrideSignature,
  type OverrideSignatureKind,
  type OverrideSignerClaim,
  type PasskeyLookup,
  type SignerRole,
} from './override/evidence.js';
export { overrideBodyText, overrideSignatureText } from './override/signature-text.js';
export {
  checkLeaseUse,
  evaluateOverride,
  maxDurationMs,
  SIGNING_SKEW_MS,
  type LeaseSigner,
  type LeaseUse,
  type LeaseUseState,
  type OverrideContext,
  type OverrideEvaluation,
  type OverrideFinding,
  type OverrideHold,
  type OverrideLease,
  type OverrideStep,
  type RollbackArtifactState,
} from './override/gates.js';
export { budgetStanding, budgetUsed, nearExhaustion, type BudgetStanding, type OverrideBudget, type PastOverride } from './override/budget.js';
export { checkGrantClaims, GrantClaims, parseGrantClaims, type GrantCheckContext, type GrantClaimCheck } from './grant/claims.js';
export {
  ENTRY_TYPES,
  isEntryType,
  REJECTION_TYPES,
  stepId,
  toDraft,
  uniqueKey,
  type EntryPayloads,
  type PasskeyEvidence,
  type EntryType,
  type ExecutionOutcome,
  type HaltScopeData,
  type HoldScopeData,
  type LeaseScopeData,
  type Operation,
  type RequirementsData,
  type GoldenSummaryData,
  type DiffSummaryData,
  type SignerData,
  type StepBody,
  type TypedDraft,
  type TypedEntry,
} from './state/entries.js';
export {
  entryIssueText,
  parseEntries,
  parseEntry,
  type AuthorityEntry,
  type AuthorityPayloads,
  type EntryEnvelope,
  type EntryIssue,
  type OverrideBodyRecord,
  type ParsedEntry,
} from './state/parse.js';
export { COMMAND_CODES, type CommandCode, type StateRejectionCode } from './state/codes.js';
export {
  activeHolds,
  BUNDLE_ROW_ID,
  createState,
  decisionState,
  PROJECTION_KINDS,
  projectionKey,
  projectionRow,
  projectionRows,
  type ApprovalRecord,
  type ArtifactRecord,
  type AuthorityState,
  type BudgetRecord,
  type BundleRecord,
  type ExecutionRecord,
  type GrantRecord,
  type HaltRecord,
  type HoldRecord,
  type LeaseRecord,
  type OverrideRecord,
  type PasskeyRecord,
  type ProjectionKind,
  type ProjectionRef,
  type ProjectionRow,
  type ProposalRecord,
  type ReleaseRecord,
  type RequestRecord,
  type StepRecord,
} from './state/state.js';
export { evictCommitted, isTieredKind, RecordTable, tierState, type RecordSource, type TieredKind } from './state/records.js';
export { applyEntries, applyEntry } from './state/reduce.js';
export {
  awaitsRollback,
  grantTokenClaims,
  openRequests,
  requestsForDigest,
  type Caller,
  type CommandContext,
  type CommandOutput,
  type IdGenerator,
  type IdKind,
  type IssuedGrant,
  type Refusal,
} from './state/command.js';
export { runCommand, expire, requestExpired, type Command, type CommandResult, type ExpireCommand, type ExpireResult } from './state/commands.js';
export { propose, type ProposeCommand, type ProposeResult, type StepOutcome } from './state/propose.js';
export { approve, mayApprove, type ApprovalCommand, type ApprovalResult } from './state/approve.js';
export {
  consumeGrant,
  reportOutcome,
  useLease,
  type ConsumeCommand,
  type ExecutionResult,
  type OutcomeCommand,
  type OutcomeResult,
  type PresentedStep,
  type UseLeaseCommand,
} from './state/execute.js';
export { addHoldEvidence, liftHold, openHold, type AddEvidenceCommand, type HoldResult, type LiftHoldCommand, type OpenHoldCommand } from './state/hold.js';
export {
  pastOverrides,
  requestOverride,
  submitOverride,
  type RequestOverrideCommand,
  type RequestOverrideResult,
  type SubmitOverrideCommand,
  type SubmitOverrideResult,
} from './state/override.js';
export {
  registerRollback,
  runRollback,
  type RegisterRollbackCommand,
  type RegisterRollbackResult,
  type RunRollbackCommand,
  type RunRollbackResult,
} from './state/rollback.js';
export { halt, liftHalt, type HaltCommand, type HaltResult, type LiftHaltCommand } from './state/halt.js';
export { activateBundle, type ActivateBundleCommand, type ActivateBundleResult } from './state/bundle.js';
export { shadowDecision, shadowReport, type ShadowReport, type ShadowWindow } from './policy/shadow.js';
export { unsatisfiable, type ApproverRequirement, type RosterCandidate, type Unsatisfiable, type UnsatisfiableCode } from './policy/satisfiable.js';
export {
  approveRelease,
  proposeRelease,
  releaseDigest,
  releaseRules,
  storedPolicy,
  type ApproveReleaseCommand,
  type ApproveReleaseResult,
  type ProposeReleaseCommand,
  type ProposeReleaseResult,
} from './state/release.js';
export { AuthorityMachine, counterIds, rebuildState, type MachineStep } from './state/machine.js';
export { buildTrace, traceKind, type Trace, type TraceExecution, type TraceKind, type TraceLine, type TraceStep } from './trace/trace.js';
export { describeEntry, entryCodes, entryRuleIds } from './trace/describe.js';
export { checkTraceContract, type TraceField, type TraceProblem } from './trace/check.js';
export { proveTrace, type TraceLineProof, type TraceProofs } from './trace/prove.js';
export { formatTrace, type TraceReport } from './trace/format.js';
export { CLASS_MEANINGS, FAILURE_CLASSES, type ClassMeaning, type FailureClass } from './postmortem/taxonomy.js';
export {
  classify,
  type ClassFindings,
  type ClassifyOptions,
  type Finding,
  type Postmortem,
  type PostmortemScope,
  type StoppedAttempt,
} from './postmortem/classify.js';
export { formatPostmortem, formatPostmortemMarkdown } from './postmortem/format.js';
export { formatOverrideReport, median, overrideReport, type CountRow, type OverrideReport, type OverrideReportOptions } from './report/overrides.js';
