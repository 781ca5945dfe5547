import { describe, expect, it } from 'vitest';
import { playGoverned } from '../../../../test/scenario/incident.js';
import { fixtureSigner } from '../../../../test/helpers/record-incident.js';
import { signCheckpoint } from '../ledger/checkpoint.js';
import { merkleRoot } from '../ledger/merkle.js';
import { inclusionProofFromJson, verifyInclusion } from '../ledger/proof.js';
import { KEY_ROTATED } from '../ledger/rotation.js';
import { caller, compileBundle, COPILOT, EVIDENCE, examplePolicy, MINUTE, ok, restartOverride, restartStep, snapshotStep, World } from '../../../../test/scenario/world.js';
import { describeEntry } from './describe.js';
import type { HoldResult } from '../state/hold.js';
import type { RequestOverrideResult, SubmitOverrideResult } from '../state/override.js';
import type { RegisterRollbackResult } from '../state/rollback.js';
import { parseEntry } from '../state/parse.js';
import { checkTraceContract } from './check.js';
import { softPasskey } from '../../../../test/helpers/soft-passkey.js';
import { passkeyChallenge } from '../approval/passkey.js';
import type { LedgerEntry } from '../ledger/entry.js';
import { formatTrace } from './format.js';
import { proveTrace } from './prove.js';
import { buildTrace } from './trace.js';
import { recordedTwice } from '../../../../test/helpers/recorded-twice.js';

/**
 * The governed incident, played again inside each test that reads it (about
 * 50 ms): built at collection time it would make every state-machine line it
 * runs a static mutant for StrykerJS, run against every test, and a mutant
 * that broke it would fail the file's collection instead of a test.
 */
function governed() {
  const { world } = playGoverned();
  const entries = world.machine.entries;
  const leaves = world.machine.sealed.map((s) => s.hash);
  const note = signCheckpoint({ origin: fixtureSigner().name, treeSize: leaves.length, rootHash: merkleRoot(leaves) }, fixtureSigner());
  return { entries, leaves, note };
}

describe('buildTrace', () => {
  it('follows one request: its proposal, decision, refusals, override attempt, rollback, approval, grant, run and outcome', () => {
    const { entries } = governed();
    const trace = buildTrace(entries, 'request-1');
    expect(trace.kind).toBe('request');
    expect(trace.lines.map((l) => l.type)).toEqual([
      'bundle.activated',
      'proposal.received',
      'step.decided',
      'request.opened',
      'approval.rejected',
      'override.requested',
      'override.denied',
      'rollback.registered',
      'approval.accepted',
      'request.approved',
      'grant.issued',
      'grant.consumed',
      'execution.outcome',
    ]);
    // the other step of the bundled proposal is decided on its own and is not part of this chain
    expect(trace.lines.some((l) => l.step === 'proposal-2.1')).toBe(false);
    expect(trace.steps).toEqual([expect.objectContaining({ step: 'proposal-2.0', effect: 'require_approval', approvers: ['leo'], executions: [expect.objectContaining({ via: 'grant', outcome: 'succeeded' })] })]);
    expect(trace.lines.find((l) => l.type === 'approval.rejected')).toMatchObject({ actor: 'olivia', surface: 'copilot-console', codes: ['SELF_APPROVAL'] });
  });

  it('shows a hold in force over a held step', () => {
    const { entries } = governed();
    const trace = buildTrace(entries, 'proposal-4');
    expect(trace.lines.map((l) => l.type)).toEqual(['bundle.activated', 'hold.opened', 'proposal.received', 'step.decided', 'hold.lifted']);
  });

  it('follows a proposal to every step, and an incident to every proposal', () => {
    const { entries } = governed();
    expect(buildTrace(entries, 'proposal-2').steps.map((s) => s.step)).toEqual(['proposal-2.0', 'proposal-2.1']);
    const incident = buildTrace(entries, 'inc-payments-0912');
    expect(incident.kind).toBe('incident');
    expect(incident.lines).toHaveLength(entries.length);
  });

  it('says which id it does not know', () => {
    const { entries } = governed();
    expect(() => buildTrace(entries, 'request-9')).toThrow(expect.objectContaining({ code: 'TRACE_NOT_FOUND' }));
  });

  it('prints a timeline line per entry with seq, who@surface and codes', () => {
    const { entries } = governed();
    const text = formatTrace(buildTrace(entries, 'request-1'));
    expect(text).toMatch(/#24 +olivia@copilot-console +override override-1 denied, .*\[O1_IDENTITY_COLLISION, O4_MISSING_ROLLBACK, O5_NOT_ELIGIBLE\]/);
  });
});

describe('checkTraceContract', () => {
  it('passes the governed incident', () => {
    const { entries } = governed();
    expect(checkTraceContract(entries)).toEqual([]);
  });

  it('reports a decision without rule ids or surface, only for the fields the policy requires', () => {
    const { entries } = governed();
    const decided = entries.find((e) => e.type === 'step.decided');
    const broken = entries.map((e) => (e === decided ? { ...e, surface: null, payload: { ...e.payload, rule_ids: [] } } : e));
    expect(checkTraceContract(broken).map((p) => [p.seq, p.field])).toEqual([
      [decided?.seq, 'surface'],
      [decided?.seq, 'rule_ids'],
    ]);
    expect(checkTraceContract(broken, ['rule_ids'])).toHaveLength(1);
  });

  it('reports an execution whose grant was never issued, and one with no outcome', () => {
    const { entries } = governed();
    const issued = entries.find((e) => e.type === 'grant.issued' && e.payload['jti'] === 'grant-9');
    const outcome = entries.find((e) => e.type === 'execution.outcome' && e.payload['execution'] === 'execution-9');
    const broken = entries.filter((e) => e !== issued && e !== outcome);
    expect(checkTraceContract(broken).map((p) => p.message)).toEqual(['execution `execution-9` has no recorded outcome', 'executed on grant `grant-9`, which was never issued']);
  });

  it('reports a step that ran twice, as ledgers written before the at-most-once rule may show', () => {
    const { entries } = governed();
    const consumed = entries.find((e) => e.type === 'grant.consumed');
    if (!consumed) throw new Error('the governed incident consumes grants');
    // the same grant.consumed again, as a second execution of the same step
    const again = { ...consumed, seq: entries.length, payload: { ...consumed.payload, execution: 'execution-twice' } };
    const problems = checkTraceContract([...entries, again]).filter((p) => p.field === 'authority');
    expect(problems.map((p) => p.message)).toEqual([
      `step \`${String(consumed.payload['step'])}\` ran again (execution \`execution-twice\`) after execution \`${String(consumed.payload['execution'])}\``,
    ]);
  });
});

describe('grants an activation or a halt revokes by itself (ADR 006 decision 4)', () => {
  /** Two snapshots granted, one consumed, then a release activated: it revokes the other with no entry naming it. */
  function activated() {
    const w = new World(examplePolicy());
    const kept = ok(w.propose([snapshotStep()])).steps[0]?.grant;
    const used = ok(w.propose([snapshotStep({ target: 'payments-queue/shard-8' })])).steps[0]?.grant;
    if (!kept || !used) throw new Error('both snapshots are allowed and granted');
    const run = w.run({ kind: 'consume', caller: COPILOT, grant: used.jti });
    ok(run);
    ok(w.activate(compileBundle({ ...w.policy.bundle, description: 'next' })));
    const entries = w.machine.entries;
    const activation = entries.filter((e) => e.type === 'bundle.activated').at(-1);
    const consumed = run.entries.find((e) => e.type === 'grant.consumed');
    if (!activation || !consumed) throw new Error('the activation and the consumption are recorded');
    return { entries, kept, used, activation, consumed };
  }

  it('--check reports an execution on a grant the activation revoked, as if a revocation named it', () => {
    const { entries, kept, consumed } = activated();
    expect(checkTraceContract(entries).filter((p) => p.field === 'authority' || p.field === 'entry')).toEqual([]);
    // a consumption of the revoked grant, as a gateway that ignored the activation would have written it
    const late = { ...consumed, seq: entries.length, payload: { ...consumed.payload, jti: kept.jti, step: kept.step, digest: kept.digest, execution: 'execution-late' }, subjects: { ...consumed.subjects, grant: kept.jti, step: kept.step, execution: 'execution-late' } };
    const problems = checkTraceContract([...entries, late]).filter((p) => p.field === 'authority');
    expect(problems.map((p) => p.message)).toEqual([`executed on grant \`${kept.jti}\` after it was revoked`]);
  });

  it('--check reports an activation whose count of revoked grants is not the number then live', () => {
    const { entries, activation } = activated();
    expect(activation.payload['grants_revoked']).toBe(1);
    const edited = entries.map((e) => (e === activation ? { ...e, payload: { ...e.payload, grants_revoked: 2 } } : e));
    expect(checkTraceContract(edited).filter((p) => p.field === 'entry').map((p) => [p.seq, p.message])).toEqual([[activation.seq, 'says it revoked 2 live grants, but 1 was live']]);
  });

  it('shows the activation in the chain of a grant it revoked, and not in that of a grant consumed before it', () => {
    const { entries, kept, used, activation } = activated();
    const revoked = buildTrace(entries, kept.jti);
    expect(revoked.lines.map((l) => l.seq)).toContain(activation.seq);
    expect(revoked.lines.find((l) => l.seq === activation.seq)?.what).toMatch(/, revoking the 1 live grant$/);
    expect(buildTrace(entries, used.jti).lines.map((l) => l.seq)).not.toContain(activation.seq);
  });

  it('a halt: revokes the grants in its scope only, which --check and the trace read as the gateway did', () => {
    const w = new World(examplePolicy());
    const prod = ok(w.propose([snapshotStep()])).steps[0]?.grant;
    const dev = ok(w.propose([snapshotStep({ environment: 'dev' })])).steps[0]?.grant;
    const template = ok(w.propose([snapshotStep({ environment: 'dev', target: 'payments-queue/shard-9' })])).steps[0]?.grant;
    if (!prod || !dev || !template) throw new Error('the snapshots are granted');
    const consumed = w.run({ kind: 'consume', caller: COPILOT, grant: template.jti }).entries.find((e) => e.type === 'grant.consumed');
    const halted = w.run({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'environment', environment: 'prod' } }).entries[0];
    if (!consumed || halted?.type !== 'halt.issued') throw new Error('the consumption and the halt are recorded');
    const entries = w.machine.entries;
    expect(halted.payload['grants_revoked']).toBe(1);
    // a consumption of each grant after the halt, as a gateway that ignored it would have written them
    const after = (grant: typeof prod, n: number) => ({ ...consumed, seq: entries.length + n, payload: { ...consumed.payload, jti: grant.jti, step: grant.step, digest: grant.digest, execution: `execution-late-${n}` }, subjects: { ...consumed.subjects, grant: grant.jti, step: grant.step, execution: `execution-late-${n}` } });
    const problems = checkTraceContract([...entries, after(prod, 0), after(dev, 1)]).filter((p) => p.field === 'authority');
    expect(problems.map((p) => p.message)).toEqual([`executed on grant \`${prod.jti}\` after it was revoked`]);
    const edited = entries.map((e) => (e === halted ? { ...e, payload: { ...e.payload, grants_revoked: 3 } } : e));
    expect(checkTraceContract(edited).filter((p) => p.field === 'entry').map((p) => p.message)).toEqual(['says it revoked 3 live grants, but 1 was live in its scope']);
    expect(buildTrace(entries, prod.jti).lines.map((l) => l.seq)).toContain(halted.seq);
    expect(buildTrace(entries, prod.jti).lines.find((l) => l.seq === halted.seq)?.what).toContain(', revoking the 1 live grant: ');
    expect(buildTrace(entries, dev.jti).lines.map((l) => l.seq)).not.toContain(halted.seq);
    // traced by its own id, the halt's chain holds the grants it revoked, and their steps, as when an entry named each
    const issuedSeq = (jti: string) => entries.find((e) => e.type === 'grant.issued' && e.payload['jti'] === jti)?.seq;
    const haltChain = buildTrace(entries, String(halted.payload['halt']));
    expect(haltChain.lines.map((l) => l.seq)).toEqual(expect.arrayContaining([halted.seq, issuedSeq(prod.jti)]));
    expect(haltChain.lines.map((l) => l.seq)).not.toContain(issuedSeq(dev.jti));
    expect(haltChain.steps.map((s) => s.step)).toEqual([prod.step]);
    // another halt, over dev: each halt's chain holds the grants it revoked, and only those
    const second = w.run({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'environment', environment: 'dev' } }).entries[0];
    const later = w.machine.entries;
    expect(buildTrace(later, String(halted.payload['halt'])).lines.map((l) => l.seq)).not.toContain(issuedSeq(dev.jti));
    expect(buildTrace(later, String(second?.payload['halt'])).lines.map((l) => l.seq)).toContain(issuedSeq(dev.jti));
  });

  it('counts the live grants as the gateway does: not those consumed, revoked by an entry of their own, or refused as expired', () => {
    const w = new World(examplePolicy());
    const snapshot = (n: number) => ok(w.propose([snapshotStep({ target: `payments-queue/shard-${n}` })])).steps[0]?.grant?.jti ?? '';
    // refused as expired: the grant ends
    const expired = snapshot(1);
    w.advance(11 * MINUTE);
    expect(w.run({ kind: 'consume', caller: COPILOT, grant: expired }).entries[0]?.payload).toMatchObject({ code: 'GRANT_EXPIRED' });
    // revoked by an entry of its own: a lease runs the step its grant was for
    const restart = ok(w.propose([restartStep()])).steps[0];
    const sign = caller('lena', 'signed-cli');
    const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: caller('olivia', 'approver-console'), step: restart?.step ?? '', action: 'workers.rollback_pool', target: 'payments-worker' })).artifact;
    const approved = ok(w.approve(restart?.request ?? '', 'lena', 'approver-console')).grant?.jti;
    const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: caller('olivia', 'approver-console'), ...restartOverride(w, null, restart?.digest ?? '', artifact) }));
    const signatures = [w.sign(requested.body, 'a', 'lena', 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')];
    const lease = ok(w.run<SubmitOverrideResult>({ kind: 'override_submit', caller: sign, override: requested.override, signatures })).lease;
    const used = w.run({ kind: 'use_lease', caller: COPILOT, lease, step: restart?.step ?? '' });
    expect(used.entries.find((e) => e.type === 'grant.revoked')?.payload).toMatchObject({ jti: approved, reason: 'step_executed' });
    // consumed; and two still live, one of them refused while a hold was open (a refusal that ends nothing)
    ok(w.run({ kind: 'consume', caller: COPILOT, grant: snapshot(2) }));
    const live = [snapshot(3), snapshot(4)];
    const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: caller('lena', 'approver-console'), trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE })).hold;
    expect(w.run({ kind: 'consume', caller: COPILOT, grant: live[0] ?? '' }).entries[0]?.payload).toMatchObject({ code: 'HOLD_ACTIVE' });
    ok(w.run({ kind: 'hold_lift', caller: caller('priya', 'approver-console'), hold }));
    ok(w.activate(compileBundle({ ...w.policy.bundle, description: 'next' })));
    const entries = w.machine.entries;
    const activation = entries.filter((e) => e.type === 'bundle.activated').at(-1);
    if (!activation) throw new Error('the release activates');
    expect(activation.payload['grants_revoked']).toBe(2);
    expect(checkTraceContract(entries).filter((p) => p.field === 'entry')).toEqual([]);
    const parsed = parseEntry(activation);
    if (parsed.kind !== 'authority') throw new Error('the activation parses');
    expect(describeEntry(parsed.entry)).toContain('revoking the 2 live grants');
    for (const jti of live) expect(buildTrace(entries, jti).lines.map((l) => l.seq)).toContain(activation.seq);
    const edited = entries.map((e) => (e === activation ? { ...e, payload: { ...e.payload, grants_revoked: 5 } } : e));
    expect(checkTraceContract(edited).filter((p) => p.field === 'entry').map((p) => p.message)).toEqual(['says it revoked 5 live grants, but 2 were live']);
    // an entry of a ledger before decision 4 carries no count, and its line says nothing of one
    const { grants_revoked: _count, ...older } = activation.payload;
    const old = parseEntry({ ...activation, payload: older });
    if (old.kind !== 'authority') throw new Error('an activation without a count parses');
    expect(describeEntry(old.entry)).not.toContain('revoking');
  });

  it('reads a grant issued again as the gateway did: the copy of a consumed grant does not make it live for the activation', () => {
    const { entries, used, activation } = activated();
    const issued = entries.find((e) => e.type === 'grant.issued' && e.payload['jti'] === used.jti);
    if (!issued) throw new Error('the grant was issued');
    // the copy goes just before the activation, and every entry from there moves one seq on
    const at = activation.seq;
    const { ledger: withCopy } = recordedTwice(entries, issued, undefined, entries[at - 1]);
    const problems = checkTraceContract(withCopy).filter((p) => p.field === 'entry');
    expect(problems.map((p) => p.seq)).toEqual([at]);
    expect(problems[0]?.message).toContain(`creates grant \`${used.jti}\` again`);
    // nor for the trace: the consumed grant's chain does not take in the activation (now one seq on)
    expect(buildTrace(withCopy, used.jti).lines.map((l) => l.seq)).not.toContain(activation.seq + 1);
  });
});

describe('formatTrace on a long chain', () => {
  it('prints a chain of 200,000 lines (an activation revokes one grant a line), aligned to its widest caller', () => {
    const line = (seq: number, actor: string) => ({ seq, at: '2025-06-01T09:12:00.000Z', type: 'grant.revoked', actor, surface: 'signed-cli', bundle_id: 'b', step: null, what: 'revoked', codes: [], rule_ids: [], credential: null });
    const lines = Array.from({ length: 200_000 }, (_, seq) => line(seq, seq === 7 ? 'a-much-longer-actor' : 'sam'));
    const text = formatTrace({ id: 'incident-1', kind: 'incident', bundle_ids: ['b'], steps: [], lines });
    const timeline = text.split('\n').filter((l) => l.includes(' revoked'));
    expect(timeline).toHaveLength(200_000);
    // every caller padded to the widest one, wherever it sits in the chain
    expect(timeline[100_000]).toContain(`${'sam@signed-cli'.padEnd('a-much-longer-actor@signed-cli'.length)}  revoked`);
  });
});

describe('a record created twice', () => {
  /** request-1's grant recorded again before it is consumed, naming request-2's step, its digest and a later expiry. */
  const grantedTwice = () => {
    const { entries } = governed();
    const issued = buildTrace(entries, 'request-1').lines.find((l) => l.type === 'grant.issued');
    const first = issued === undefined ? undefined : entries[issued.seq];
    if (!first) throw new Error('request-1 is granted');
    const other = entries.find((e) => e.type === 'request.opened' && e.payload['request'] === 'request-2');
    if (!other) throw new Error('the governed incident opens request-2');
    const { ledger, again } = recordedTwice(entries, first, (e) => ({
      ...e,
      subjects: { ...e.subjects, ...other.subjects },
      payload: { ...e.payload, step: other.payload['step'] as string, digest: other.payload['digest'] as string, expires_at: '2099-01-01T00:00:00.000Z' },
    }));
    return { first, again, ledger, jti: String(first.payload['jti']) };
  };

  it('--check reports the second copy and judges the execution by the first, as the gateway applied them', () => {
    const { first, again, ledger, jti } = grantedTwice();
    expect(checkTraceContract(ledger)).toEqual([
      {
        seq: again.seq,
        type: 'grant.issued',
        field: 'entry',
        message: `creates grant \`${jti}\` again, which #${first.seq} created: the gateway applied the first and ignored this one`,
      },
    ]);
  });

  it('shows the second copy in the chain, marked as ignored, and lists the grant once; what the copy names joins nothing', () => {
    const { first, again, ledger, jti } = grantedTwice();
    const trace = buildTrace(ledger, 'request-1');
    // the same chain as without the copy, the copy's line added: request-2 and its step stay out
    const shifted = (seq: number): number => (seq > again.seq ? seq - 1 : seq);
    const without = buildTrace(governed().entries, 'request-1');
    expect(trace.lines.filter((l) => l.seq !== again.seq).map((l) => shifted(l.seq))).toEqual(without.lines.map((l) => l.seq));
    expect(trace.lines.map((l) => l.seq)).toContain(again.seq);
    expect(trace.lines.find((l) => l.seq === again.seq)?.what).toMatch(new RegExp(`\\(ignored: creates grant \`${jti}\` again, which #${first.seq} created\\)$`));
    expect(trace.lines.find((l) => l.seq === first.seq)?.what).not.toContain('ignored');
    expect(trace.steps[0]?.grants).toEqual([jti]);
  });
  it('lists a grant issued twice under the same step once, from the first', () => {
    const { entries } = governed();
    const issued = buildTrace(entries, 'request-1').lines.find((l) => l.type === 'grant.issued');
    const first = issued === undefined ? undefined : entries[issued.seq];
    if (!first) throw new Error('request-1 is granted');
    const { ledger } = recordedTwice(entries, first, (e) => ({ ...e, payload: { ...e.payload, expires_at: '2099-01-01T00:00:00.000Z' } }));
    expect(buildTrace(ledger, 'request-1').steps[0]?.grants).toEqual([String(first.payload['jti'])]);
  });

  it('does not pull a proposal copy into a chain by the steps its payload lists', () => {
    const { entries } = governed();
    const proposal = entries.find((e) => e.type === 'proposal.received' && e.payload['proposal'] === 'proposal-6');
    const chained = buildTrace(entries, 'request-1').steps[0]?.step;
    if (!proposal || chained === undefined) throw new Error('the governed incident proposes proposal-6 and chains request-1 to a step');
    // proposal-6 again, claiming request-1's step: the gateway ignored it, so the chain reads nothing of it
    const { ledger, again } = recordedTwice(entries, proposal, (e) => ({ ...e, payload: { ...e.payload, steps: (e.payload['steps'] as object[]).map((st) => ({ ...st, step: chained })) } }));
    expect(buildTrace(ledger, 'request-1').lines.map((l) => l.seq)).not.toContain(again.seq);
  });
});

describe('entries the parser does not read as authority entries', () => {
  const malformed = () => {
    const { entries } = governed();
    const ran = buildTrace(entries, 'request-1').lines.find((l) => l.type === 'grant.consumed');
    const consumed = ran === undefined ? undefined : entries[ran.seq];
    if (!consumed) throw new Error('request-1 runs on a grant');
    // the payload loses its step: the envelope still says where the entry sits and what it names
    const broken = entries.map((e) => (e === consumed ? { ...e, payload: { ...e.payload, step: 7 } } : e));
    return { consumed, broken };
  };

  it('shows a malformed entry of the chain as unreadable, reading nothing from its payload', () => {
    const { consumed, broken } = malformed();
    const trace = buildTrace(broken, 'request-1');
    const line = trace.lines.find((l) => l.seq === consumed.seq);
    expect(line).toMatchObject({ type: 'grant.consumed', actor: consumed.actor, what: 'unreadable grant.consumed entry: `/payload/step`: expected string, found number', codes: [], rule_ids: [], credential: null });
    // what only its payload said is not guessed at: no execution for the step
    expect(trace.steps[0]?.executions).toEqual([]);
  });

  it('--check reports it with its seq, type and field, and nothing else about it', () => {
    const { consumed, broken } = malformed();
    const problems = checkTraceContract(broken);
    expect(problems).toEqual([{ seq: consumed.seq, type: 'grant.consumed', field: 'entry', message: 'does not match its type at `/payload/step`: expected string, found number' }]);
    expect(formatTrace({ ...buildTrace(broken, 'request-1'), check: { required_fields: [], problems } })).toContain(`#${consumed.seq} grant.consumed: entry: does not match its type at \`/payload/step\``);
  });

  it('leaves an entry outside the catalog out of every chain and every check', () => {
    const { entries } = governed();
    const last = entries.at(-1);
    if (!last) throw new Error('empty ledger');
    // a key rotation: no bundle, no actor, no rule ids, and not an authority entry
    const rotation = { ...last, seq: entries.length, type: KEY_ROTATED, actor: null, surface: 'signed-cli', bundle_id: null, subjects: { incident: 'inc-payments-0912' }, payload: { old_key: 'a', new_key: 'b', signature: 'c' } };
    expect(buildTrace([...entries, rotation], 'inc-payments-0912').lines).toHaveLength(entries.length);
    expect(checkTraceContract([...entries, rotation])).toEqual([]);
  });
});

describe('describeEntry', () => {
  it('names the scope of a halt', () => {
    const w = new World(examplePolicy());
    w.run({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'environment', environment: 'prod' }, reason: 'stop' });
    w.run({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'incident', incident: 'inc-1' }, reason: 'stop' });
    w.run({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'all' }, reason: 'stop' });
    const halts = w.machine.entries.filter((e) => e.type === 'halt.issued').map((e) => buildTrace(w.machine.entries, String(e.subjects['halt'])).lines.at(-1)?.what);
    expect(halts).toEqual(['halt halt-1 issued, scope environment prod: stop', 'halt halt-2 issued, scope incident inc-1: stop', 'halt halt-3 issued, scope everything: stop']);
  });
});

describe('proveTrace', () => {
  it('proves every line against the checkpoint', () => {
    const { entries, leaves, note } = governed();
    const trace = buildTrace(entries, 'request-1');
    const proofs = proveTrace(trace, leaves, note);
    expect(proofs.proofs).toHaveLength(trace.lines.length);
    const root = merkleRoot(leaves);
    for (const p of proofs.proofs) verifyInclusion(inclusionProofFromJson(p), leaves[p.seq] as Uint8Array, root);
  });

  it('refuses to prove from leaves that disagree with the checkpoint', () => {
    const { entries, leaves, note } = governed();
    const tampered = [...leaves];
    tampered[3] = new Uint8Array(32);
    expect(() => proveTrace(buildTrace(entries, 'request-1'), tampered, note)).toThrow(expect.objectContaining({ code: 'LEDGER_VERIFY_FAILED' }));
  });

  it('leaves lines after the checkpoint unproven', () => {
    const { entries, leaves } = governed();
    const early = signCheckpoint({ origin: fixtureSigner().name, treeSize: 30, rootHash: merkleRoot(leaves.slice(0, 30)) }, fixtureSigner());
    const proofs = proveTrace(buildTrace(entries, 'request-1'), leaves, early);
    expect(proofs.unproven).toEqual([43, 44, 45, 46, 47, 48]);
  });
});

describe('passkey approvals, checked offline (issue 14)', () => {
  /** Lena registers a real (software) passkey and approves a restart with it; the ledger as written. */
  function signedWithPasskey(): { entries: LedgerEntry[]; request: string } {
    const w = new World(examplePolicy());
    const lena = caller('lena', 'approver-console');
    const passkey = softPasskey('lena', { origin: 'https://countersign.example', rpId: 'countersign.example' });
    w.run({ kind: 'passkey_register', caller: lena, passkey: { ...passkey.key }, identity: null });
    const proposed = w.propose([{ action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling' } }]);
    const request = (proposed.result as unknown as { steps: { request: string }[] }).steps[0]!.request;
    const record = w.state.requests.get(request)!;
    const statement = { request, step_digest: record.digest, bundle_id: w.policy.bundleId, decision: 'approve' as const, approver: 'lena', surface: 'approver-console', reason: 'checked', signed_at: new Date(w.now).toISOString() };
    const signed = passkey.assert(passkeyChallenge(statement));
    const step = w.run({ kind: 'approval', caller: lena, statement, attestation: { kind: 'passkey', credential_id: passkey.credentialId, ...signed }, signature_verified: true });
    expect((step.result as { ok: boolean }).ok).toBe(true);
    return { entries: [...w.machine.entries], request };
  }

  it('verifies the passkey signature from the ledger alone, against the passkey registered to the approver', () => {
    const { entries } = signedWithPasskey();
    expect(checkTraceContract(entries).filter((p) => p.field === 'signature')).toEqual([]);
  });

  it('reports a recorded passkey approval whose statement no longer matches its signature, or whose passkey was never registered', () => {
    const { entries } = signedWithPasskey();
    const at = entries.findIndex((e) => e.type === 'approval.accepted');
    const edited = entries.map((e, i) => (i === at ? { ...e, payload: { ...e.payload, reason: 'something else' } } : e));
    expect(checkTraceContract(edited).filter((p) => p.field === 'signature')).toEqual([expect.objectContaining({ seq: entries[at]!.seq, type: 'approval.accepted' })]);
    const unregistered = entries.filter((e) => e.type !== 'passkey.registered');
    expect(checkTraceContract(unregistered).some((p) => p.field === 'signature')).toBe(true);
  });
});
