import { describe, expect, it, vi } from 'vitest';
import { canonicalJson } from '../canonical.js';
import { decodeEntry, sealEntry, type LedgerEntry } from '../ledger/entry.js';
import {
  caller,
  compileBundle,
  COPILOT,
  EVIDENCE,
  EVIDENCE_2,
  examplePolicy,
  inspectStep,
  MINUTE,
  ok,
  restartOverride,
  restartStep,
  snapshotStep,
  PASSING_GOLDEN,
  SAMPLE_PASSKEY,
  World,
} from '../../../../test/scenario/world.js';
import { ENTRY_TYPES } from './entries.js';
import { createdBy, recreations, recreationText, withoutRecreations } from './creation.js';
import { parseEntries, type AuthorityEntry } from './parse.js';
import { rebuildState } from './machine.js';
import { applyEntry } from './reduce.js';
import { createState, projectionRow, projectionRows, type AuthorityState, type StepRecord } from './state.js';
import type { HoldResult } from './hold.js';
import type { ProposeResult } from './propose.js';
import type { RegisterRollbackResult } from './rollback.js';
import type { RequestOverrideResult, SubmitOverrideResult } from './override.js';

function rows(state: AuthorityState): Map<string, string> {
  return new Map(projectionRows(state).map((r) => [`${r.kind}/${r.id}`, canonicalJson(r.value)]));
}

/** A busy ledger touching every entry type: proposals, approvals, grants, holds, overrides, rollback, halt, bundles. */
function busyWorld(stored?: Map<string, string>): World {
  const w = new World(examplePolicy());
  const track = <R>(step: { touched: readonly { kind: string; id: string }[] } & R): R => {
    if (stored) {
      for (const ref of step.touched) {
        const value = projectionRow(w.state, ref as never);
        const key = `${ref.kind}/${ref.id}`;
        if (value === null) stored.delete(key);
        else stored.set(key, canonicalJson(value));
      }
      // after every command, not only at the end: a later touch must not hide a missed one
      expect(stored).toEqual(rows(w.state));
    }
    return step;
  };
  if (stored) for (const [k, v] of rows(w.state)) stored.set(k, v);
  const run: World['run'] = (command) => track(w.run(command));
  const lena = caller('lena', 'approver-console');
  const olivia = caller('olivia', 'approver-console');

  const p = ok(track(w.propose([restartStep(), inspectStep(), snapshotStep()], { incident: 'inc-42' })));
  // the one-call path: an allowed diagnostic run in the deciding commit
  ok(run({ kind: 'propose', caller: COPILOT, proposal: { agent: COPILOT.principal, on_behalf_of: 'olivia', surface: COPILOT.surface, steps: [inspectStep({ target: 'payments-queue/shard-1' })] }, execute: true }));
  // the requester approving her own request: refused, recorded
  track(w.approve(p.steps[0]?.request ?? '', 'olivia', 'approver-console'));
  ok(track(w.approve(p.steps[0]?.request ?? '', 'lena', 'approver-console')));
  const artifact = ok(run<RegisterRollbackResult>({ kind: 'rollback_register', caller: olivia, step: p.steps[0]?.step ?? '', action: 'workers.rollback_pool', target: 'payments-worker' }));
  const exec = ok(run({ kind: 'consume', caller: COPILOT, grant: artifact.grant?.jti ?? '' }));
  ok(run({ kind: 'outcome', caller: COPILOT, execution: (exec as { execution: string }).execution, outcome: 'failed' }));
  run({ kind: 'outcome', caller: COPILOT, execution: (exec as { execution: string }).execution, outcome: 'succeeded' });
  run({ kind: 'consume', caller: COPILOT, grant: artifact.grant?.jti ?? '' });
  const snap = ok(run({ kind: 'consume', caller: COPILOT, grant: p.steps[2]?.grant?.jti ?? '' }));
  ok(run({ kind: 'outcome', caller: COPILOT, execution: (snap as { execution: string }).execution, outcome: 'succeeded' }));

  const hold = ok(run<HoldResult>({ kind: 'hold_open', caller: lena, trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE, incident: 'inc-42' })).hold;
  const held = ok(track(w.propose([restartStep({ params: { strategy: 'immediate' } })], { incident: 'inc-42' }))).steps[0];
  const art2 = ok(run<RegisterRollbackResult>({ kind: 'rollback_register', caller: olivia, step: held?.step ?? '', action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
  const req = ok(run<RequestOverrideResult>({ kind: 'override_request', caller: olivia, ...restartOverride(w, hold, held?.digest ?? '', art2) }));
  const lease = ok(
    run<SubmitOverrideResult>({
      kind: 'override_submit',
      caller: caller('lena', 'signed-cli'),
      override: req.override,
      signatures: [w.sign(req.body, 'a', 'lena', 'signed-cli'), w.sign(req.body, 'b', 'fatima', 'signed-cli')],
    }),
  ).lease;
  // the requester signing her own override: denied with its gates
  const own = ok(run<RequestOverrideResult>({ kind: 'override_request', caller: olivia, ...restartOverride(w, hold, held?.digest ?? '', art2) }));
  run({ kind: 'override_submit', caller: olivia, override: own.override, signatures: [w.sign(own.body, 'a', 'olivia', 'approver-console'), w.sign(own.body, 'b', 'fatima', 'signed-cli')] });
  // a lease whose window opens later, used too early: a clock breach
  const later = ok(
    run<RequestOverrideResult>({
      kind: 'override_request',
      caller: olivia,
      ...restartOverride(w, hold, held?.digest ?? '', art2, { valid_from: new Date(w.now + 10 * MINUTE).toISOString(), valid_to: new Date(w.now + 40 * MINUTE).toISOString() }),
    }),
  );
  const early = ok(
    run<SubmitOverrideResult>({
      kind: 'override_submit',
      caller: caller('lena', 'signed-cli'),
      override: later.override,
      signatures: [w.sign(later.body, 'a', 'lena', 'signed-cli'), w.sign(later.body, 'b', 'fatima', 'signed-cli')],
    }),
  ).lease;
  run({ kind: 'use_lease', caller: COPILOT, lease: early, step: held?.step ?? '' });
  w.advance(MINUTE);
  ok(run({ kind: 'use_lease', caller: COPILOT, lease, step: held?.step ?? '' }));
  run({ kind: 'use_lease', caller: COPILOT, lease, step: held?.step ?? '' });
  ok(run({ kind: 'hold_evidence', caller: lena, hold, evidence_hash: EVIDENCE_2 }));
  run({ kind: 'hold_open', caller: COPILOT, trip_gate: 'K1', scope: {}, evidence_hash: EVIDENCE });
  ok(run({ kind: 'rollback_run', caller: olivia, artifact: artifact.artifact }));
  const halt = ok(run({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'incident', incident: 'inc-42' } })) as { halt: string };
  ok(run({ kind: 'halt_lift', caller: caller('sam', 'signed-cli'), halt: halt.halt }));
  ok(run({ kind: 'hold_lift', caller: caller('priya', 'approver-console'), hold }));
  // a passkey registered, one approval signed with it, revoked
  ok(run({ kind: 'passkey_register', caller: lena, passkey: SAMPLE_PASSKEY, identity: null }));
  const keyed = ok(track(w.propose([restartStep({ target: 'billing-worker' })])));
  ok(track(w.approve(keyed.steps[0]?.request ?? '', 'lena', 'approver-console', { passkey: SAMPLE_PASSKEY.credential_id })));
  ok(run({ kind: 'passkey_revoke', caller: lena, credential_id: SAMPLE_PASSKEY.credential_id }));
  // that step granted on its rollback, then run by a lease instead: its grant is revoked (`step_executed`)
  const keyedStep = keyed.steps[0];
  const keyedArtifact = ok(run<RegisterRollbackResult>({ kind: 'rollback_register', caller: olivia, step: keyedStep?.step ?? '', action: 'workers.rollback_pool', target: 'billing-worker' })).artifact;
  const billing = ok(run<RequestOverrideResult>({ kind: 'override_request', caller: olivia, ...restartOverride(w, null, keyedStep?.digest ?? '', keyedArtifact, { scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['billing-worker'] } }) }));
  const billingLease = ok(
    run<SubmitOverrideResult>({
      kind: 'override_submit',
      caller: caller('lena', 'signed-cli'),
      override: billing.override,
      // the third lease in prod this week: the budget asks for an extra signer
      signatures: [w.sign(billing.body, 'a', 'lena', 'signed-cli'), w.sign(billing.body, 'b', 'fatima', 'signed-cli'), w.sign(billing.body, 'extra', 'priya', 'signed-cli')],
    }),
  ).lease;
  ok(run({ kind: 'use_lease', caller: COPILOT, lease: billingLease, step: keyedStep?.step ?? '' }));
  // left pending: voided and decided again by the activation below
  ok(track(w.propose([restartStep({ target: 'ledger-worker' })])));
  const denied = ok(track(w.propose([restartStep({ target: 'refund-worker' })])));
  ok(track(w.approve(denied.steps[0]?.request ?? '', 'leo', 'approver-console', { decision: 'deny' })));
  // a release signature from the proposer's own reporting line, refused; then a governed release
  const candidate = compileBundle({ ...w.policy.bundle, description: 'next' });
  track(w.run({ kind: 'release_propose', caller: caller('priya', 'approver-console'), candidate, golden: PASSING_GOLDEN, diff: { replayed: 0, changed: 0, static_changes: 0, digest: `sha256:${'d'.repeat(64)}` } }));
  track(w.signRelease([...w.state.releases.keys()][0] ?? '', 'lena', 'signed-cli'));
  ok(track(w.activate(candidate)));
  w.advance(40 * MINUTE);
  ok(run({ kind: 'expire' }));
  return w;
}


describe('applyEntry', () => {
  it('rebuilds from the ledger alone exactly the rows the machine holds', () => {
    const w = busyWorld();
    const rebuilt = rebuildState(w.machine.entries);
    expect(rows(rebuilt)).toEqual(rows(w.state));
    // and from the stored bytes, decoded afresh
    const fromBytes = rebuildState(w.machine.sealed.map((s) => decodeEntry(s.bytes)));
    expect(rows(fromBytes)).toEqual(rows(w.state));
  });

  it('reports every row it touched: upserting only those rows reproduces every projection', () => {
    const stored = new Map<string, string>();
    const w = busyWorld(stored);
    expect(stored).toEqual(rows(w.state));
  });

  it('is exercised by every entry type of the catalog', () => {
    const w = busyWorld();
    const seen = new Set(w.machine.entries.map((e) => e.type));
    const missing = ENTRY_TYPES.filter((t) => !seen.has(t));
    expect(missing).toEqual([]);
  });

  it('creates each record once: every entry that creates one, applied again after the whole ledger, changes no row and no index', () => {
    // the entries that create a record under a fresh id; a copy of one (from a replica, or a stitched ledger)
    // must not reopen a request, revive a consumed grant or a revoked lease, or clear a step's executions
    const CREATIONS = ['release.proposed', 'passkey.registered', 'proposal.received', 'request.opened', 'grant.issued', 'step.executed', 'grant.consumed', 'lease.used', 'rollback.executed', 'hold.opened', 'override.requested', 'override.granted', 'rollback.registered', 'halt.issued'];
    const entries = busyWorld().machine.entries;
    for (const type of CREATIONS) {
      const copies = entries.filter((e) => e.type === type);
      expect(copies.length, type).toBeGreaterThan(0);
      const state = rebuildState(entries);
      const before = rows(state);
      const index = structuredClone(state.index);
      for (const [i, entry] of copies.entries()) applyEntry(state, { ...entry, seq: entries.length + i, actor: 'replica-2' });
      expect(rows(state), type).toEqual(before);
      expect(state.index, type).toEqual(index);
    }
  });

  it('is deterministic: the same commands at the same times seal the same bytes', () => {
    const a = busyWorld();
    const b = busyWorld();
    expect(a.machine.sealed.map((s) => Buffer.from(s.hash).toString('hex'))).toEqual(b.machine.sealed.map((s) => Buffer.from(s.hash).toString('hex')));
  });

  it('skips types outside the catalog and tolerates entries naming what it does not hold', () => {
    const state = createState();
    const at = '2025-06-01T09:00:00.000Z';
    const entries: LedgerEntry[] = [
      { type: 'ledger.note', payload: { text: 'hello' } },
      { type: 'grant.consumed', payload: { jti: 'nope', execution: 'x', step: 's', digest: 'd', environment: 'prod', target: 't', credential: null, rule_ids: [] } },
      { type: 'request.approved', payload: { request: 'nope', step: 's', digest: 'd', approvers: [], rule_ids: [] } },
      { type: 'lease.used', payload: { lease: 'nope', step: 's', digest: 'd', execution: 'x', credential: null, rule_ids: [] } },
      { type: 'execution.outcome', payload: { execution: 'nope', outcome: 'succeeded', detail: '', credential: null } },
      { type: 'passkey.revoked', payload: { credential_id: 'nope', principal: 'lena', revoked_by: 'lena', credential: 'c' } },
      { type: 'lease.clock_breach', payload: { lease: 'nope', code: 'O3_CLOCK_BREACH', step: null, digest: null, valid_from: at, valid_to: at, attempted_at: at, incident_flag: true, credential: null, rule_ids: [] } },
    ].map((d, seq) => decodeEntry(sealEntry({ at, actor: null, surface: null, bundle_id: null, subjects: {}, ...d }, seq, null).bytes));
    for (const e of entries) expect(applyEntry(state, e)).toEqual([]);
    expect(state.seq).toBe(6);
    expect(rows(state)).toEqual(rows(createState()));
  });

  it('lists each request under its step digest, oldest first, once: what a retried call looks up', () => {
    const w = new World(examplePolicy());
    const first = ok(w.propose([restartStep()]));
    const other = ok(w.propose([restartStep({ target: 'refund-worker' })]));
    const second = ok(w.propose([restartStep()]));
    const requestOf = (result: typeof first): string => result.steps[0]?.request ?? '';
    const digestOf = (result: typeof first): string => w.state.requests.get(requestOf(result))?.digest ?? '';
    expect(digestOf(first)).toBe(digestOf(second));
    expect(digestOf(first)).not.toBe(digestOf(other));
    expect(w.state.index.requestsByDigest.get(digestOf(first))).toEqual([requestOf(first), requestOf(second)]);
    expect(w.state.index.requestsByDigest.get(digestOf(other))).toEqual([requestOf(other)]);
    // the ledger alone rebuilds it
    const rebuilt = rebuildState(w.machine.entries);
    expect(rebuilt.index.requestsByDigest).toEqual(w.state.index.requestsByDigest);
    // and the first opening again, later and from another replica, lists nothing twice
    const opened = w.machine.entries.find((e) => e.type === 'request.opened');
    if (!opened) throw new Error('no request.opened in the ledger');
    applyEntry(rebuilt, { ...opened, seq: w.machine.entries.length, actor: 'replica-2' });
    expect(rebuilt.index.requestsByDigest).toEqual(w.state.index.requestsByDigest);
  });

  it('keeps one frozen copy of what decisions repeat, and replaces a list that grows instead of changing it', async () => {
    const w = new World(examplePolicy());
    const stepOf = (result: { steps: readonly { step: string }[] }): StepRecord => {
      const step = w.state.steps.get(result.steps[0]?.step ?? '');
      if (!step) throw new Error('the step is not in the state');
      return step;
    };
    const decidedOf = (step: StepRecord): LedgerEntry => {
      const decided = w.machine.entries.find((e) => e.type === 'step.decided' && e.payload['step'] === step.id);
      if (!decided) throw new Error(`no step.decided for ${step.id}`);
      return decided;
    };
    const first = stepOf(ok(w.propose([inspectStep()])));
    const second = stepOf(ok(w.propose([inspectStep({ target: 'payments-queue/shard-1' })])));
    const restart = stepOf(ok(w.propose([restartStep()])));
    const pending = stepOf(ok(w.propose([restartStep({ target: 'refund-worker' })])));

    // steps decided by the same rules hold one copy of their requirements, rule ids, reasons and empty params
    expect(second.requirements).toBe(first.requirements);
    expect(second.rule_ids).toBe(first.rule_ids);
    expect(second.reasons).toBe(first.reasons);
    expect(second.params).toBe(first.params);
    expect(w.state.grants.get(first.grants[0] ?? '')?.rule_ids).toBe(first.rule_ids);
    // requirements that carry an approval deadline seldom repeat: each step has its own copy, equal or not
    expect(pending.requirements).toEqual(restart.requirements);
    expect(pending.requirements).not.toBe(restart.requirements);
    // other rules keep their own values, each what its entry says; the entries themselves stay as they were
    expect(restart.requirements).not.toEqual(first.requirements);
    for (const step of [first, second, restart, pending]) {
      const decided = decidedOf(step);
      expect(step.requirements).toEqual(decided.payload['requirements']);
      expect(step.rule_ids).toEqual(decided.payload['rule_ids']);
      expect(step.reasons).toEqual(decided.payload['reasons']);
      expect(Object.isFrozen(decided.payload['requirements'])).toBe(false);
      expect(Object.isFrozen(decided.payload['rule_ids'])).toBe(false);
    }
    expect(restart.params).toEqual(restartStep().params);
    // a request holds its step's copy of the requirements it was opened with
    const request = w.state.requests.get(restart.request ?? '');
    const opened = w.machine.entries.find((e) => e.type === 'request.opened' && e.payload['request'] === restart.request);
    if (!opened) throw new Error('no request.opened in the ledger');
    expect(request?.requirements).toEqual(opened.payload['requirements']);
    expect(request?.requirements).toBe(restart.requirements);

    // a request whose step the state does not hold (a stitched ledger): its own frozen copy, what the entry says,
    // for requirements the table has not seen, with a deadline or without; a hand-made entry without them, or
    // without its rule ids, passes through as it came (the reducer never throws on what the types rule out)
    const alone = createState();
    const openAlone = (id: string, requirements: unknown, without: readonly string[] = []): void => {
      const payload: Record<string, unknown> = { ...opened.payload, request: id, requirements };
      for (const field of without) delete payload[field];
      applyEntry(alone, decodeEntry(sealEntry({ ...opened, payload: payload as never }, 0, null).bytes));
    };
    const unseen = { ...(opened.payload['requirements'] as object), approval_expires_at: null, grant_ttl_ms: 7_777 };
    const deadline = { ...(opened.payload['requirements'] as object), grant_ttl_ms: 7_778 };
    openAlone('request-unseen', unseen);
    openAlone('request-deadline', deadline);
    openAlone('request-without', undefined, ['requirements', 'rule_ids']);
    // and a request without them whose step the state holds, with requirements
    const withStep = rebuildState(w.machine.entries);
    const bareRequest: Record<string, unknown> = { ...opened.payload, request: 'request-bare' };
    delete bareRequest['requirements'];
    applyEntry(withStep, decodeEntry(sealEntry({ ...opened, payload: bareRequest as never }, w.machine.entries.length, null).bytes));
    expect(withStep.requests.get('request-bare')).toHaveProperty('requirements', undefined);
    expect(alone.requests.get('request-unseen')?.requirements).toEqual(unseen);
    expect(Object.isFrozen(alone.requests.get('request-unseen')?.requirements)).toBe(true);
    expect(alone.requests.get('request-deadline')?.requirements).toEqual(deadline);
    expect(alone.requests.get('request-deadline')?.requirements?.quorum.length).toBeGreaterThan(0);
    expect(Object.isFrozen(alone.requests.get('request-deadline')?.requirements?.quorum)).toBe(true);
    expect(alone.requests.get('request-without')).toHaveProperty('requirements', undefined);
    expect(alone.requests.get('request-without')).toHaveProperty('rule_ids', undefined);
    // nested past what JSON and the structured clone can take (no ledger `sealEntry` wrote): kept as it came
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; i += 1) deep = { within: deep };
    for (const [id, approval_expires_at] of [['request-deep', null], ['request-deep-deadline', '2025-06-01T10:00:00.000Z']] as const) {
      const requirements = { ...(opened.payload['requirements'] as object), approval_expires_at, prerequisites: [deep] };
      expect(applyEntry(alone, { ...opened, payload: { ...opened.payload, request: id, requirements } as never })).toEqual([{ kind: 'request', id }]);
      expect(alone.requests.get(id)?.requirements).toBe(requirements);
    }
    const replayed = rebuildState(w.machine.entries);
    const decidedFirst = decidedOf(first);
    const bare: Record<string, unknown> = { ...decidedFirst.payload };
    delete bare['requirements'];
    applyEntry(replayed, decodeEntry(sealEntry({ ...decidedFirst, payload: bare as never }, w.machine.entries.length, null).bytes));
    expect(replayed.steps.get(first.id)).toHaveProperty('requirements', undefined);

    // frozen all the way down: a record can replace them, never change them for the others
    expect(restart.requirements?.quorum[0]).toBeDefined();
    expect(Object.isFrozen(first.requirements)).toBe(true);
    expect(Object.isFrozen(restart.requirements)).toBe(true);
    expect(Object.isFrozen(restart.requirements?.quorum)).toBe(true);
    expect(Object.isFrozen(restart.requirements?.quorum[0])).toBe(true);
    expect(() => (first.rule_ids as string[]).push('rule:x')).toThrow(TypeError);
    expect(() => Object.assign(first.params, { limit: 5 })).toThrow(TypeError);

    // steps start from one frozen empty list, and a step whose list grows gets a new one
    const empty = pending.executions;
    expect(Object.isFrozen(empty)).toBe(true);
    expect(restart.executions).toBe(empty);
    expect(pending.grants).toBe(empty);
    const direct = ok(w.run<ProposeResult>({ kind: 'propose', caller: COPILOT, proposal: { agent: COPILOT.principal, on_behalf_of: 'olivia', surface: COPILOT.surface, steps: [inspectStep({ target: 'payments-queue/shard-2' })] }, execute: true }));
    const executed = stepOf(direct);
    expect(executed.executions).toHaveLength(1);
    expect(executed.executions).not.toBe(empty);
    expect(empty).toEqual([]);
    expect(rebuildState(w.machine.entries).steps).toEqual(w.state.steps);
    // whatever the table held before: a reducer loaded afresh, with an empty table, rebuilds the same state
    vi.resetModules();
    const cold = (await import('./machine.js')).rebuildState(w.machine.entries);
    expect(cold.steps.get(first.id)?.requirements).not.toBe(first.requirements); // another table, so other copies
    // compared as maps: the module loaded again has its own RecordTable class
    expect(new Map(cold.steps)).toEqual(new Map(w.state.steps));
    expect(cold.requests).toEqual(w.state.requests);
    expect(new Map(cold.grants)).toEqual(new Map(w.state.grants));
  });

  it('records a grant for a step it does not hold under the step, proposal and digest the entry names', () => {
    // a stitched or partial ledger: the reducer takes the step's own copies of these names only when it holds the step
    const state = createState();
    const at = '2025-06-01T09:00:00.000Z';
    const payload = {
      jti: 'grant-1',
      step: 'proposal-9.0',
      proposal: 'proposal-9',
      request: null,
      digest: `sha256:${'ab'.repeat(32)}`,
      action: 'queue.inspect',
      environment: 'prod',
      target: 'payments-queue/shard-7',
      bundle_id: `sha256:${'cd'.repeat(32)}`,
      incident: null,
      issued_at: at,
      expires_at: '2025-06-01T09:05:00.000Z',
      rule_ids: ['r1'],
    };
    const entry = decodeEntry(sealEntry({ at, actor: null, surface: null, bundle_id: payload.bundle_id, subjects: {}, type: 'grant.issued', payload }, 0, null).bytes);
    expect(applyEntry(state, entry)).toEqual([{ kind: 'grant', id: 'grant-1' }]);
    expect(state.grants.get('grant-1')).toMatchObject({ step: 'proposal-9.0', proposal: 'proposal-9', digest: payload.digest, target: payload.target, issued_at: at, status: 'issued' });
  });
});

describe('what the reducer creates once (creation.ts)', () => {
  /** Each creating type, the kind it creates and the payload field holding its id. */
  const KINDS = {
    'release.proposed': ['release', 'release'],
    'passkey.registered': ['passkey', 'credential_id'],
    'proposal.received': ['proposal', 'proposal'],
    'request.opened': ['request', 'request'],
    'grant.issued': ['grant', 'jti'],
    'step.executed': ['execution', 'execution'],
    'hold.opened': ['hold', 'hold'],
    'override.requested': ['override', 'override'],
    'override.granted': ['lease', 'lease'],
    'rollback.registered': ['artifact', 'artifact'],
    'halt.issued': ['halt', 'halt'],
  } as const;
  type CreatingType = keyof typeof KINDS;
  const creates = (type: string): type is CreatingType => Object.hasOwn(KINDS, type);
  /** Payload fields that name a record: a copy keeps them, so a write it made to the record it names would show. */
  const NAMES = new Set(['release', 'credential_id', 'proposal', 'request', 'jti', 'grant', 'execution', 'step', 'hold', 'override', 'lease', 'artifact', 'reverses_step', 'halt']);
  const authority = (entries: readonly LedgerEntry[]): AuthorityEntry[] => parseEntries(entries).flatMap((p) => (p.kind === 'authority' ? [p.entry] : []));

  it('names the record each creating entry makes, by its own id, and nothing for any other type', () => {
    const seen = new Map<string, string | null>();
    for (const e of authority(busyWorld().machine.entries)) {
      const made = createdBy(e);
      seen.set(e.type, made?.kind ?? null);
      expect(made, e.type).toEqual(creates(e.type) ? { kind: KINDS[e.type][0], id: e.payload[KINDS[e.type][1] as keyof typeof e.payload] } : null);
    }
    // every type of the catalog was seen, so the ones not listed create nothing to skip
    expect([...seen.keys()].sort()).toEqual([...ENTRY_TYPES].sort());
  });

  it('is what the reducer ignores whole: a copy, later, its content changed but not what it names, moves no row and no index', () => {
    const entries = busyWorld().machine.entries;
    let checked = 0;
    for (const [i, entry] of entries.entries()) {
      if (!creates(entry.type)) continue;
      const state = rebuildState(entries.slice(0, i + 1));
      const before = rows(state);
      const index = structuredClone(state.index);
      const payload = Object.fromEntries(Object.entries(entry.payload).map(([k, v]) => [k, !NAMES.has(k) && typeof v === 'string' ? `${v}-copy` : v]));
      applyEntry(state, { ...entry, seq: entries.length + i, at: new Date(Date.parse(entry.at) + 60 * 60_000).toISOString(), actor: 'hand-made', payload });
      expect(rows(state), `${entry.type} #${entry.seq}`).toEqual(before);
      expect(state.index, `${entry.type} #${entry.seq}`).toEqual(index);
      checked += 1;
    }
    expect(checked).toBeGreaterThanOrEqual(Object.keys(KINDS).length);
  });

  it('lists a later creation by kind and id with the seq of the first; an execution another entry started counts, and that entry is never listed', () => {
    const parsed = authority(busyWorld().machine.entries);
    const grant = parsed.find((e) => e.type === 'grant.issued');
    const lease = parsed.find((e) => e.type === 'override.granted');
    const consumed = parsed.find((e) => e.type === 'grant.consumed');
    const used = parsed.find((e) => e.type === 'lease.used');
    const rolledBack = parsed.find((e) => e.type === 'rollback.executed');
    const direct = parsed.find((e) => e.type === 'step.executed');
    if (grant?.type !== 'grant.issued' || lease?.type !== 'override.granted' || consumed?.type !== 'grant.consumed' || used?.type !== 'lease.used' || rolledBack?.type !== 'rollback.executed' || direct?.type !== 'step.executed') {
      throw new Error('the busy world issues, grants, consumes, uses a lease, rolls back and runs in one call');
    }
    expect(recreations(parsed).size).toBe(0);
    const n = parsed.length;
    const copies: AuthorityEntry[] = [
      { ...grant, seq: n },
      // a lease under the grant's id is another record
      { ...lease, seq: n + 1, payload: { ...lease.payload, lease: grant.payload.jti } },
      { ...grant, seq: n + 2 },
      // the consumption again is applied in part by the reducer: never skipped
      { ...consumed, seq: n + 3 },
      // a one-call run under the execution the consumption started is ignored whole; so under a lease's or a rollback's
      { ...direct, seq: n + 4, payload: { ...direct.payload, execution: consumed.payload.execution } },
      { ...direct, seq: n + 5, payload: { ...direct.payload, execution: used.payload.execution } },
      { ...direct, seq: n + 6, payload: { ...direct.payload, execution: rolledBack.payload.execution } },
    ];
    const recreated = withoutRecreations([...parsed, ...copies]);
    expect([...recreated.recreated]).toEqual([
      [n, { kind: 'grant', id: grant.payload.jti, first: grant.seq }],
      [n + 2, { kind: 'grant', id: grant.payload.jti, first: grant.seq }],
      [n + 4, { kind: 'execution', id: consumed.payload.execution, first: consumed.seq }],
      [n + 5, { kind: 'execution', id: used.payload.execution, first: used.seq }],
      [n + 6, { kind: 'execution', id: rolledBack.payload.execution, first: rolledBack.seq }],
    ]);
    expect(recreated.applied.map((e) => e.seq)).toEqual([...parsed.map((e) => e.seq), n + 1, n + 3]);
    expect(recreationText({ kind: 'grant', id: 'grant-7', first: 41 })).toBe('creates grant `grant-7` again, which #41 created');
  });
});
