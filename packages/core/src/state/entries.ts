import type { CanonicalValue } from '../canonical.js';
import type { EntryDraft, LedgerEntry } from '../ledger/entry.js';
import type { PasskeyKey } from '../approval/passkey.js';

/**
 * The catalog of ledger entry types the authority state machine writes and
 * `applyEntry` reads (ADR 002). Each type maps to its payload; `subjects`
 * name what the entry is about with these keys:
 *
 *   proposal, step, request, grant, execution, hold, override, lease,
 *   artifact, halt, incident, bundle (activation and what it revoked),
 *   target (the id a refused call named, in `authority.rejected`)
 *
 * Step ids are `<proposal>.<index>`. Top-level `actor`, `surface` and
 * `bundle_id` of the entry say who acted, through which surface, under which
 * bundle; every payload that records an authority decision adds the
 * `credential` used and the `rule_ids` that decided (the trace fields of
 * issue 6). Payloads are canonical values only: strings, safe integers,
 * booleans, null, arrays and objects; timestamps are RFC 3339 strings.
 *
 * INVARIANT: payloads are versioned with the entry format (`v`); a field is
 * never reinterpreted, only added, so every ledger ever written replays.
 */

type Json = CanonicalValue;

/** Who made the call: the credential id is the trace field; actor and surface sit on the entry itself. */
export type CredentialRef = string | null;

export type StepBody = {
  readonly step: string;
  readonly index: number;
  readonly action: string;
  readonly environment: string;
  readonly target: string;
  readonly params: { readonly [key: string]: Json };
  readonly rationale: string | null;
  readonly expected_consequence: string | null;
};

export type QuorumFactorData = { readonly roles: readonly string[]; readonly count: number };

export type PrerequisiteData = {
  readonly action: string;
  readonly within: string;
  readonly satisfied_at: string;
  readonly expires_at: string;
};

/** What a decision still demands before a grant (decide()'s `requirements`, as data). */
export type RequirementsData = {
  readonly quorum: readonly QuorumFactorData[];
  readonly surfaces: readonly string[];
  readonly attestation: 'key' | 'any';
  readonly approval_expires_at: string | null;
  readonly grant_ttl_ms: number;
  readonly rollback_required: boolean;
  readonly prerequisites: readonly PrerequisiteData[];
};

export type HoldScopeData = {
  readonly environments: readonly string[];
  readonly classes: readonly string[];
  readonly actions: readonly string[];
  readonly targets: readonly string[];
};

export type HaltScopeData =
  | { readonly kind: 'environment'; readonly environment: string }
  | { readonly kind: 'incident'; readonly incident: string }
  | { readonly kind: 'all' };

/** One override signature as recorded: who, with which key, through which surface, when, and whether it verified. */
export type SignerData = {
  readonly role: 'a' | 'b' | 'extra';
  readonly principal: string;
  readonly key_id: string;
  readonly surface: string;
  readonly signed_at: string;
  readonly body_hash: string;
  readonly signature: string;
  /** A passkey signature's WebAuthn data (base64url; `key_id` is its credential id), so it verifies offline; absent for a roster key. */
  readonly passkey?: PasskeyEvidence | undefined;
  readonly signature_verified: boolean;
};

/** The explicit allowlist of a lease; no wildcards (gate O2). */
export type LeaseScopeData = {
  readonly environments: readonly string[];
  readonly actions: readonly string[];
  readonly targets: readonly string[];
};

/** Canonical form of the override body both signers sign (override/body.ts `overrideBodyValue`). */
export type OverrideBodyData = { readonly [key: string]: Json };

/**
 * Why a grant ended unused. `step_executed`: its step ran under another
 * authority (another grant or a lease), and a step runs at most once.
 */
export type GrantRevocationReason = 'halt' | 'bundle_change' | 'step_executed';
export type LeaseRevocationReason = 'hold_evidence' | 'bundle_change' | 'rollback' | 'halt';
export type ExecutionOutcome = 'succeeded' | 'failed' | 'ambiguous';

/** The operations a caller can attempt; named in rejections. */
export type Operation =
  | 'propose'
  | 'approve'
  | 'deny'
  | 'consume'
  | 'lease_use'
  | 'outcome'
  | 'hold_open'
  | 'hold_evidence'
  | 'hold_lift'
  | 'override_request'
  | 'override_submit'
  | 'rollback_register'
  | 'rollback_run'
  | 'halt'
  | 'halt_lift'
  | 'bundle_activate'
  | 'release_propose'
  | 'release_approve'
  | 'token_admin'
  | 'passkey_register'
  | 'passkey_revoke'
  // reads: refused to a credential without the right (an agent token reading
  // the ledger), recorded under their API name
  | 'status'
  | 'wait'
  | 'decide'
  | 'policy_read'
  | 'ledger_read'
  | 'checkpoint'
  | 'prove'
  | 'trace';

/** What the gateway found running a candidate's golden sets (issue 13), as recorded and as signers see it. */
export type GoldenSummaryData = {
  readonly cases: number;
  readonly failed: number;
  /** Names of failing cases, first 20. */
  readonly failures: readonly string[];
  /** Share of the candidate's action contracts some case exercised, in whole percent. */
  readonly coverage_percent: number;
  /** canonicalDigest of this summary's other fields and every case's result. */
  readonly digest: string;
};

/** The replay diff of a candidate against recorded traffic, as recorded and as signers see it. */
export type DiffSummaryData = {
  /** Steps re-decided under the candidate. */
  readonly replayed: number;
  /** Steps whose decision would change. */
  readonly changed: number;
  /** Changes of the static diff (contracts, risks, quorums, roster, keys...). */
  readonly static_changes: number;
  /** canonicalDigest of the whole diff. */
  readonly digest: string;
  /** The last ledger entry the replay read: the diff is rebuilt from the entries up to it (absent in releases before it was recorded). */
  readonly through_seq?: number | undefined;
};

/** A golden case file sent with a candidate, recorded whole so an offline verifier can run it again. */
export type GoldenFileData = {
  readonly name: string;
  readonly text: string;
};

/** What a passkey approval adds to its entry: with `signature`, everything `verifyPasskeyAssertion` reads. */
export interface PasskeyEvidence {
  readonly credential_id: string;
  readonly authenticator_data: string;
  readonly client_data_json: string;
}

export type EntryPayloads = {
  /** The key as the verifier reads it (approval/passkey.ts), with who signed in and through which session credential. */
  'passkey.registered': PasskeyKey & {
    readonly identity: { readonly issuer: string; readonly subject: string } | null;
    readonly credential: string;
  };
  'passkey.revoked': {
    readonly credential_id: string;
    readonly principal: string;
    readonly revoked_by: string;
    readonly credential: string;
  };
  /**
   * A candidate bundle proposed for release, with its full normalised text:
   * content-addressed (its canonical digest is `candidate`), so every replica
   * and every offline verifier can load the rules by id.
   */
  'release.proposed': {
    readonly release: string;
    readonly candidate: string;
    readonly name: string;
    readonly previous_bundle_id: string | null;
    readonly bundle: Json;
    readonly golden: GoldenSummaryData | null;
    /** The case files `golden` was run from; their digests are bound by its digest. */
    readonly golden_files?: readonly GoldenFileData[] | undefined;
    readonly diff: DiffSummaryData;
    /** What signers sign as `step_digest`: canonicalDigest of {candidate, previous, golden digest, diff digest}. */
    readonly release_digest: string;
    readonly requirements: RequirementsData;
    readonly expires_at: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  /** A release signer's statement accepted: approve or deny. */
  'release.signed': {
    readonly release: string;
    readonly candidate: string;
    readonly release_digest: string;
    readonly decision: 'approve' | 'deny';
    readonly approver: string;
    readonly roles: readonly string[];
    readonly surface: string;
    readonly credential: string;
    readonly attestation: 'key' | 'gateway';
    readonly key_id: string | null;
    readonly signature: string;
    readonly signature_verified: boolean;
    readonly signed_at: string;
    readonly reason: string;
    readonly counted_for: readonly number[];
    readonly rule_ids: readonly string[];
  };
  /** A release signature refused, with its code: independence is judged as for approvals. */
  'release.rejected': {
    readonly release: string;
    readonly code: string;
    readonly decision: 'approve' | 'deny';
    readonly approver: string;
    readonly surface: string;
    readonly credential: string;
    readonly attestation: 'key' | 'gateway';
    readonly signature_verified: boolean;
    readonly statement_digest: string | null;
    readonly rule_ids: readonly string[];
  };
  'bundle.activated': {
    readonly bundle_id: string;
    readonly name: string;
    readonly previous_bundle_id: string | null;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
    /** The governed release that activated it; null for the first bundle of a ledger. Absent in ledgers before issue 13. */
    readonly release?: string | null | undefined;
    /** The first bundle's normalised text (a release's is in `release.proposed`). Absent in ledgers before issue 13. */
    readonly bundle?: Json | null | undefined;
    /**
     * How many grants were still live, all of which this entry revokes (reason `bundle_change`;
     * ADR 006 decision 4). Absent in ledgers before it, which wrote a `grant.revoked` for each.
     */
    readonly grants_revoked?: number | undefined;
  };
  'proposal.received': {
    readonly proposal: string;
    readonly agent: string;
    readonly on_behalf_of: string;
    readonly surface: string;
    readonly credential: CredentialRef;
    readonly incident: string | null;
    readonly steps: readonly StepBody[];
  };
  'step.decided': {
    readonly step: string;
    readonly proposal: string;
    readonly index: number;
    readonly action: string;
    readonly environment: string;
    readonly target: string;
    readonly effect: 'allow' | 'require_approval' | 'deny' | 'held';
    readonly risk: string | null;
    readonly class: string | null;
    readonly rule_ids: readonly string[];
    readonly reasons: readonly string[];
    readonly digest: string | null;
    readonly requirements: RequirementsData | null;
    /** Why the step was decided again: null the first time, `bundle_change` after activation. */
    readonly redecided: 'bundle_change' | null;
    readonly credential: CredentialRef;
  };
  'request.opened': {
    readonly request: string;
    readonly step: string;
    readonly proposal: string;
    readonly digest: string;
    readonly action: string;
    readonly environment: string;
    readonly target: string;
    readonly risk: string;
    readonly agent: string;
    readonly on_behalf_of: string;
    readonly request_surface: string;
    readonly credentials: readonly string[];
    readonly requirements: RequirementsData;
    readonly expires_at: string;
    readonly rule_ids: readonly string[];
  };
  'approval.accepted': {
    readonly request: string;
    readonly step: string;
    readonly digest: string;
    readonly decision: 'approve' | 'deny';
    readonly approver: string;
    readonly roles: readonly string[];
    readonly surface: string;
    readonly credential: string;
    readonly attestation: 'key' | 'gateway' | 'passkey';
    readonly key_id: string | null;
    readonly signature: string;
    /** A passkey signature's WebAuthn data (base64url), so it verifies offline; absent for the other attestations. */
    readonly passkey?: PasskeyEvidence | undefined;
    readonly signature_verified: boolean;
    readonly signed_at: string;
    readonly reason: string;
    readonly counted_for: readonly number[];
    readonly rule_ids: readonly string[];
  };
  'approval.rejected': {
    readonly request: string;
    readonly code: string;
    readonly decision: 'approve' | 'deny';
    readonly approver: string;
    readonly surface: string;
    readonly credential: string;
    readonly attestation: 'key' | 'gateway' | 'passkey';
    readonly signature_verified: boolean;
    readonly statement_digest: string | null;
    readonly rule_ids: readonly string[];
  };
  'request.approved': {
    readonly request: string;
    readonly step: string;
    readonly digest: string;
    readonly approvers: readonly string[];
    readonly rule_ids: readonly string[];
  };
  'request.denied': {
    readonly request: string;
    readonly step: string;
    readonly digest: string;
    readonly denied_by: string;
    readonly reason: string;
    readonly rule_ids: readonly string[];
  };
  'request.expired': { readonly request: string; readonly step: string; readonly expires_at: string };
  'request.voided':
    | { readonly request: string; readonly step: string; readonly reason: 'bundle_change'; readonly new_bundle_id: string }
    /** The step ran under another authority (a lease) while its request was open. */
    | { readonly request: string; readonly step: string; readonly reason: 'step_executed'; readonly execution: string };
  'grant.issued': {
    readonly jti: string;
    readonly step: string;
    readonly proposal: string;
    readonly request: string | null;
    readonly digest: string;
    readonly action: string;
    readonly environment: string;
    readonly target: string;
    readonly bundle_id: string;
    readonly incident: string | null;
    readonly issued_at: string;
    readonly expires_at: string;
    readonly rule_ids: readonly string[];
  };
  'grant.consumed': {
    readonly jti: string;
    readonly execution: string;
    readonly step: string;
    readonly digest: string;
    readonly environment: string;
    readonly target: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  /**
   * The one-call path (issue 15): a step decided `allow` executed in the
   * commit that decided it, without a grant issued and consumed by two calls.
   * Same at-most-once key as a consumption.
   */
  'step.executed': {
    readonly step: string;
    readonly proposal: string;
    readonly execution: string;
    readonly digest: string;
    readonly action: string;
    readonly environment: string;
    readonly target: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'grant.rejected': {
    readonly jti: string;
    readonly code: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'grant.revoked': {
    readonly jti: string;
    readonly reason: GrantRevocationReason;
    /** The halt, bundle or execution that caused it. */
    readonly cause: string;
    readonly rule_ids: readonly string[];
  };
  'execution.outcome': {
    readonly execution: string;
    readonly outcome: ExecutionOutcome;
    readonly detail: string;
    readonly credential: CredentialRef;
  };
  'hold.opened': {
    readonly hold: string;
    readonly trip_gate: string;
    readonly scope: HoldScopeData;
    readonly evidence_hash: string;
    readonly incident: string | null;
    readonly reason: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'hold.evidence_added': {
    readonly hold: string;
    readonly evidence_hash: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'hold.lifted': {
    readonly hold: string;
    readonly reason: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'hold.rejected': {
    readonly operation: 'hold_open' | 'hold_evidence' | 'hold_lift';
    readonly hold: string | null;
    readonly code: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'override.requested': {
    readonly override: string;
    readonly body: OverrideBodyData;
    readonly body_hash: string;
    readonly hold: string | null;
    readonly step_digests: readonly string[];
    readonly incident: string | null;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'override.granted': {
    readonly override: string;
    readonly lease: string;
    readonly hold: string | null;
    readonly step_digests: readonly string[];
    readonly environments: readonly string[];
    readonly scope: LeaseScopeData;
    readonly trip_gate_ack: string | null;
    readonly valid_from: string;
    readonly valid_to: string;
    readonly reason_code: string;
    readonly rollback_artifact: string;
    readonly incident: string | null;
    readonly signers: readonly SignerData[];
    readonly body_hash: string;
    readonly evidence_hash: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'override.denied': {
    readonly override: string;
    /** Every failing gate, in OVERRIDE_CODE_ORDER. */
    readonly codes: readonly string[];
    readonly findings: readonly { readonly code: string; readonly detail: string }[];
    readonly signers: readonly SignerData[];
    readonly body_hash: string;
    readonly evidence_hash: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'lease.used': {
    readonly lease: string;
    readonly step: string;
    readonly digest: string;
    readonly execution: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'lease.rejected': {
    readonly lease: string;
    readonly step: string | null;
    readonly code: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'lease.revoked': {
    readonly lease: string;
    readonly reason: LeaseRevocationReason;
    readonly cause: string;
    readonly rule_ids: readonly string[];
  };
  /**
   * One step digest of a live lease retired because that step ran under
   * another authority: the lease stays live for its other digests.
   */
  'lease.step_retired': {
    readonly lease: string;
    readonly step: string;
    readonly digest: string;
    readonly reason: 'step_executed';
    /** The execution that ran the step. */
    readonly execution: string;
    readonly rule_ids: readonly string[];
  };
  'lease.clock_breach': {
    readonly lease: string;
    readonly code: 'O3_CLOCK_BREACH';
    readonly step: string | null;
    readonly digest: string | null;
    readonly valid_from: string;
    readonly valid_to: string;
    readonly attempted_at: string;
    /** O3: a use outside the window is unauthorized and flagged for incident review. */
    readonly incident_flag: true;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'rollback.registered': {
    readonly artifact: string;
    readonly reverses_step: string;
    readonly action: string;
    readonly environment: string;
    readonly target: string;
    readonly params: { readonly [key: string]: Json };
    readonly digest: string;
    readonly status: 'ready';
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'rollback.executed': {
    readonly artifact: string;
    readonly execution: string;
    readonly reverses_step: string;
    readonly reverses_execution: string | null;
    readonly digest: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'halt.issued': {
    readonly halt: string;
    readonly scope: HaltScopeData;
    readonly reason: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
    /**
     * How many grants were live in its scope, all of which this entry revokes (reason `halt`;
     * ADR 006 decision 4). Absent in ledgers before it, which wrote a `grant.revoked` for each.
     */
    readonly grants_revoked?: number | undefined;
  };
  'halt.lifted': {
    readonly halt: string;
    readonly reason: string;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
  };
  'authority.rejected': {
    readonly operation: Operation;
    readonly code: string;
    /** The id the call named (request, grant, hold, artifact...), if any. */
    readonly target_id: string | null;
    readonly credential: CredentialRef;
    readonly rule_ids: readonly string[];
    /** A candidate refused at its golden gate: the result that refused it, failing cases and digest included. */
    readonly golden?: GoldenSummaryData | undefined;
  };
};

export type EntryType = keyof EntryPayloads;

export const ENTRY_TYPES: readonly EntryType[] = [
  'release.proposed',
  'release.signed',
  'release.rejected',
  'passkey.registered',
  'passkey.revoked',
  'bundle.activated',
  'proposal.received',
  'step.decided',
  'request.opened',
  'approval.accepted',
  'approval.rejected',
  'request.approved',
  'request.denied',
  'request.expired',
  'request.voided',
  'grant.issued',
  'grant.consumed',
  'step.executed',
  'grant.rejected',
  'grant.revoked',
  'execution.outcome',
  'hold.opened',
  'hold.evidence_added',
  'hold.lifted',
  'hold.rejected',
  'override.requested',
  'override.granted',
  'override.denied',
  'lease.used',
  'lease.rejected',
  'lease.revoked',
  'lease.step_retired',
  'lease.clock_breach',
  'rollback.registered',
  'rollback.executed',
  'halt.issued',
  'halt.lifted',
  'authority.rejected',
];

const ENTRY_TYPE_SET: ReadonlySet<string> = new Set(ENTRY_TYPES);

export function isEntryType(type: string): type is EntryType {
  return ENTRY_TYPE_SET.has(type);
}

/** Entry types that record a refusal: the loudest entries (DESIGN invariant 7). */
export const REJECTION_TYPES: ReadonlySet<EntryType> = new Set<EntryType>([
  'release.rejected',
  'approval.rejected',
  'grant.rejected',
  'hold.rejected',
  'override.denied',
  'lease.rejected',
  'lease.clock_breach',
  'authority.rejected',
]);

/** A draft whose payload matches its type. */
export type TypedDraft<T extends EntryType = EntryType> = {
  [K in T]: Omit<EntryDraft, 'type' | 'payload'> & { readonly type: K; readonly payload: EntryPayloads[K] };
}[T];

/** A decoded entry whose payload matches its type. */
export type TypedEntry<T extends EntryType = EntryType> = {
  [K in T]: Omit<LedgerEntry, 'type' | 'payload'> & { readonly type: K; readonly payload: EntryPayloads[K] };
}[T];

/** Widen a typed draft to the ledger's draft type (payloads are canonical by construction). */
export function toDraft(draft: TypedDraft): EntryDraft {
  return draft as unknown as EntryDraft;
}

/**
 * The at-most-once key of an entry, for the store's `UNIQUE(unique_key)`
 * backstop (ADR 002 §5), or null when the entry may repeat.
 */
export function uniqueKey(entry: Pick<EntryDraft, 'type' | 'payload'>): string | null {
  const p = entry.payload;
  switch (entry.type) {
    // INVARIANT: a step runs at most once, whichever authority runs it: a grant
    // consumed and a lease used for one step share one key, so two replicas
    // racing with different authorities for one step cannot both commit.
    // (Ledgers written before this rule keyed `grant.consumed:<jti>` and
    // `lease.used:<lease>:<digest>`; their rows keep those keys.)
    case 'grant.consumed':
    case 'lease.used':
    case 'step.executed':
      return typeof p['step'] === 'string' ? `step.executed:${p['step']}` : null;
    case 'grant.issued':
      return typeof p['jti'] === 'string' ? `grant.issued:${p['jti']}` : null;
    case 'execution.outcome':
      return typeof p['execution'] === 'string' ? `execution.outcome:${p['execution']}` : null;
    // a credential id registers once, to one principal, across replicas
    case 'passkey.registered':
      return typeof p['credential_id'] === 'string' ? `passkey.registered:${p['credential_id']}` : null;
    default:
      return null;
  }
}

/** `<proposal>.<index>`: the id of a proposal's step. */
export function stepId(proposal: string, index: number): string {
  return `${proposal}.${index}`;
}
