import type { CanonicalValue } from '../canonical.js';
import type { PasskeyAlgorithm, PasskeyJwk } from '../approval/passkey.js';
import type { ActiveHold, DecisionState } from '../decision/decide.js';
import type { ActionClass } from '../policy/schema.js';
import { RecordTable } from './records.js';
import type {
  DiffSummaryData,
  GoldenSummaryData,
  ExecutionOutcome,
  GrantRevocationReason,
  HaltScopeData,
  HoldScopeData,
  LeaseRevocationReason,
  LeaseScopeData,
  OverrideBodyData,
  RequirementsData,
} from './entries.js';

/**
 * The authority state: a projection of the ledger, changed only by
 * `applyEntry` (ADR 002 §2). Records are plain canonical objects so that a
 * projection row is the record itself and `ledger replay --check` can
 * compare rows byte for byte. Timestamps are the RFC 3339 strings of the
 * entries that set them.
 *
 * The records are mutable inside the reducer and read-only everywhere else.
 */

type Json = CanonicalValue;

export type ProposalRecord = {
  id: string;
  agent: string;
  on_behalf_of: string;
  surface: string;
  credential: string | null;
  incident: string | null;
  steps: string[];
  bundle_id: string | null;
  received_at: string;
  seq: number;
};

export type StepRecord = {
  id: string;
  proposal: string;
  index: number;
  action: string;
  environment: string;
  target: string;
  params: { readonly [key: string]: Json };
  rationale: string | null;
  expected_consequence: string | null;
  incident: string | null;
  /** Latest decision; a bundle change decides the step again. */
  effect: 'allow' | 'require_approval' | 'deny' | 'held';
  risk: string | null;
  class: string | null;
  rule_ids: readonly string[];
  reasons: readonly string[];
  digest: string | null;
  bundle_id: string | null;
  requirements: RequirementsData | null;
  decided_at: string;
  /** The open or last request for this step. */
  request: string | null;
  /** True once the step has the authority a grant needs: an `allow`, or an approved request. */
  authorized: boolean;
  grants: readonly string[];
  artifact: string | null;
  executions: readonly string[];
};

export type ApprovalRecord = {
  approver: string;
  decision: 'approve' | 'deny';
  roles: readonly string[];
  surface: string;
  credential: string;
  attestation: 'key' | 'gateway' | 'passkey';
  key_id: string | null;
  signed_at: string;
  seq: number;
};

export type RequestStatus = 'open' | 'approved' | 'denied' | 'expired' | 'voided';

export type RequestRecord = {
  id: string;
  step: string;
  proposal: string;
  digest: string;
  bundle_id: string | null;
  action: string;
  environment: string;
  target: string;
  risk: string;
  agent: string;
  on_behalf_of: string;
  surface: string;
  /** Every credential that took part: the proposer's, then each accepted approver's. */
  credentials: string[];
  requirements: RequirementsData;
  opened_at: string;
  expires_at: string;
  status: RequestStatus;
  approvals: ApprovalRecord[];
  rejected: number;
  closed_at: string | null;
  rule_ids: readonly string[];
};

export type GrantStatus = 'issued' | 'consumed' | 'revoked' | 'expired';

export type GrantRecord = {
  jti: string;
  step: string;
  proposal: string;
  request: string | null;
  digest: string;
  action: string;
  environment: string;
  target: string;
  bundle_id: string;
  incident: string | null;
  issued_at: string;
  expires_at: string;
  status: GrantStatus;
  revoked_reason: GrantRevocationReason | null;
  execution: string | null;
  rejected: number;
  rule_ids: readonly string[];
};

export type ExecutionRecord = {
  id: string;
  /** `direct`: the one-call path, executed in the commit that decided the step allowed. */
  via: 'grant' | 'lease' | 'rollback' | 'direct';
  grant: string | null;
  lease: string | null;
  artifact: string | null;
  step: string | null;
  action: string;
  environment: string;
  target: string;
  digest: string;
  executor: string | null;
  credential: string | null;
  started_at: string;
  outcome: ExecutionOutcome | null;
  outcome_at: string | null;
  detail: string | null;
};

export type HoldRecord = {
  id: string;
  trip_gate: string;
  scope: HoldScopeData;
  evidence: string[];
  incident: string | null;
  reason: string;
  status: 'open' | 'lifted';
  opened_by: string | null;
  opened_at: string;
  lifted_by: string | null;
  lifted_at: string | null;
};

export type OverrideRecord = {
  id: string;
  body: OverrideBodyData;
  body_hash: string;
  hold: string | null;
  step_digests: string[];
  incident: string | null;
  requester: string | null;
  surface: string | null;
  credential: string | null;
  status: 'requested' | 'granted' | 'denied';
  codes: string[];
  lease: string | null;
  requested_at: string;
  decided_at: string | null;
};

export type LeaseRecord = {
  id: string;
  override: string;
  hold: string | null;
  step_digests: string[];
  environments: string[];
  scope: LeaseScopeData;
  trip_gate_ack: string | null;
  valid_from: string;
  valid_to: string;
  reason_code: string;
  rollback_artifact: string;
  incident: string | null;
  signers: string[];
  evidence_hash: string;
  bundle_id: string | null;
  status: 'live' | 'revoked';
  revoked_reason: LeaseRevocationReason | null;
  /** Step digest -> execution id: each digest at most once. */
  used: { [digest: string]: string };
  /** Step digest -> the execution under another authority that retired it (`lease.step_retired`). */
  retired: { [digest: string]: string };
  clock_breaches: string[];
  granted_at: string;
};

export type ArtifactRecord = {
  id: string;
  reverses_step: string;
  action: string;
  environment: string;
  target: string;
  params: { [key: string]: Json };
  digest: string;
  bundle_id: string | null;
  status: 'ready' | 'executed';
  registered_by: string | null;
  registered_at: string;
  execution: string | null;
};

export type HaltRecord = {
  id: string;
  scope: HaltScopeData;
  reason: string;
  status: 'active' | 'lifted';
  issued_by: string | null;
  issued_at: string;
  lifted_by: string | null;
  lifted_at: string | null;
};

export type ReleaseStatus = 'open' | 'activated' | 'denied' | 'expired' | 'superseded';

/** A candidate bundle on its way to activation (issue 13): proposed, signed, activated or not. */
export type ReleaseRecord = {
  id: string;
  candidate: string;
  name: string;
  previous_bundle_id: string | null;
  golden: GoldenSummaryData | null;
  diff: DiffSummaryData;
  release_digest: string;
  requirements: RequirementsData;
  proposer: string | null;
  surface: string | null;
  /** The proposer's credential, then each accepted signer's. */
  credentials: string[];
  bundle_id: string | null;
  proposed_at: string;
  expires_at: string;
  status: ReleaseStatus;
  signatures: ApprovalRecord[];
  rejected: number;
  closed_at: string | null;
};

export type BundleRecord = {
  bundle_id: string | null;
  name: string | null;
  activated_at: string | null;
  activated_by: string | null;
  previous: string[];
};

export type BudgetRecord = {
  environment: string;
  /** Times overrides were granted in this environment, oldest first. */
  granted_at: string[];
};

/**
 * A passkey registered to a principal from a signed-in console session
 * (issue 14, ADR 004): the registry an approval's passkey signature is
 * checked against, by the gateway and offline. Revoked passkeys stay, with
 * when and by whom: approvals they signed before still verify.
 */
export type PasskeyRecord = {
  credential_id: string;
  principal: string;
  public_key: PasskeyJwk;
  algorithm: PasskeyAlgorithm;
  rp_id: string;
  origin: string;
  /** The identity-provider identity the registering session signed in as; null for a development token sign-in. */
  identity: { issuer: string; subject: string } | null;
  /** The session credential that registered it. */
  credential: string;
  registered_at: string;
  revoked_at: string | null;
  revoked_by: string | null;
};

export interface AuthorityState {
  bundle: BundleRecord;
  /** The three tables that grow with every proposal: tiered on a store that reads synchronously (ADR 006, `records.ts`). */
  proposals: RecordTable<ProposalRecord>;
  steps: RecordTable<StepRecord>;
  requests: Map<string, RequestRecord>;
  grants: RecordTable<GrantRecord>;
  executions: Map<string, ExecutionRecord>;
  holds: Map<string, HoldRecord>;
  overrides: Map<string, OverrideRecord>;
  leases: Map<string, LeaseRecord>;
  artifacts: Map<string, ArtifactRecord>;
  halts: Map<string, HaltRecord>;
  budgets: Map<string, BudgetRecord>;
  releases: Map<string, ReleaseRecord>;
  passkeys: Map<string, PasskeyRecord>;
  /** Indexes, rebuilt by the reducer and never projected: they follow from the records. */
  index: {
    /** Bundle id -> its normalised text, from `bundle.activated` and `release.proposed`: what a replica compiles. */
    bundleTexts: Map<string, CanonicalValue>;
    openRequests: Set<string>;
    liveGrants: Set<string>;
    liveLeases: Set<string>;
    openHolds: Set<string>;
    activeHalts: Set<string>;
    /** `action|environment|target` -> epoch ms of the latest succeeded execution. */
    lastSuccess: Map<string, number>;
    /**
     * Step digest -> ids of the requests opened for it, oldest first: what a
     * retried one-call proposal (`resume=true`) looks its request up in,
     * instead of reading every request ever opened (ADR 006).
     */
    requestsByDigest: Map<string, string[]>;
    /**
     * Step digest -> ids of the steps decided with it, in the order they were
     * decided: what an override request finds its steps in. A step decided
     * again under another bundle stays listed under its old digest too;
     * readers compare the step's own.
     */
    stepsByDigest: Map<string, string[]>;
    /** Steps whose decision needs a rollback and that have not run: those a bundle activation may decide again for it. */
    rollbackSteps: Set<string>;
  };
  /** Sequence number of the last entry applied; -1 before any. */
  seq: number;
}

export function createState(): AuthorityState {
  return {
    bundle: { bundle_id: null, name: null, activated_at: null, activated_by: null, previous: [] },
    proposals: new RecordTable('proposal'),
    steps: new RecordTable('step'),
    requests: new Map(),
    grants: new RecordTable('grant'),
    executions: new Map(),
    holds: new Map(),
    overrides: new Map(),
    leases: new Map(),
    artifacts: new Map(),
    halts: new Map(),
    budgets: new Map(),
    releases: new Map(),
    passkeys: new Map(),
    index: {
      bundleTexts: new Map(),
      openRequests: new Set(),
      liveGrants: new Set(),
      liveLeases: new Set(),
      openHolds: new Set(),
      activeHalts: new Set(),
      lastSuccess: new Map(),
      requestsByDigest: new Map(),
      stepsByDigest: new Map(),
      rollbackSteps: new Set(),
    },
    seq: -1,
  };
}

export function successKey(action: string, environment: string, target: string): string {
  // Action ids and environments cannot contain `|`; targets may, so they go last.
  return `${action}|${environment}|${target}`;
}

/** The open holds as decide() reads them. */
export function activeHolds(state: AuthorityState): ActiveHold[] {
  const holds: ActiveHold[] = [];
  for (const id of state.index.openHolds) {
    const hold = state.holds.get(id);
    if (!hold) continue;
    holds.push({
      id: hold.id,
      trip_gate: hold.trip_gate,
      scope: {
        environments: hold.scope.environments,
        classes: hold.scope.classes as ActionClass[],
        actions: hold.scope.actions,
        targets: hold.scope.targets,
      },
    });
  }
  return holds;
}

/** The read-only view decide() needs. */
export function decisionState(state: AuthorityState): DecisionState {
  return {
    holds: activeHolds(state),
    lastSucceeded: (action, environment, target) => state.index.lastSuccess.get(successKey(action, environment, target)),
  };
}

// ---------------------------------------------------------------------------
// Projections (ADR 002 §4): one row per (kind, id), the value being the record.

export const PROJECTION_KINDS = [
  'bundle',
  'proposal',
  'step',
  'request',
  'grant',
  'execution',
  'hold',
  'override',
  'lease',
  'artifact',
  'halt',
  'budget',
  'release',
  'passkey',
] as const;
export type ProjectionKind = (typeof PROJECTION_KINDS)[number];

export interface ProjectionRef {
  readonly kind: ProjectionKind;
  readonly id: string;
}

/** One string per projection row, for sets and maps of rows (kinds and ids hold no NUL). */
export function projectionKey(kind: string, id: string): string {
  return `${kind}\u0000${id}`;
}

export interface ProjectionRow extends ProjectionRef {
  readonly value: CanonicalValue;
}

/** The singleton bundle row's id. */
export const BUNDLE_ROW_ID = 'active';

function tableOf(state: AuthorityState, kind: Exclude<ProjectionKind, 'bundle'>): Map<string, CanonicalValue> {
  switch (kind) {
    case 'proposal':
      return state.proposals as Map<string, CanonicalValue>;
    case 'step':
      return state.steps as Map<string, CanonicalValue>;
    case 'request':
      return state.requests as Map<string, CanonicalValue>;
    case 'grant':
      return state.grants as Map<string, CanonicalValue>;
    case 'execution':
      return state.executions as Map<string, CanonicalValue>;
    case 'hold':
      return state.holds as Map<string, CanonicalValue>;
    case 'override':
      return state.overrides as Map<string, CanonicalValue>;
    case 'lease':
      return state.leases as Map<string, CanonicalValue>;
    case 'artifact':
      return state.artifacts as Map<string, CanonicalValue>;
    case 'halt':
      return state.halts as Map<string, CanonicalValue>;
    case 'budget':
      return state.budgets as Map<string, CanonicalValue>;
    case 'release':
      return state.releases as Map<string, CanonicalValue>;
    case 'passkey':
      return state.passkeys as Map<string, CanonicalValue>;
  }
}

/**
 * The current value of one projection row, or null when it does not exist.
 * The value is the live record: serialise it before the state changes again.
 */
export function projectionRow(state: AuthorityState, ref: ProjectionRef): CanonicalValue | null {
  if (ref.kind === 'bundle') return ref.id === BUNDLE_ROW_ID ? (state.bundle as CanonicalValue) : null;
  return tableOf(state, ref.kind).get(ref.id) ?? null;
}

/** Every row, in kind order then insertion order: what `ledger replay --check` compares with the stored rows. */
export function projectionRows(state: AuthorityState): ProjectionRow[] {
  const rows: ProjectionRow[] = [];
  for (const kind of PROJECTION_KINDS) {
    if (kind === 'bundle') {
      rows.push({ kind, id: BUNDLE_ROW_ID, value: state.bundle as CanonicalValue });
      continue;
    }
    for (const [id, value] of tableOf(state, kind)) rows.push({ kind, id, value });
  }
  return rows;
}
