import type { CanonicalValue } from '../canonical.js';
import type { LedgerEntry } from '../ledger/entry.js';
import { haltCovers } from './command.js';
import { isEntryType, type EntryType, type RequirementsData, type TypedEntry } from './entries.js';
import {
  BUNDLE_ROW_ID,
  projectionKey,
  successKey,
  type AuthorityState,
  type GrantRecord,
  type LeaseRecord,
  type ProjectionKind,
  type ProjectionRef,
  type StepRecord,
} from './state.js';

/**
 * The one reducer (ADR 002 §2): the only code that changes authority state.
 * Deterministic and total over the entry catalog: it reads nothing but the
 * state and the entry (no clock, no policy), and an entry that names
 * something the state does not hold changes nothing rather than throwing,
 * so every ledger ever written replays. Entry types outside the catalog are
 * skipped: they belong to other parts of the gateway (checkpoints, tests).
 *
 * Returns the projection rows the entry touched, for the gateway to upsert.
 */
export function applyEntry(state: AuthorityState, entry: LedgerEntry): ProjectionRef[] {
  const touched = new Touched();
  if (entry.seq > state.seq) state.seq = entry.seq;
  if (!isEntryType(entry.type)) return touched.refs();
  const typed = entry as unknown as TypedEntry;
  REDUCERS[typed.type](state, typed as never, touched);
  return touched.refs();
}

class Touched {
  private readonly seen = new Set<string>();
  private readonly list: ProjectionRef[] = [];
  add(kind: ProjectionKind, id: string): void {
    const key = projectionKey(kind, id);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push({ kind, id });
  }
  refs(): ProjectionRef[] {
    return this.list;
  }
}

type Reducer<T extends EntryType> = (state: AuthorityState, entry: TypedEntry<T>, touched: Touched) => void;
type ReducerTable = { readonly [T in EntryType]: Reducer<T> };

function strings(list: readonly string[]): string[] {
  return [...list];
}

/** A list of names (rule ids, reasons, roles): one frozen copy of each list, see `sharedValue`. */
function names(list: readonly string[]): readonly string[] {
  return sharedValue(list, copyOfNames);
}

/** A copy of a list of names, each name shared: freezing never reaches into the entry's own values. */
function copyOfNames(list: readonly string[]): readonly string[] {
  return structuredClone(list).map((value) => shared(value));
}

/** A step's params: the one frozen empty object when there are none (most steps that only read). */
function paramsOf(params: { readonly [key: string]: CanonicalValue }): { readonly [key: string]: CanonicalValue } {
  for (const _key in params) return { ...params };
  return NO_PARAMS;
}

const NO_PARAMS: { readonly [key: string]: CanonicalValue } = Object.freeze({});
/**
 * The empty list a new step's grants and executions start from. The reducer
 * replaces such a list with `concat`, never changes it: `concat` allocates
 * the new length exactly, where a `push` onto an empty list (or a spread)
 * reserves 17 slots, most of a step's heap for a list that holds one grant.
 */
const NO_IDS: readonly string[] = Object.freeze([]);

/**
 * One deeply frozen copy of a repeated value: the requirements of a rule,
 * the rule ids and reasons of a decision. Steps decided by the same rules
 * carry equal values, and each entry brings fresh copies: sharing them took
 * a step from 654 to 446 bytes (docs/capacity.md). Frozen, so that a record
 * that shares one can only replace it, never change it for the others.
 * Keyed by the value's JSON text, which is exact for what `sealEntry`
 * writes (canonical JSON: no NaN, no -0, no undefined). A value JSON cannot
 * write (a hand-made entry's missing field, nesting past the engine's
 * limits) passes through as it came, unshared, like `shared`'s. Bounded
 * like `shared`.
 */
const SHARED_VALUES = new Map<string, unknown>();
const SHARED_VALUES_MAX = 4_096;
function sharedValue<T>(value: T, copy: (value: T) => T): T {
  const key = jsonText(value);
  if (key === undefined) return value;
  const known = SHARED_VALUES.get(key);
  if (known !== undefined) return known as T;
  const fresh = frozenCopy(value, copy);
  if (fresh === value || key.length > 1_024) return fresh;
  if (SHARED_VALUES.size >= SHARED_VALUES_MAX) SHARED_VALUES.clear();
  SHARED_VALUES.set(key, fresh);
  return fresh;
}

/** The value's JSON text, or undefined when JSON cannot write it. The reducer never throws on an entry (see `applyEntry`). */
function jsonText(value: unknown): string | undefined {
  try {
    return JSON.stringify(value) as string | undefined;
  } catch {
    // nested past the engine's limits, or a hand-made cycle: no text
  }
  return undefined;
}

/** A deeply frozen copy, or the value as it came when the engine cannot copy it (nesting past its limits). */
function frozenCopy<T>(value: T, copy: (value: T) => T): T {
  try {
    return deepFreeze(copy(value));
  } catch {
    return value;
  }
}

/**
 * A decision's requirements, frozen. Those of a step that needs approval
 * carry its deadline, which seldom repeats (only within one commit): each
 * gets its own copy, kept out of the table, which they would only fill and
 * empty again.
 */
function requirementsOf(requirements: RequirementsData): RequirementsData {
  if (requirements?.approval_expires_at === null) return sharedValue(requirements, structuredClone);
  return frozenCopy(requirements, structuredClone);
}

/** A request's requirements: its step's copy when they are equal (a request is opened in the commit that decides its step), else its own. */
function requestRequirements(step: StepRecord | undefined, requirements: RequirementsData): RequirementsData {
  const text = jsonText(requirements);
  const decided = step?.requirements;
  if (text !== undefined && jsonText(decided) === text) return decided as RequirementsData;
  return requirementsOf(requirements);
}

function deepFreeze<T>(value: T): T {
  // a string, number, boolean or null counts as frozen already (ES2015 §19.1.2.12)
  if (!Object.isFrozen(value)) {
    for (const inner of Object.values(value as object)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * One copy of a repeated string. The state keeps every record, and records
 * name the same few agents, surfaces, actions, environments, targets, risks,
 * rule ids and bundle ids again and again; each entry brings fresh copies of
 * them, which were about a third of the heap a proposal adds, heap that every
 * major garbage collection walks (docs/capacity.md). Bounded: when
 * SHARED_MAX distinct strings are held (many distinct targets, say), the
 * table starts again, and the names in use fill it again at once. Equal
 * strings are equal either way: this changes memory, never a result.
 */
const SHARED = new Map<string, string>();
const SHARED_MAX = 20_000;
function shared(value: string): string;
function shared(value: string | null): string | null;
function shared(value: string | null): string | null {
  // what the types rule out passes through as it came (a hand-made entry)
  if (typeof value !== 'string') return value;
  const known = SHARED.get(value);
  if (known !== undefined) return known;
  if (value.length > 256) return value;
  if (SHARED.size >= SHARED_MAX) SHARED.clear();
  SHARED.set(value, value);
  return value;
}

/** Entries committed together carry the same `at`: one copy of the last one seen. */
let lastAt = '';
function sharedAt(at: string): string {
  if (at !== lastAt) lastAt = at;
  return lastAt;
}

function expireLease(state: AuthorityState, lease: LeaseRecord, reason: LeaseRecord['revoked_reason'], touched: Touched): void {
  lease.status = 'revoked';
  lease.revoked_reason = reason;
  state.index.liveLeases.delete(lease.id);
  touched.add('lease', lease.id);
}

function endGrant(state: AuthorityState, grant: GrantRecord, status: GrantRecord['status'], touched: Touched): void {
  grant.status = status;
  state.index.liveGrants.delete(grant.jti);
  touched.add('grant', grant.jti);
}

/** ADR 006 decision 4: the live grants `covers` takes, revoked for `reason` by the entry being applied (an activation, a halt). */
function revokeLiveGrants(state: AuthorityState, reason: 'bundle_change' | 'halt', covers: (grant: GrantRecord) => boolean, touched: Touched): GrantRecord[] {
  const revoked: GrantRecord[] = [];
  for (const jti of [...state.index.liveGrants]) {
    const grant = state.grants.get(jti);
    if (grant === undefined || !covers(grant)) continue;
    grant.revoked_reason = reason;
    endGrant(state, grant, 'revoked', touched);
    revoked.push(grant);
  }
  return revoked;
}

function startExecution(
  state: AuthorityState,
  entry: LedgerEntry,
  p: { execution: string; via: 'grant' | 'lease' | 'rollback' | 'direct'; grant: string | null; lease: string | null; artifact: string | null; step: string | null; action: string; environment: string; target: string; digest: string; credential: string | null },
  touched: Touched,
): void {
  // started once: the same start again must not clear a reported outcome or list the execution twice on its step
  if (state.executions.has(p.execution)) return;
  state.executions.set(p.execution, {
    id: p.execution,
    via: p.via,
    grant: p.grant,
    lease: p.lease,
    artifact: p.artifact,
    step: p.step,
    action: shared(p.action),
    environment: shared(p.environment),
    target: shared(p.target),
    digest: p.digest,
    executor: shared(entry.actor),
    credential: shared(p.credential),
    started_at: sharedAt(entry.at),
    outcome: null,
    outcome_at: null,
    detail: null,
  });
  touched.add('execution', p.execution);
  const step = p.step === null ? undefined : state.steps.get(p.step);
  if (step) {
    step.executions = step.executions.concat([p.execution]);
    // a step that ran never awaits a rollback again
    state.index.rollbackSteps.delete(step.id);
    touched.add('step', step.id);
  }
}

/**
 * A decided step in the indexes the commands read instead of every step
 * (ADR 006 §5): its digest, for `requestOverride`, and whether its decision
 * needs a rollback, for a bundle activation. The digest lists only grow: a
 * step decided again under another bundle keeps its id in the old digest's
 * list, and readers compare the step's current digest.
 */
function indexDecidedStep(state: AuthorityState, step: StepRecord): void {
  if (step.digest !== null) {
    const same = state.index.stepsByDigest.get(step.digest);
    if (same === undefined) state.index.stepsByDigest.set(step.digest, [step.id]);
    else if (same[same.length - 1] !== step.id) same.push(step.id);
  }
  if (step.requirements?.rollback_required === true && step.executions.length === 0) state.index.rollbackSteps.add(step.id);
  else state.index.rollbackSteps.delete(step.id);
}

const REDUCERS: ReducerTable = {
  'release.proposed'(state, e, touched) {
    const p = e.payload;
    // created once, like every record named by a fresh id: the same entry again (a replica's copy) changes nothing
    if (state.releases.has(p.release)) return;
    state.releases.set(p.release, {
      id: p.release,
      candidate: p.candidate,
      name: p.name,
      previous_bundle_id: p.previous_bundle_id,
      golden: p.golden,
      diff: p.diff,
      release_digest: p.release_digest,
      requirements: p.requirements,
      proposer: e.actor,
      surface: e.surface,
      credentials: p.credential === null ? [] : [p.credential],
      bundle_id: e.bundle_id,
      proposed_at: e.at,
      expires_at: p.expires_at,
      status: 'open',
      signatures: [],
      rejected: 0,
      closed_at: null,
    });
    state.index.bundleTexts.set(p.candidate, p.bundle);
    touched.add('release', p.release);
  },

  'passkey.registered'(state, e, touched) {
    const p = e.payload;
    // a credential id registers once (the store's unique key backs this across replicas)
    if (state.passkeys.has(p.credential_id)) return;
    state.passkeys.set(p.credential_id, {
      credential_id: p.credential_id,
      principal: p.principal,
      public_key: { ...p.public_key },
      algorithm: p.algorithm,
      rp_id: p.rp_id,
      origin: p.origin,
      identity: p.identity === null ? null : { issuer: p.identity.issuer, subject: p.identity.subject },
      credential: p.credential,
      registered_at: e.at,
      revoked_at: null,
      revoked_by: null,
    });
    touched.add('passkey', p.credential_id);
  },

  'passkey.revoked'(state, e, touched) {
    const passkey = state.passkeys.get(e.payload.credential_id);
    if (!passkey || passkey.revoked_at !== null) return;
    passkey.revoked_at = e.at;
    passkey.revoked_by = e.payload.revoked_by;
    touched.add('passkey', passkey.credential_id);
  },

  'release.signed'(state, e, touched) {
    const p = e.payload;
    const release = state.releases.get(p.release);
    if (!release) return;
    release.signatures.push({
      approver: p.approver,
      decision: p.decision,
      roles: names(p.roles),
      surface: p.surface,
      credential: p.credential,
      attestation: p.attestation,
      key_id: p.key_id,
      signed_at: p.signed_at,
      seq: e.seq,
    });
    if (!release.credentials.includes(p.credential)) release.credentials.push(p.credential);
    if (p.decision === 'deny' && release.status === 'open') {
      release.status = 'denied';
      release.closed_at = e.at;
    }
    touched.add('release', release.id);
  },

  'release.rejected'(state, e, touched) {
    const release = state.releases.get(e.payload.release);
    if (!release) return;
    release.rejected += 1;
    if (e.payload.code === 'REQUEST_EXPIRED' && release.status === 'open') {
      release.status = 'expired';
      release.closed_at = e.at;
    }
    touched.add('release', release.id);
  },

  'bundle.activated'(state, e, touched) {
    const b = state.bundle;
    if (b.bundle_id !== null) b.previous.push(b.bundle_id);
    b.bundle_id = e.payload.bundle_id;
    b.name = e.payload.name;
    b.activated_at = e.at;
    b.activated_by = e.actor;
    touched.add('bundle', BUNDLE_ROW_ID);
    const text = e.payload.bundle;
    if (text !== undefined && text !== null) state.index.bundleTexts.set(e.payload.bundle_id, text);
    // ADR 006 decision 4: the activation revokes every grant still live, and for good: its step is
    // not decided again, and the revoked grant still counts as its decision's one grant, so nothing
    // grants it again, not even a release bringing the old bundle back (`awaitsRollback`). (Ledgers
    // before this wrote a `grant.revoked` for each after this entry, which finds the grant ended.)
    for (const grant of revokeLiveGrants(state, 'bundle_change', () => true, touched)) {
      // in memory only: the index of steps an activation may decide again
      state.index.rollbackSteps.delete(grant.step);
    }
    // the release that activated it closes; every other open release was signed against a bundle no longer in force
    for (const release of state.releases.values()) {
      if (release.status !== 'open') continue;
      release.status = release.id === e.payload.release ? 'activated' : 'superseded';
      release.closed_at = e.at;
      touched.add('release', release.id);
    }
  },

  'proposal.received'(state, e, touched) {
    const p = e.payload;
    if (state.proposals.has(p.proposal)) return;
    state.proposals.set(p.proposal, {
      id: p.proposal,
      agent: shared(p.agent),
      on_behalf_of: shared(p.on_behalf_of),
      surface: shared(p.surface),
      credential: shared(p.credential),
      incident: shared(p.incident),
      steps: p.steps.map((s) => s.step),
      bundle_id: shared(e.bundle_id),
      received_at: sharedAt(e.at),
      seq: e.seq,
    });
    touched.add('proposal', p.proposal);
    for (const s of p.steps) {
      // A step exists from the proposal on; its decision follows in `step.decided`.
      state.steps.set(s.step, {
        id: s.step,
        proposal: p.proposal,
        index: s.index,
        action: shared(s.action),
        environment: shared(s.environment),
        target: shared(s.target),
        params: paramsOf(s.params),
        rationale: s.rationale,
        expected_consequence: s.expected_consequence,
        incident: shared(p.incident),
        effect: 'deny',
        risk: null,
        class: null,
        rule_ids: NO_IDS,
        reasons: NO_IDS,
        digest: null,
        bundle_id: shared(e.bundle_id),
        requirements: null,
        decided_at: sharedAt(e.at),
        request: null,
        authorized: false,
        grants: NO_IDS,
        artifact: null,
        executions: NO_IDS,
      });
      touched.add('step', s.step);
    }
  },

  'step.decided'(state, e, touched) {
    const p = e.payload;
    const step = state.steps.get(p.step);
    if (!step) return;
    step.effect = p.effect;
    step.risk = shared(p.risk);
    step.class = shared(p.class);
    step.rule_ids = names(p.rule_ids);
    step.reasons = names(p.reasons);
    step.digest = p.digest;
    step.bundle_id = shared(e.bundle_id);
    step.requirements = p.requirements === null ? null : requirementsOf(p.requirements);
    step.decided_at = sharedAt(e.at);
    step.authorized = p.effect === 'allow';
    indexDecidedStep(state, step);
    // An artifact registered under another digest no longer matches a re-decided step.
    if (step.artifact !== null && state.artifacts.get(step.artifact)?.bundle_id !== e.bundle_id) step.artifact = null;
    touched.add('step', step.id);
  },

  'request.opened'(state, e, touched) {
    const p = e.payload;
    // opened once: the same entry again (a replica's copy) must not reopen a decided request or drop its approvals
    if (state.requests.has(p.request)) return;
    state.requests.set(p.request, {
      id: p.request,
      step: p.step,
      proposal: p.proposal,
      digest: p.digest,
      bundle_id: shared(e.bundle_id),
      action: shared(p.action),
      environment: shared(p.environment),
      target: shared(p.target),
      risk: shared(p.risk),
      agent: shared(p.agent),
      on_behalf_of: shared(p.on_behalf_of),
      surface: shared(p.request_surface),
      credentials: strings(p.credentials),
      requirements: requestRequirements(state.steps.get(p.step), p.requirements),
      opened_at: sharedAt(e.at),
      expires_at: p.expires_at,
      status: 'open',
      approvals: [],
      rejected: 0,
      closed_at: null,
      rule_ids: names(p.rule_ids),
    });
    state.index.openRequests.add(p.request);
    const sameStep = state.index.requestsByDigest.get(p.digest);
    if (sameStep === undefined) state.index.requestsByDigest.set(p.digest, [p.request]);
    else sameStep.push(p.request);
    touched.add('request', p.request);
    const step = state.steps.get(p.step);
    if (step) {
      step.request = p.request;
      touched.add('step', step.id);
    }
  },

  'approval.accepted'(state, e, touched) {
    const p = e.payload;
    const request = state.requests.get(p.request);
    if (!request) return;
    request.approvals.push({
      approver: p.approver,
      decision: p.decision,
      roles: names(p.roles),
      surface: p.surface,
      credential: p.credential,
      attestation: p.attestation,
      key_id: p.key_id,
      signed_at: p.signed_at,
      seq: e.seq,
    });
    if (!request.credentials.includes(p.credential)) request.credentials.push(p.credential);
    touched.add('request', request.id);
  },

  'approval.rejected'(state, e, touched) {
    const request = state.requests.get(e.payload.request);
    if (!request) return;
    request.rejected += 1;
    touched.add('request', request.id);
  },

  'request.approved'(state, e, touched) {
    const request = state.requests.get(e.payload.request);
    if (!request) return;
    request.status = 'approved';
    request.closed_at = e.at;
    state.index.openRequests.delete(request.id);
    touched.add('request', request.id);
    const step = state.steps.get(request.step);
    if (step && step.request === request.id) {
      step.authorized = true;
      touched.add('step', step.id);
    }
  },

  'request.denied'(state, e, touched) {
    closeRequest(state, e.payload.request, 'denied', e.at, touched);
  },

  'request.expired'(state, e, touched) {
    closeRequest(state, e.payload.request, 'expired', e.at, touched);
  },

  'request.voided'(state, e, touched) {
    closeRequest(state, e.payload.request, 'voided', e.at, touched);
  },

  'grant.issued'(state, e, touched) {
    const p = e.payload;
    // issued once: the same entry again must not make a consumed or revoked grant live
    if (state.grants.has(p.jti)) return;
    const step = state.steps.get(p.step);
    state.grants.set(p.jti, {
      jti: p.jti,
      // the step's own copies where they are equal (one string each, see `shared`)
      step: step?.id ?? p.step,
      proposal: step?.proposal === p.proposal ? step.proposal : p.proposal,
      request: p.request,
      digest: step?.digest === p.digest ? step.digest : p.digest,
      action: shared(p.action),
      environment: shared(p.environment),
      target: shared(p.target),
      bundle_id: shared(p.bundle_id),
      incident: shared(p.incident),
      issued_at: sharedAt(p.issued_at),
      expires_at: p.expires_at,
      status: 'issued',
      revoked_reason: null,
      execution: null,
      rejected: 0,
      rule_ids: names(p.rule_ids),
    });
    state.index.liveGrants.add(p.jti);
    touched.add('grant', p.jti);
    if (step) {
      step.grants = step.grants.concat([p.jti]);
      touched.add('step', step.id);
    }
  },

  'grant.consumed'(state, e, touched) {
    const p = e.payload;
    const grant = state.grants.get(p.jti);
    if (!grant) return;
    grant.execution = p.execution;
    endGrant(state, grant, 'consumed', touched);
    startExecution(
      state,
      e,
      { execution: p.execution, via: 'grant', grant: p.jti, lease: null, artifact: null, step: grant.step, action: grant.action, environment: grant.environment, target: grant.target, digest: grant.digest, credential: p.credential },
      touched,
    );
  },

  'step.executed'(state, e, touched) {
    const p = e.payload;
    startExecution(
      state,
      e,
      { execution: p.execution, via: 'direct', grant: null, lease: null, artifact: null, step: p.step, action: p.action, environment: p.environment, target: p.target, digest: p.digest, credential: p.credential },
      touched,
    );
  },

  'grant.rejected'(state, e, touched) {
    const grant = state.grants.get(e.payload.jti);
    if (!grant) return;
    grant.rejected += 1;
    if (e.payload.code === 'GRANT_EXPIRED' && grant.status === 'issued') endGrant(state, grant, 'expired', touched);
    touched.add('grant', grant.jti);
  },

  'grant.revoked'(state, e, touched) {
    const grant = state.grants.get(e.payload.jti);
    if (!grant || grant.status !== 'issued') return;
    grant.revoked_reason = e.payload.reason;
    endGrant(state, grant, 'revoked', touched);
  },

  'execution.outcome'(state, e, touched) {
    const p = e.payload;
    const execution = state.executions.get(p.execution);
    if (!execution || execution.outcome !== null) return;
    execution.outcome = p.outcome;
    execution.outcome_at = e.at;
    execution.detail = p.detail;
    touched.add('execution', execution.id);
    if (p.outcome === 'succeeded') {
      const at = Date.parse(e.at);
      const key = successKey(execution.action, execution.environment, execution.target);
      const before = state.index.lastSuccess.get(key);
      if (Number.isFinite(at) && (before === undefined || at > before)) state.index.lastSuccess.set(key, at);
    }
  },

  'hold.opened'(state, e, touched) {
    const p = e.payload;
    if (state.holds.has(p.hold)) return;
    state.holds.set(p.hold, {
      id: p.hold,
      trip_gate: p.trip_gate,
      scope: {
        environments: strings(p.scope.environments),
        classes: strings(p.scope.classes),
        actions: strings(p.scope.actions),
        targets: strings(p.scope.targets),
      },
      evidence: [p.evidence_hash],
      incident: p.incident,
      reason: p.reason,
      status: 'open',
      opened_by: e.actor,
      opened_at: e.at,
      lifted_by: null,
      lifted_at: null,
    });
    state.index.openHolds.add(p.hold);
    touched.add('hold', p.hold);
  },

  'hold.evidence_added'(state, e, touched) {
    const hold = state.holds.get(e.payload.hold);
    if (!hold) return;
    hold.evidence.push(e.payload.evidence_hash);
    touched.add('hold', hold.id);
  },

  'hold.lifted'(state, e, touched) {
    const hold = state.holds.get(e.payload.hold);
    if (!hold || hold.status !== 'open') return;
    hold.status = 'lifted';
    hold.lifted_by = e.actor;
    hold.lifted_at = e.at;
    state.index.openHolds.delete(hold.id);
    touched.add('hold', hold.id);
  },

  'hold.rejected'() {
    // A refusal changes no state; the entry itself is the record.
  },

  'override.requested'(state, e, touched) {
    const p = e.payload;
    if (state.overrides.has(p.override)) return;
    state.overrides.set(p.override, {
      id: p.override,
      body: p.body,
      body_hash: p.body_hash,
      hold: p.hold,
      step_digests: strings(p.step_digests),
      incident: p.incident,
      requester: e.actor,
      surface: e.surface,
      credential: p.credential,
      status: 'requested',
      codes: [],
      lease: null,
      requested_at: e.at,
      decided_at: null,
    });
    touched.add('override', p.override);
  },

  'override.granted'(state, e, touched) {
    const p = e.payload;
    // a lease is granted once: again, it would count against the budget twice and revive a revoked lease
    if (state.leases.has(p.lease)) return;
    const override = state.overrides.get(p.override);
    if (override) {
      override.status = 'granted';
      override.lease = p.lease;
      override.decided_at = e.at;
      touched.add('override', override.id);
    }
    state.leases.set(p.lease, {
      id: p.lease,
      override: p.override,
      hold: p.hold,
      step_digests: strings(p.step_digests),
      environments: strings(p.environments),
      scope: { environments: strings(p.scope.environments), actions: strings(p.scope.actions), targets: strings(p.scope.targets) },
      trip_gate_ack: p.trip_gate_ack,
      valid_from: p.valid_from,
      valid_to: p.valid_to,
      reason_code: p.reason_code,
      rollback_artifact: p.rollback_artifact,
      incident: p.incident,
      signers: p.signers.map((s) => s.principal),
      evidence_hash: p.evidence_hash,
      bundle_id: e.bundle_id,
      status: 'live',
      revoked_reason: null,
      used: {},
      retired: {},
      clock_breaches: [],
      granted_at: e.at,
    });
    state.index.liveLeases.add(p.lease);
    touched.add('lease', p.lease);
    for (const environment of p.environments) {
      const budget = state.budgets.get(environment) ?? { environment, granted_at: [] };
      budget.granted_at.push(e.at);
      state.budgets.set(environment, budget);
      touched.add('budget', environment);
    }
  },

  'override.denied'(state, e, touched) {
    const override = state.overrides.get(e.payload.override);
    if (!override || override.status !== 'requested') return;
    override.status = 'denied';
    override.codes = strings(e.payload.codes);
    override.decided_at = e.at;
    touched.add('override', override.id);
  },

  'lease.used'(state, e, touched) {
    const p = e.payload;
    const lease = state.leases.get(p.lease);
    if (!lease) return;
    lease.used[p.digest] = p.execution;
    touched.add('lease', lease.id);
    const step = state.steps.get(p.step);
    startExecution(
      state,
      e,
      {
        execution: p.execution,
        via: 'lease',
        grant: null,
        lease: lease.id,
        artifact: null,
        step: p.step,
        action: step?.action ?? '',
        environment: step?.environment ?? lease.environments[0] ?? '',
        target: step?.target ?? '',
        digest: p.digest,
        credential: p.credential,
      },
      touched,
    );
  },

  'lease.rejected'() {
    // A refusal changes no state; the entry itself is the record.
  },

  'lease.revoked'(state, e, touched) {
    const lease = state.leases.get(e.payload.lease);
    if (!lease || lease.status !== 'live') return;
    expireLease(state, lease, e.payload.reason, touched);
  },

  'lease.step_retired'(state, e, touched) {
    const lease = state.leases.get(e.payload.lease);
    if (!lease || Object.hasOwn(lease.used, e.payload.digest)) return;
    lease.retired[e.payload.digest] = e.payload.execution;
    touched.add('lease', lease.id);
  },

  'lease.clock_breach'(state, e, touched) {
    const lease = state.leases.get(e.payload.lease);
    if (!lease) return;
    lease.clock_breaches.push(e.payload.attempted_at);
    touched.add('lease', lease.id);
  },

  'rollback.registered'(state, e, touched) {
    const p = e.payload;
    if (state.artifacts.has(p.artifact)) return;
    state.artifacts.set(p.artifact, {
      id: p.artifact,
      reverses_step: p.reverses_step,
      action: p.action,
      environment: p.environment,
      target: p.target,
      params: { ...p.params },
      digest: p.digest,
      bundle_id: e.bundle_id,
      status: 'ready',
      registered_by: e.actor,
      registered_at: e.at,
      execution: null,
    });
    touched.add('artifact', p.artifact);
    const step = state.steps.get(p.reverses_step);
    if (step) {
      step.artifact = p.artifact;
      touched.add('step', step.id);
    }
  },

  'rollback.executed'(state, e, touched) {
    const p = e.payload;
    const artifact = state.artifacts.get(p.artifact);
    if (!artifact || artifact.status !== 'ready') return;
    artifact.status = 'executed';
    artifact.execution = p.execution;
    touched.add('artifact', artifact.id);
    startExecution(
      state,
      e,
      { execution: p.execution, via: 'rollback', grant: null, lease: null, artifact: artifact.id, step: null, action: artifact.action, environment: artifact.environment, target: artifact.target, digest: artifact.digest, credential: p.credential },
      touched,
    );
  },

  'halt.issued'(state, e, touched) {
    const p = e.payload;
    if (state.halts.has(p.halt)) return;
    const halt = {
      id: p.halt,
      scope: p.scope,
      reason: p.reason,
      status: 'active' as const,
      issued_by: e.actor,
      issued_at: e.at,
      lifted_by: null,
      lifted_at: null,
    };
    state.halts.set(p.halt, halt);
    state.index.activeHalts.add(p.halt);
    touched.add('halt', p.halt);
    // ADR 006 decision 4: the halt revokes every live grant in its scope, and for good (lifting it
    // revives none). Ledgers before this wrote a `grant.revoked` for each after this entry, which
    // finds the grant ended already.
    revokeLiveGrants(state, 'halt', (grant) => haltCovers(halt, grant.environment, grant.incident), touched);
  },

  'halt.lifted'(state, e, touched) {
    const halt = state.halts.get(e.payload.halt);
    if (!halt || halt.status !== 'active') return;
    halt.status = 'lifted';
    halt.lifted_by = e.actor;
    halt.lifted_at = e.at;
    state.index.activeHalts.delete(halt.id);
    touched.add('halt', halt.id);
  },

  'authority.rejected'() {
    // A refusal changes no state; the entry itself is the record.
  },
};

function closeRequest(state: AuthorityState, id: string, status: 'denied' | 'expired' | 'voided', at: string, touched: Touched): void {
  const request = state.requests.get(id);
  if (!request || request.status !== 'open') return;
  request.status = status;
  request.closed_at = at;
  state.index.openRequests.delete(id);
  touched.add('request', id);
}

/** Apply entries in order; returns every row touched, deduplicated. */
export function applyEntries(state: AuthorityState, entries: Iterable<LedgerEntry>): ProjectionRef[] {
  const touched = new Touched();
  for (const entry of entries) for (const ref of applyEntry(state, entry)) touched.add(ref.kind, ref.id);
  return touched.refs();
}

