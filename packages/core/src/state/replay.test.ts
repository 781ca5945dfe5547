import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../canonical.js';
import { canonicalDigest } from '../digest.js';
import type { LedgerEntry } from '../ledger/entry.js';
import {
  caller,
  clearStep,
  compileBundle,
  COPILOT,
  EVIDENCE,
  EVIDENCE_2,
  examplePolicy,
  MINUTE,
  ok,
  refused,
  restartOverride,
  restartStep,
  snapshotStep,
  PASSING_GOLDEN,
  World,
} from '../../../../test/scenario/world.js';
import type { ExecutionResult } from './execute.js';
import type { HaltResult } from './halt.js';
import type { HoldResult } from './hold.js';
import { rebuildState } from './machine.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';
import { applyEntries, applyEntry } from './reduce.js';
import { storedPolicy, type ProposeReleaseResult } from './release.js';
import type { RegisterRollbackResult, RunRollbackResult } from './rollback.js';
import { createState, projectionRows, type AuthorityState } from './state.js';

/**
 * The reducer is what the ledger means (ADR 002 §2). Its laws, over a ledger
 * that walks every kind of record through its life: an entry naming
 * something the state does not hold changes nothing and never throws, so
 * every ledger ever written replays; a transition applies once, so an entry
 * seen twice (two replicas racing, a ledger stitched back together) cannot
 * move a record a second time; and the projection says what happened.
 */

const OLIVIA = caller('olivia', 'approver-console');
const LENA = caller('lena', 'approver-console');
const PRIYA = caller('priya', 'approver-console');
const SAM = caller('sam', 'signed-cli');

interface Tour {
  readonly w: World;
  readonly ids: Record<string, string>;
}

function consume(w: World, grant: string): string {
  return ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant })).execution;
}

/** Every kind of record taken through its life, with the ids of what it made. */
function tour(): Tour {
  const w = new World(examplePolicy());
  const ids: Record<string, string> = {};

  // a snapshot that ran and succeeded; a grant presented twice
  const snap = ok(w.propose([snapshotStep()])).steps[0];
  ids['snapshotGrant'] = snap?.grant?.jti ?? '';
  ids['snapshotRun'] = consume(w, ids['snapshotGrant']);
  ok(w.run({ kind: 'outcome', caller: COPILOT, execution: ids['snapshotRun'], outcome: 'succeeded' }));
  refused(w.run({ kind: 'consume', caller: COPILOT, grant: ids['snapshotGrant'] }));

  // a restart approved after one refusal, run on its grant, that failed
  const restart = ok(w.propose([restartStep()], { incident: 'inc-9' })).steps[0];
  ids['restartStep'] = restart?.step ?? '';
  ids['restartRequest'] = restart?.request ?? '';
  refused(w.approve(ids['restartRequest'], 'olivia', 'approver-console'));
  ok(w.approve(ids['restartRequest'], 'lena', 'approver-console'));
  const reg = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: ids['restartStep'], action: 'workers.rollback_pool', target: 'payments-worker', params: { to: 'previous' } }));
  ids['restartArtifact'] = reg.artifact;
  ids['restartGrant'] = reg.grant?.jti ?? '';
  ids['restartRun'] = consume(w, ids['restartGrant']);
  ok(w.run({ kind: 'outcome', caller: COPILOT, execution: ids['restartRun'], outcome: 'failed' }));

  // a request denied, another left to expire
  ids['deniedRequest'] = ok(w.propose([restartStep({ target: 'ledger-worker' })])).steps[0]?.request ?? '';
  ok(w.approve(ids['deniedRequest'], 'leo', 'approver-console', { decision: 'deny' }));
  ids['expiredRequest'] = ok(w.propose([restartStep({ target: 'refund-worker' })])).steps[0]?.request ?? '';

  // a hold; a held restart unlocked by a lease, an attempt by the requester denied; new evidence
  ids['hold'] = ok(w.run<HoldResult>({ kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE, incident: 'inc-9' })).hold;
  const held = ok(w.propose([restartStep({ params: { strategy: 'immediate' } })])).steps[0];
  ids['heldStep'] = held?.step ?? '';
  ids['heldArtifact'] = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: ids['heldStep'], action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
  const draft = restartOverride(w, ids['hold'], held?.digest ?? '', ids['heldArtifact']);
  const granted = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...draft }));
  ids['grantedOverride'] = granted.override;
  ids['lease'] = ok(
    w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: granted.override, signatures: [w.sign(granted.body, 'a', 'lena', 'signed-cli'), w.sign(granted.body, 'b', 'fatima', 'signed-cli')] }),
  ).lease;
  const denied = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...draft }));
  ids['deniedOverride'] = denied.override;
  refused(w.run({ kind: 'override_submit', caller: OLIVIA, override: denied.override, signatures: [w.sign(denied.body, 'a', 'olivia', 'approver-console'), w.sign(denied.body, 'b', 'fatima', 'signed-cli')] }));
  ids['leaseRun'] = ok(w.run<ExecutionResult>({ kind: 'use_lease', caller: COPILOT, lease: ids['lease'], step: ids['heldStep'] })).execution;
  ok(w.run({ kind: 'hold_evidence', caller: LENA, hold: ids['hold'], evidence_hash: EVIDENCE_2 }));

  // the restart's rollback runs; the hold is lifted; a halt comes, revoking a live grant in prod, and goes
  ids['rollbackRun'] = ok(w.run<RunRollbackResult>({ kind: 'rollback_run', caller: OLIVIA, artifact: ids['restartArtifact'] })).execution;
  ok(w.run({ kind: 'hold_lift', caller: PRIYA, hold: ids['hold'] }));
  ids['haltedGrant'] = ok(w.propose([snapshotStep({ target: 'payments-queue/shard-5' })])).steps[0]?.grant?.jti ?? '';
  ids['halt'] = ok(w.run<HaltResult>({ kind: 'halt', caller: SAM, scope: { kind: 'environment', environment: 'prod' } })).halt;
  ok(w.run({ kind: 'halt_lift', caller: SAM, halt: ids['halt'] }));

  // a step with a grant and a lease: the grant runs it and retires the lease's entry
  const settle = ok(w.propose([restartStep({ target: 'settle-worker' })])).steps[0];
  ok(w.approve(settle?.request ?? '', 'lena', 'approver-console'));
  const settleReg = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: settle?.step ?? '', action: 'workers.rollback_pool', target: 'settle-worker' }));
  const second = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...restartOverride(w, null, settle?.digest ?? '', settleReg.artifact), scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['settle-worker'] } }));
  ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: second.override, signatures: [w.sign(second.body, 'a', 'lena', 'signed-cli'), w.sign(second.body, 'b', 'fatima', 'signed-cli')] }));
  consume(w, settleReg.grant?.jti ?? '');

  // a step granted, then run by a lease instead: its grant is revoked (`step_executed`)
  const leased = ok(w.propose([restartStep({ target: 'batch-worker' })])).steps[0];
  const leasedArtifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: OLIVIA, step: leased?.step ?? '', action: 'workers.rollback_pool', target: 'batch-worker' })).artifact;
  ids['leasedGrant'] = ok(w.approve(leased?.request ?? '', 'lena', 'approver-console')).grant?.jti ?? '';
  const third = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: OLIVIA, ...restartOverride(w, null, leased?.digest ?? '', leasedArtifact), scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['batch-worker'] } }));
  // the third lease in prod this week: the budget asks for an extra signer
  const signatures = [w.sign(third.body, 'a', 'lena', 'signed-cli'), w.sign(third.body, 'b', 'fatima', 'signed-cli'), w.sign(third.body, 'extra', 'priya', 'signed-cli')];
  const thirdLease = ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: third.override, signatures })).lease;
  ok(w.run<ExecutionResult>({ kind: 'use_lease', caller: COPILOT, lease: thirdLease, step: leased?.step ?? '' }));

  // the timer expires what is left; two releases, one activated, the other superseded
  w.advance(16 * MINUTE);
  ok(w.run({ kind: 'expire' }));
  const diff = { replayed: 0, changed: 0, static_changes: 1, digest: canonicalDigest({ diff: 'tour' }) };
  const propose = (description: string) => ok(w.run<ProposeReleaseResult>({ kind: 'release_propose', caller: PRIYA, candidate: compileBundle({ ...w.policy.bundle, description }), golden: PASSING_GOLDEN, diff }));
  const first = propose('the tour, activated');
  ids['activatedRelease'] = first.release;
  ids['candidate'] = first.candidate;
  ids['supersededRelease'] = propose('the tour, superseded').release;
  // what the activation ends: a live grant and an open request; and a signature refused
  ids['liveGrant'] = ok(w.propose([snapshotStep({ target: 'payments-queue/shard-8' })])).steps[0]?.grant?.jti ?? '';
  ids['openRequest'] = ok(w.propose([restartStep({ target: 'audit-worker' })])).steps[0]?.request ?? '';
  refused(w.signRelease(first.release, 'priya', 'signed-cli'));
  ok(w.signRelease(first.release, 'fatima', 'signed-cli'));
  ok(w.signRelease(first.release, 'sam', 'signed-cli'));
  return { w, ids };
}

/** The projection rows as canonical text, for comparing states. */
const rows = (state: AuthorityState): string[] => projectionRows(state).map((r) => `${r.kind}/${r.id} ${canonicalJson(r.value)}`);

// Entries that move a record already there; each must name it to apply.
const TRANSITIONS = new Set([
  'approval.accepted',
  'approval.rejected',
  'request.approved',
  'request.denied',
  'request.expired',
  'request.voided',
  'grant.consumed',
  'grant.rejected',
  'grant.revoked',
  'execution.outcome',
  'hold.evidence_added',
  'hold.lifted',
  'override.granted',
  'override.denied',
  'lease.used',
  'lease.revoked',
  'lease.step_retired',
  'rollback.executed',
  'halt.lifted',
  'release.signed',
  'release.rejected',
]);

// Of those, the ones whose reducer moves a record once, whatever the store: counters and
// evidence lists grow with each entry, an execution is made once by the store's unique key
// (`step.executed:<step>`, ADR 002 §5), and approving or granting again rewrites the same outcome.
const ONCE = new Set(
  [...TRANSITIONS].filter(
    (t) => !['approval.rejected', 'grant.rejected', 'hold.evidence_added', 'release.rejected', 'approval.accepted', 'release.signed', 'grant.consumed', 'lease.used', 'request.approved', 'override.granted'].includes(t),
  ),
);

describe('replaying the ledger', () => {
  it('walks every transition of the catalog in the tour', () => {
    const types = new Set(tour().w.machine.entries.map((e) => e.type));
    expect([...TRANSITIONS].filter((t) => !types.has(t as never))).toEqual([]);
  });

  it('ignores an entry that names something the state does not hold, rather than throwing', () => {
    const { entries } = tour().w.machine;
    const empty = rows(createState());
    for (const entry of entries) {
      const state = createState();
      expect(() => applyEntry(state, entry), entry.type).not.toThrow();
      // a granted override is also the lease's own record, made whether or not the request is known
      if (TRANSITIONS.has(entry.type) && entry.type !== 'override.granted') expect(rows(state), entry.type).toEqual(empty);
    }
  });

  it('applies a transition once: the same entry again, later and from elsewhere, changes nothing', () => {
    const { entries } = tour().w.machine;
    let checked = 0;
    for (const [i, entry] of entries.entries()) {
      if (!ONCE.has(entry.type)) continue;
      const state = rebuildState(entries.slice(0, i + 1));
      const before = rows(state);
      const again: LedgerEntry = { ...entry, seq: entries.length + i, at: new Date(Date.parse(entry.at) + 60 * MINUTE).toISOString(), actor: 'replica-2' };
      applyEntry(state, again);
      expect(rows(state), `${entry.type} #${entry.seq}`).toEqual(before);
      checked += 1;
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('touches each projection row at most once per entry, and applyEntries is applyEntry in order', () => {
    const { entries } = tour().w.machine;
    const one = createState();
    for (const entry of entries) {
      const touched = applyEntry(one, entry).map((r) => `${r.kind}/${r.id}`);
      expect(new Set(touched).size, entry.type).toBe(touched.length);
    }
    const all = createState();
    const refs = applyEntries(all, entries).map((r) => `${r.kind}/${r.id}`);
    expect(rows(all)).toEqual(rows(one));
    expect(all.seq).toBe(entries.length - 1);
    // a row many entries touch is reported once, for one upsert
    expect(new Set(refs).size).toBe(refs.length);
    expect(refs.filter((r) => r === 'bundle/active')).toHaveLength(1);
  });

  it('keeps the highest seq applied when an older entry arrives late, even one outside the catalog', () => {
    const { entries } = tour().w.machine;
    const state = rebuildState(entries);
    const first = entries[0];
    if (!first) throw new Error('empty tour');
    applyEntry(state, { ...first, type: 'ledger.note', seq: 2, payload: {} });
    expect(state.seq).toBe(entries.length - 1);
  });
});

/**
 * Entries the commands never write in this order, but a replica racing
 * another, or a ledger stitched back together, can: each leaves a record
 * that has moved on as it is.
 */
describe('an entry that arrives after its record moved on', () => {
  /** `entry` again, an hour later, from another replica, with `payload` fields changed. */
  function late(entries: readonly LedgerEntry[], entry: LedgerEntry | undefined, payload: Record<string, string> = {}): LedgerEntry {
    if (!entry) throw new Error('no such entry in the tour');
    return { ...entry, seq: entries.length, at: new Date(Date.parse(entry.at) + 60 * MINUTE).toISOString(), actor: 'replica-2', payload: { ...entry.payload, ...payload } };
  }
  const find = (entries: readonly LedgerEntry[], type: string, subject: string, id: string): LedgerEntry | undefined =>
    entries.find((e) => e.type === type && e.subjects[subject] === id);
  /** The tour's entries, the state rebuilt from them, and the ids it noted. */
  const rebuilt = () => {
    const { w, ids } = tour();
    const { entries } = w.machine;
    return { entries, state: rebuildState(entries), ids };
  };

  it('does not move a closed release: a late denial or expiry leaves it activated, and a signer’s credential is listed once', () => {
    const { entries, state, ids } = rebuilt();
    const release = ids['activatedRelease'] ?? '';
    const before = state.releases.get(release);
    const closedAt = before?.closed_at;
    const signed = find(entries, 'release.signed', 'release', release);
    applyEntry(state, late(entries, signed));
    applyEntry(state, late(entries, signed, { decision: 'deny' }));
    applyEntry(state, late(entries, find(entries, 'release.rejected', 'release', release), { code: 'REQUEST_EXPIRED' }));
    const after = state.releases.get(release);
    expect(after).toMatchObject({ status: 'activated', closed_at: closedAt });
    const credential = signed?.payload['credential'];
    expect(after?.credentials.filter((c) => c === credential)).toHaveLength(1);
  });

  it('lists an approver’s credential once on a request, though the approval is recorded again', () => {
    const { entries, state, ids } = rebuilt();
    const request = ids['restartRequest'] ?? '';
    const accepted = find(entries, 'approval.accepted', 'request', request);
    applyEntry(state, late(entries, accepted));
    expect(state.requests.get(request)?.credentials).toEqual([COPILOT.credential, 'cred-lena-approver-console']);
  });

  it('keeps a rollback artifact on a step decided again under the bundle the artifact was registered under', () => {
    const { entries, state, ids } = rebuilt();
    const step = ids['restartStep'] ?? '';
    applyEntry(state, late(entries, find(entries, 'step.decided', 'step', step)));
    expect(state.steps.get(step)?.artifact).toBe(ids['restartArtifact']);
  });

  it('does not authorise a step through a request it has moved on from', () => {
    const { entries, state, ids } = rebuilt();
    const voided = ids['openRequest'] ?? '';
    const step = state.requests.get(voided)?.step ?? '';
    // the activation voided the request and decided the step again, under a request of its own
    expect(state.steps.get(step)).toMatchObject({ authorized: false, request: expect.not.stringMatching(`^${voided}$`) });
    applyEntry(state, late(entries, entries.find((e) => e.type === 'request.approved'), { request: voided, step }));
    expect(state.steps.get(step)?.authorized).toBe(false);
  });

  it('leaves a consumed grant consumed: a late expiry or revocation does not end it again', () => {
    const { entries, state, ids } = rebuilt();
    const grant = ids['snapshotGrant'] ?? '';
    applyEntry(state, late(entries, find(entries, 'grant.rejected', 'grant', grant), { code: 'GRANT_EXPIRED' }));
    applyEntry(state, late(entries, entries.find((e) => e.type === 'grant.revoked'), { jti: grant }));
    expect(state.grants.get(grant)).toMatchObject({ status: 'consumed', revoked_reason: null, execution: ids['snapshotRun'] });
  });

  it('reads a ledger written before an activation or a halt revoked its grants by itself: the revocations that follow each change no row', () => {
    const { entries, ids } = rebuilt();
    let before = [...entries];
    for (const [type, grant, reason] of [
      ['bundle.activated', ids['liveGrant'] ?? '', 'bundle_change'],
      ['halt.issued', ids['haltedGrant'] ?? '', 'halt'],
    ] as const) {
      const index = before.findLastIndex((e) => e.type === type);
      const at = before[index];
      if (at === undefined) throw new Error(`the tour records a ${type}`);
      expect(at.payload['grants_revoked']).toBe(1);
      // what the gateway wrote before ADR 006 decision 4: the entry without a count, then a `grant.revoked` for each grant it ended
      const { grants_revoked: _count, ...payload } = at.payload;
      const revoked: LedgerEntry = { ...at, type: 'grant.revoked', subjects: { grant: grant }, payload: { jti: grant, reason, cause: 'x', rule_ids: ['r'] } };
      before = [...before.slice(0, index), { ...at, payload }, revoked, ...before.slice(index + 1)];
    }
    const state = rebuildState(before);
    expect(state.grants.get(ids['liveGrant'] ?? '')).toMatchObject({ status: 'revoked', revoked_reason: 'bundle_change' });
    expect(state.grants.get(ids['haltedGrant'] ?? '')).toMatchObject({ status: 'revoked', revoked_reason: 'halt' });
    expect(rows(state)).toEqual(rows(rebuildState(entries)));
  });

  it('keeps the first reason a lease was revoked for', () => {
    const { entries, state, ids } = rebuilt();
    const lease = ids['lease'] ?? '';
    applyEntry(state, late(entries, find(entries, 'lease.revoked', 'lease', lease), { reason: 'bundle_change' }));
    expect(state.leases.get(lease)).toMatchObject({ status: 'revoked', revoked_reason: 'hold_evidence' });
  });

  it('records a lease use naming a step the state does not hold under the lease, with what it cannot know left empty', () => {
    const { entries, state, ids } = rebuilt();
    const lease = ids['lease'] ?? '';
    applyEntry(state, late(entries, find(entries, 'lease.used', 'lease', lease), { step: 'proposal-404.0', execution: 'execution-404' }));
    expect(state.executions.get('execution-404')).toMatchObject({ via: 'lease', lease, step: 'proposal-404.0', action: '', environment: state.leases.get(lease)?.environments[0], target: '' });
    expect(state.leases.get(lease)?.environments[0]).toBe('prod');
  });
});

describe('what the projection says happened', () => {
  it('records each life to its end', () => {
    const { w, ids } = tour();
    const s = rebuildState(w.machine.entries);
    const id = (k: string): string => ids[k] ?? '';
    expect(s.requests.get(id('restartRequest'))).toMatchObject({ status: 'approved', rejected: 1, approvals: [expect.objectContaining({ approver: 'lena', decision: 'approve' })] });
    expect(s.requests.get(id('deniedRequest'))?.status).toBe('denied');
    expect(s.requests.get(id('expiredRequest'))?.status).toBe('expired');
    expect(s.grants.get(id('snapshotGrant'))).toMatchObject({ status: 'consumed', execution: id('snapshotRun'), rejected: 1 });
    expect(s.executions.get(id('snapshotRun'))).toMatchObject({ via: 'grant', outcome: 'succeeded', action: 'queue.snapshot_shard' });
    expect(s.executions.get(id('restartRun'))).toMatchObject({ via: 'grant', outcome: 'failed' });
    expect(s.executions.get(id('leaseRun'))).toMatchObject({ via: 'lease', lease: id('lease'), step: id('heldStep'), action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker' });
    expect(s.executions.get(id('rollbackRun'))).toMatchObject({ via: 'rollback', artifact: id('restartArtifact'), step: null });
    expect(s.artifacts.get(id('restartArtifact'))).toMatchObject({ status: 'executed', execution: id('rollbackRun'), params: { to: 'previous' } });
    expect(s.holds.get(id('hold'))).toMatchObject({ status: 'lifted', lifted_by: 'priya', evidence: [EVIDENCE, EVIDENCE_2] });
    expect(s.halts.get(id('halt'))).toMatchObject({ status: 'lifted', lifted_by: 'sam' });
    expect(s.overrides.get(id('grantedOverride'))).toMatchObject({ status: 'granted', lease: id('lease'), codes: [] });
    expect(s.overrides.get(id('deniedOverride'))).toMatchObject({ status: 'denied', lease: null });
    expect(s.overrides.get(id('deniedOverride'))?.codes).toContain('O1_IDENTITY_COLLISION');
    expect(s.leases.get(id('lease'))).toMatchObject({ status: 'revoked', revoked_reason: 'hold_evidence', used: { [s.steps.get(id('heldStep'))?.digest ?? '']: id('leaseRun') } });
    expect(s.steps.get(id('heldStep'))?.params).toEqual({ strategy: 'immediate' });
    expect(s.releases.get(id('activatedRelease'))?.status).toBe('activated');
    expect(s.releases.get(id('supersededRelease'))?.status).toBe('superseded');
    expect(s.bundle).toMatchObject({ bundle_id: id('candidate'), previous: [examplePolicy().bundleId] });
    expect(s.grants.get(id('liveGrant'))).toMatchObject({ status: 'revoked', revoked_reason: 'bundle_change' });
    expect(s.requests.get(id('openRequest'))?.status).toBe('voided');
    expect(s.releases.get(id('activatedRelease'))?.rejected).toBe(1);
    // the text of every bundle activated stays in the ledger: a replica can compile the rules in force
    expect(storedPolicy(s, id('candidate'))?.bundleId).toBe(id('candidate'));
  });

  it('opens a request with no approval and no refusal yet', () => {
    const w = new World(examplePolicy());
    const request = ok(w.propose([restartStep()])).steps[0]?.request ?? '';
    expect(w.state.requests.get(request)).toMatchObject({ status: 'open', approvals: [], rejected: 0, credentials: [COPILOT.credential] });
  });

  it('lets a signer’s credential count once per release: a second signer on it is refused', () => {
    const w = new World(examplePolicy());
    const diff = { replayed: 0, changed: 0, static_changes: 1, digest: canonicalDigest({ diff: 'once' }) };
    const { release } = ok(w.run<ProposeReleaseResult>({ kind: 'release_propose', caller: PRIYA, candidate: compileBundle({ ...w.policy.bundle, description: 'credential once' }), golden: PASSING_GOLDEN, diff }));
    ok(w.signRelease(release, 'fatima', 'signed-cli'));
    expect(w.state.releases.get(release)?.credentials).toContain('cred-fatima-signed-cli');
    const record = w.state.releases.get(release);
    const statement = { request: release, step_digest: record?.release_digest ?? '', bundle_id: w.policy.bundleId, decision: 'approve' as const, approver: 'sam', surface: 'signed-cli', reason: 'ok', signed_at: new Date(w.now).toISOString() };
    const reused = w.run({ kind: 'release_approve', caller: caller('sam', 'signed-cli', 'cred-fatima-signed-cli'), statement, attestation: { kind: 'key', key_id: 'sam-2025', signature: 'A'.repeat(86) }, signature_verified: true });
    expect(refused(reused).code).toBe('CREDENTIAL_REUSED');
    expect(w.state.releases.get(release)?.rejected).toBe(1);
  });

  it('expires a release signed after its window', () => {
    const w = new World(examplePolicy());
    const diff = { replayed: 0, changed: 0, static_changes: 1, digest: canonicalDigest({ diff: 'late' }) };
    const { release } = ok(w.run<ProposeReleaseResult>({ kind: 'release_propose', caller: PRIYA, candidate: compileBundle({ ...w.policy.bundle, description: 'signed late' }), golden: PASSING_GOLDEN, diff }));
    w.advance(24 * 60 * MINUTE);
    expect(refused(w.signRelease(release, 'fatima', 'signed-cli')).code).toBe('REQUEST_EXPIRED');
    expect(w.state.releases.get(release)?.status).toBe('expired');
  });

  it('lets an approver’s credential count once per request', () => {
    const w = new World(examplePolicy());
    const snap = ok(w.propose([snapshotStep()])).steps[0]?.grant?.jti ?? '';
    ok(w.run({ kind: 'outcome', caller: COPILOT, execution: consume(w, snap), outcome: 'succeeded' }));
    const request = ok(w.propose([clearStep()])).steps[0]?.request ?? '';
    ok(w.approve(request, 'lena', 'signed-cli'));
    expect(w.state.requests.get(request)?.credentials).toEqual([COPILOT.credential, 'cred-lena-signed-cli']);
    expect(refused(w.approve(request, 'fatima', 'approver-console', { credential: 'cred-lena-signed-cli' })).code).toBe('CREDENTIAL_REUSED');
  });
});

describe('the latest success of a step on a target', () => {
  it('is what a prerequisite counts from: a failed run does not count', () => {
    const w = new World(examplePolicy());
    const snap = ok(w.propose([snapshotStep({ environment: 'dev' })])).steps[0]?.grant?.jti ?? '';
    ok(w.run({ kind: 'outcome', caller: COPILOT, execution: consume(w, snap), outcome: 'failed' }));
    expect(ok(w.propose([clearStep({ environment: 'dev' })])).steps[0]?.reasons).toContain('PREREQUISITE_MISSING');
  });

  it('moves forward with a later success: the window counts from the latest', () => {
    const w = new World(examplePolicy());
    const snapshot = (): string => ok(w.propose([snapshotStep({ environment: 'dev' })])).steps[0]?.grant?.jti ?? '';
    ok(w.run({ kind: 'outcome', caller: COPILOT, execution: consume(w, snapshot()), outcome: 'succeeded' }));
    w.advance(20 * MINUTE);
    ok(w.run({ kind: 'outcome', caller: COPILOT, execution: consume(w, snapshot()), outcome: 'succeeded' }));
    // 45 minutes after the first success, 25 after the second: within the 30 minutes of the second only
    w.advance(25 * MINUTE);
    expect(ok(w.propose([clearStep({ environment: 'dev' })])).steps[0]?.effect).toBe('allow');
  });

  it('is the latest in time, not the latest reported: a replica reporting an older success does not move it back', () => {
    const w = new World(examplePolicy());
    const first = ok(w.propose([snapshotStep({ environment: 'dev' }), snapshotStep({ environment: 'dev', params: {} })])).steps.map((s) => s.grant?.jti ?? '');
    const t = w.now;
    ok(w.run({ kind: 'outcome', caller: COPILOT, execution: consume(w, first[0] ?? ''), outcome: 'succeeded' }));
    // a replica twenty minutes behind reports another success of the same snapshot
    w.now = t - 20 * MINUTE;
    ok(w.run({ kind: 'outcome', caller: COPILOT, execution: consume(w, first[1] ?? ''), outcome: 'succeeded' }));
    // 25 minutes after the real latest success: within its 30 minutes
    w.now = t + 25 * MINUTE;
    expect(ok(w.propose([clearStep({ environment: 'dev' })])).steps[0]?.effect).toBe('allow');
  });
});
