import { describe, expect, it } from 'vitest';
import {
  caller,
  compileBundle,
  COPILOT,
  EVIDENCE,
  examplePolicy,
  inspectStep,
  MINUTE,
  ok,
  restartOverride,
  restartStep,
  World,
} from '../../../../test/scenario/world.js';
import { playGoverned, playPermissive } from '../../../../test/scenario/incident.js';
import { GoldenCase } from '../golden/case.js';
import type { LedgerEntry } from '../ledger/entry.js';
import type { ExecutionResult } from '../state/execute.js';
import type { HoldResult } from '../state/hold.js';
import type { RegisterRollbackResult } from '../state/rollback.js';
import type { RequestOverrideResult, SubmitOverrideResult } from '../state/override.js';
import { classify, type Postmortem } from './classify.js';
import { recordedTwice } from '../../../../test/helpers/recorded-twice.js';
import type { FailureClass } from './taxonomy.js';

const GOVERNED = examplePolicy();

function classOf(pm: Postmortem, cls: FailureClass) {
  return pm.classes.find((c) => c.class === cls);
}

function rulesOf(pm: Postmortem, cls: FailureClass): string[] {
  return (classOf(pm, cls)?.findings ?? []).map((f) => f.rule);
}

function seqOf(w: World, type: string, nth = 0): number {
  const found = w.machine.entries.filter((e) => e.type === type)[nth];
  if (!found) throw new Error(`no ${type} #${nth}`);
  return found.seq;
}

/** Execute a grant as the copilot and report success. */
function run(w: World, grant: string): string {
  const done = ok(w.run<ExecutionResult>({ kind: 'consume', caller: COPILOT, grant }));
  ok(w.run({ kind: 'outcome', caller: COPILOT, execution: done.execution, outcome: 'succeeded' }));
  return done.execution;
}

/** A signed two-person override of the held restart: lena (A) and fatima (B) through the signed CLI. */
function overrideRestart(w: World, hold: string, digest: string, artifact: string, extra?: string): SubmitOverrideResult {
  const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: caller('olivia', 'approver-console'), ...restartOverride(w, hold, digest, artifact) }));
  const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')];
  if (extra) signatures.push(w.sign(requested.body, 'extra', extra, 'signed-cli'));
  return ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: caller('lena', 'signed-cli'), override: requested.override, signatures }));
}

/** A K1 hold on prod, the restart proposed during it (held), and its rollback registered. */
function heldRestart(w: World): { hold: string; step: string; digest: string; artifact: string } {
  const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: caller('sam', 'signed-cli'), trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE })).hold;
  const s = ok(w.propose([restartStep()])).steps[0];
  if (!s?.digest) throw new Error('restart should have a digest');
  const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: caller('olivia', 'approver-console'), step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
  return { hold, step: s.step, digest: s.digest, artifact };
}

describe('the reference incident', () => {
  it('reads the permissive run as the analysis does, every class citing the two executions', () => {
    const { world } = playPermissive();
    const pm = classify(world.machine.entries, { policy: GOVERNED, scope: { incident: 'inc-payments-0912' }, golden: [] });
    expect(pm.primary_failure_class).toBe('authority-boundary-failure');
    expect(pm.secondary_failure_class).toBe('policy-enforcement-failure');
    expect(pm.additional_classes).toEqual(['tool-authority-failure', 'operator-process-failure', 'evaluation-blind-spot', 'traceability-gap']);
    expect(pm.detection_stage).toBe('runtime incident');
    const restart = seqOf(world, 'grant.consumed', 4);
    const clear = seqOf(world, 'grant.consumed', 5);
    for (const c of pm.classes) expect(c.seqs, c.class).toEqual(expect.arrayContaining([restart, clear]));
  });

  it('finds no failure in the governed run and lists what was stopped', () => {
    const { world } = playGoverned();
    const pm = classify(world.machine.entries, { policy: GOVERNED, scope: { incident: 'inc-payments-0912' } });
    expect(pm.classes).toEqual([]);
    expect(pm.primary_failure_class).toBeNull();
    expect(pm.detection_stage).toBe('none');
    expect(pm.stopped.map((s) => s.codes)).toEqual([['PREREQUISITE_MISSING'], ['SELF_APPROVAL'], ['O1_IDENTITY_COLLISION', 'O4_MISSING_ROLLBACK', 'O5_NOT_ELIGIBLE'], ['HOLD_ACTIVE']]);
  });
});

describe('each class from a scenario of its own', () => {
  it('authority-boundary-failure: a weaker bundle lets an on-call operator be the one key a lead must give', () => {
    const example = GOVERNED.bundle;
    // the same bundle with the restart downgraded to medium in prod: any on-call operator approves
    const weaker = compileBundle({ ...example, name: 'payments-weaker', actions: example.actions.map((a) => (a.id === 'workers.restart_pool' ? { ...a, risk: { ...a.risk, prod: 'medium' } } : a)) });
    const w = new World(weaker);
    const s = ok(w.propose([restartStep()])).steps[0];
    ok(w.approve(s?.request ?? '', 'omar', 'approver-console'));
    const reg = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: caller('olivia', 'approver-console'), step: s?.step ?? '', action: 'workers.rollback_pool', target: 'payments-worker' }));
    run(w, reg.grant?.jti ?? '');
    const pm = classify(w.machine.entries, { policy: GOVERNED });
    expect(pm.primary_failure_class).toBe('authority-boundary-failure');
    expect(rulesOf(pm, 'authority-boundary-failure')).toEqual(['quorum-short']);
    expect(classOf(pm, 'authority-boundary-failure')?.findings[0]?.summary).toContain('with 0 of 1 independent approvals');
    expect(classOf(pm, 'authority-boundary-failure')?.seqs).toContain(seqOf(w, 'approval.accepted'));
    // the approval is on record: the trace is complete, no traceability gap
    expect(classOf(pm, 'traceability-gap')).toBeUndefined();
    expect(classOf(pm, 'policy-enforcement-failure')).toBeUndefined();
  });

  it('policy-enforcement-failure: a lease presented after its window is an O3 clock breach', () => {
    const w = new World(GOVERNED);
    const held = heldRestart(w);
    const granted = overrideRestart(w, held.hold, held.digest, held.artifact);
    w.advance(61 * MINUTE);
    w.run({ kind: 'use_lease', caller: COPILOT, lease: granted.lease, step: held.step });
    const pm = classify(w.machine.entries, { policy: GOVERNED });
    expect(pm.primary_failure_class).toBe('policy-enforcement-failure');
    expect(rulesOf(pm, 'policy-enforcement-failure')).toEqual(['clock-breach']);
    expect(classOf(pm, 'policy-enforcement-failure')?.seqs).toEqual([seqOf(w, 'lease.clock_breach')]);
  });

  it('policy-enforcement-failure: an execution on a grant the ledger never issued', () => {
    const { world } = playGoverned();
    const issued = world.machine.entries.find((e) => e.type === 'grant.issued' && e.payload['jti'] === 'grant-9') as LedgerEntry;
    const forged = world.machine.entries.map((e) => (e.seq === issued.seq ? { ...e, type: 'grant.revoked', payload: { jti: 'grant-0', reason: 'halt', cause: 'x', rule_ids: ['halt:roles'] } } : e));
    const pm = classify(forged, { policy: GOVERNED });
    // with no grant there is no approval to link either: the restart ran on no authority at all
    expect(pm.primary_failure_class).toBe('authority-boundary-failure');
    expect(pm.secondary_failure_class).toBe('policy-enforcement-failure');
    expect(classOf(pm, 'policy-enforcement-failure')?.findings.map((f) => f.summary)).toEqual([expect.stringContaining('executed on grant `grant-9`, which was never issued')]);
  });

  it('tool-authority-failure: the copilot tries to approve its own request', () => {
    const w = new World(GOVERNED);
    const s = ok(w.propose([restartStep()])).steps[0];
    w.approve(s?.request ?? '', 'payments-copilot', 'approver-console', { asCaller: COPILOT });
    const pm = classify(w.machine.entries, { policy: GOVERNED });
    expect(pm.primary_failure_class).toBe('tool-authority-failure');
    expect(rulesOf(pm, 'tool-authority-failure')).toEqual(['agent-authority-attempt']);
    expect(pm.detection_stage).toBe('runtime, stopped before execution');
  });

  it('operator-process-failure: overrides past the budget, again and again from one console, with approvers at hand', () => {
    const w = new World(GOVERNED);
    const held = heldRestart(w);
    overrideRestart(w, held.hold, held.digest, held.artifact);
    overrideRestart(w, held.hold, held.digest, held.artifact);
    overrideRestart(w, held.hold, held.digest, held.artifact, 'priya');
    const pm = classify(w.machine.entries, { policy: GOVERNED });
    expect(pm.primary_failure_class).toBe('operator-process-failure');
    expect(new Set(rulesOf(pm, 'operator-process-failure'))).toEqual(new Set(['approver-reachable', 'budget-spent', 'repeated-attempts']));
    const budget = classOf(pm, 'operator-process-failure')?.findings.find((f) => f.rule === 'budget-spent');
    expect(budget?.seqs).toEqual([seqOf(w, 'override.granted', 0), seqOf(w, 'override.granted', 1), seqOf(w, 'override.granted', 2)]);
  });

  it('evaluation-blind-spot: a step runs on a contract no golden case exercises', () => {
    const w = new World(GOVERNED);
    const s = ok(w.propose([inspectStep()])).steps[0];
    run(w, s?.grant?.jti ?? '');
    const onlyMetrics = GoldenCase.parse({
      name: 'metrics stay readable',
      when: { proposal: { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [{ action: 'metrics.query', environment: 'prod', target: 'payments-worker', params: {} }] } },
      expect: [{ effect: 'allow', risk: 'low' }],
    });
    const pm = classify(w.machine.entries, { policy: GOVERNED, golden: [onlyMetrics] });
    expect(pm.primary_failure_class).toBe('evaluation-blind-spot');
    expect(classOf(pm, 'evaluation-blind-spot')?.findings[0]?.summary).toContain('contract queue.inspect');
    expect(classify(w.machine.entries, { policy: GOVERNED }).not_evaluated).toEqual(['evaluation-blind-spot: no golden set was given']);
  });

  it('traceability-gap: an entry that does not match its type is named, and what it records is not judged', () => {
    const { world } = playPermissive();
    const restart = world.machine.entries.filter((e) => e.type === 'grant.consumed')[4] as LedgerEntry;
    // the restart's execution loses its step: the one execution of the incident that ran short of authority
    const broken = world.machine.entries.map((e) => (e.seq === restart.seq ? { ...e, payload: { ...e.payload, step: null } } : e));
    const pm = classify(broken, { policy: GOVERNED, scope: { incident: 'inc-payments-0912' }, golden: [] });
    const gap = classOf(pm, 'traceability-gap')?.findings.find((f) => f.rule === 'malformed-entry');
    expect(gap).toEqual({
      class: 'traceability-gap',
      rule: 'malformed-entry',
      summary: `#${restart.seq} grant.consumed does not match its type at \`/payload/step\`: expected string, found null: nothing it records is read`,
      seqs: [restart.seq],
      executed: false,
    });
    // no finding is built on what the entry might have said
    const cited = pm.classes.flatMap((c) => c.findings).filter((f) => f.rule !== 'malformed-entry').flatMap((f) => f.seqs);
    expect(cited).not.toContain(restart.seq);
  });

  it('traceability-gap: a proposal recorded twice is named, and its executions are judged by the first, as the gateway applied it', () => {
    const { world } = playPermissive();
    const entries = world.machine.entries;
    const plan = entries.find((e) => e.type === 'proposal.received' && (e.payload['steps'] as { action: string }[]).some((s) => s.action === 'workers.restart_pool')) as LedgerEntry;
    // the copy says the restart and the clear were metrics queries: read as the proposal, nothing high-risk would have run
    const { ledger, again } = recordedTwice(entries, plan, (e) => ({ ...e, payload: { ...e.payload, steps: (e.payload['steps'] as object[]).map((s) => ({ ...s, action: 'metrics.query' })) } }));
    const scope = { incident: 'inc-payments-0912' };
    const pm = classify(ledger, { policy: GOVERNED, scope, golden: [] });
    const findings = pm.classes.flatMap((c) => c.findings);
    expect(findings.filter((f) => f.rule === 'recreated-entry')).toEqual([
      {
        class: 'traceability-gap',
        rule: 'recreated-entry',
        summary: `#${again.seq} proposal.received creates proposal \`${String(plan.payload['proposal'])}\` again, which #${plan.seq} created: the gateway applied the first, and nothing this one records is read`,
        seqs: [plan.seq, again.seq],
        executed: false,
      },
    ]);
    // the same findings as the ledger without the copy, but for it: nothing is built on what the copy says
    const shifted = (seq: number): number => (seq > again.seq ? seq - 1 : seq);
    const others = findings.filter((f) => f.rule !== 'recreated-entry').map((f) => ({ rule: f.rule, seqs: f.seqs.map(shifted) }));
    const before = classify(entries, { policy: GOVERNED, scope, golden: [] });
    expect(others).toEqual(before.classes.flatMap((c) => c.findings).map((f) => ({ rule: f.rule, seqs: f.seqs })));
    expect(others.map((f) => f.rule)).toContain('quorum-short');
    // outside the scope it is not named: the hour before the copy
    const earlier = { from: Date.parse(again.at) - 60 * 60_000, to: Date.parse(again.at) - 1 };
    const elsewhere = classify(ledger, { policy: GOVERNED, scope: earlier, golden: [] });
    expect(elsewhere.classes.flatMap((c) => c.findings).filter((f) => f.rule === 'recreated-entry')).toEqual([]);
  });

  it('traceability-gap: a decision recorded without its surface, and a broken chain reported by the reader', () => {
    const w = new World(GOVERNED);
    ok(w.propose([inspectStep()]));
    const decided = seqOf(w, 'step.decided');
    const entries = w.machine.entries.map((e) => (e.seq === decided ? { ...e, surface: null } : e));
    const pm = classify(entries, { policy: GOVERNED, verificationFailures: [{ seq: 1, message: 'hash mismatch' }] });
    expect(pm.primary_failure_class).toBe('traceability-gap');
    expect(classOf(pm, 'traceability-gap')?.findings.map((f) => [f.rule, f.seqs])).toEqual([
      ['missing-field', [decided]],
      ['chain-break', [1]],
    ]);
  });
});
