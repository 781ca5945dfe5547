import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { caller, COPILOT, EVIDENCE, examplePolicy, inspectStep, MINUTE, ok, permissivePolicy, restartStep, snapshotStep, World } from '../../../../test/scenario/world.js';
import { canonicalJson } from '../canonical.js';
import type { RegisterRollbackResult } from './rollback.js';
import { evictCommitted, RecordTable, tierState, type TieredKind } from './records.js';
import { projectionRow, projectionRows, type AuthorityState, type ProjectionRef } from './state.js';
import { rebuildState, type MachineStep } from './machine.js';
import type { Command, CommandResult } from './commands.js';

/**
 * ADR 006 decision 1: committed proposals, steps and grants leave memory and
 * are read back from their projection rows. The state must be the same
 * wherever a record sits: every answer, every entry and every row.
 */

/** A store's projection rows, as the gateway's SQLite store keeps them: canonical JSON, parsed on read. */
class Rows {
  readonly rows = new Map<string, string>();
  reads = 0;

  write(state: AuthorityState, refs: readonly ProjectionRef[]): void {
    for (const ref of refs) {
      const value = projectionRow(state, ref);
      if (value === null) this.rows.delete(`${ref.kind}/${ref.id}`);
      else this.rows.set(`${ref.kind}/${ref.id}`, canonicalJson(value));
    }
  }

  read(kind: TieredKind, id: string): unknown {
    this.reads += 1;
    const text = this.rows.get(`${kind}/${id}`);
    return text === undefined ? null : (JSON.parse(text) as unknown);
  }
}

/**
 * A world whose committed records leave memory after every command, as the
 * gateway's writer evicts them after every commit: each command's rows are
 * written first, then everything not open work is evicted.
 */
function tieredWorld(): { world: World; rows: Rows } {
  const world = new World(examplePolicy());
  const rows = new Rows();
  rows.write(world.state, [{ kind: 'bundle', id: 'active' }]);
  tierState(world.state, rows);
  const run = world.machine.run.bind(world.machine);
  world.machine.run = <R extends CommandResult = CommandResult>(command: Command, now: number): MachineStep<R> => {
    const step = run<R>(command, now);
    rows.write(world.state, step.touched);
    evictCommitted(world.state, step.touched, () => false);
    return step;
  };
  return { world, rows };
}

const held = (state: AuthorityState): number => state.proposals.held + state.steps.held + state.grants.held;

describe('a record table', () => {
  it('is a plain map until a source is attached; then it reads back what it evicted, holds it again, and refuses to be scanned', () => {
    const table = new RecordTable<{ id: string; n: number }>('step');
    table.set('step-1', { id: 'step-1', n: 1 });
    table.evict('step-1');
    expect(table.tiered).toBe(false);
    // no source: evicting would lose the record, so it is kept
    expect(table.get('step-1')).toEqual({ id: 'step-1', n: 1 });
    expect([...table.keys()]).toEqual(['step-1']);

    const stored = new Map([['step-1', { id: 'step-1', n: 1 }], ['step-2', { id: 'step-2', n: 2 }]]);
    const asked: string[] = [];
    table.attach({
      read: (kind, id) => {
        asked.push(`${kind}/${id}`);
        return stored.get(id) ?? null;
      },
    });
    expect(table.tiered).toBe(true);
    table.set('step-2', { id: 'step-2', n: 2 });
    table.evict('step-1');
    table.evict('step-2');
    expect(table.held).toBe(0);
    expect(table.peek('step-1')).toBeUndefined();
    expect(table.get('step-1')).toEqual({ id: 'step-1', n: 1 });
    expect(table.has('step-2')).toBe(true);
    // an id it never evicted is not in the store: answered without a read
    expect(table.has('step-3')).toBe(false);
    expect(table.get('step-4')).toBeUndefined();
    expect(asked).toEqual(['step/step-1', 'step/step-2']);
    // read back, then held: a second read asks the source nothing
    expect(table.get('step-1')?.n).toBe(1);
    expect(asked).toHaveLength(2);
    expect(table.held).toBe(2);
    // what was read back leaves again at the next eviction, unless a batch in flight changed it
    table.evictLoaded((id) => id === 'step-2');
    expect(table.peek('step-1')).toBeUndefined();
    expect(table.peek('step-2')).toEqual({ id: 'step-2', n: 2 });
    expect(table.get('step-1')?.n).toBe(1);
    expect(asked).toEqual(['step/step-1', 'step/step-2', 'step/step-1']);
    const scans: [string, () => unknown][] = [
      ['size', () => table.size],
      ['keys', () => [...table.keys()]],
      ['values', () => [...table.values()]],
      ['entries', () => [...table.entries()]],
      ['iterate', () => [...table]],
      ['forEach', () => table.forEach(() => undefined)],
      ['delete', () => table.delete('step-2')],
    ];
    for (const [what, scan] of scans) expect(scan).toThrow(`cannot ${what} the step table: part of it is in the store (ADR 006); read an index or the projections`);
    // a reader that scans is a bug, answered as one
    expect(() => table.size).toThrow(expect.objectContaining({ code: 'INTERNAL' }) as Error);
    expect(table.held).toBe(2);
  });

  it('fails closed: a source that cannot read makes the read throw, never answer "unknown"', () => {
    const table = new RecordTable<unknown>('grant');
    table.set('grant-1', { jti: 'grant-1' });
    table.attach({
      read: () => {
        throw new Error('the disk is gone');
      },
    });
    table.evict('grant-1');
    expect(() => table.get('grant-1')).toThrow('the disk is gone');
    expect(() => table.has('grant-1')).toThrow('the disk is gone');
  });

  it('takes a source that answers undefined for a missing row as one that answers null', () => {
    const table = new RecordTable<unknown>('proposal');
    table.set('proposal-1', { id: 'proposal-1' });
    table.attach({ read: () => undefined });
    table.evict('proposal-1');
    expect(table.get('proposal-1')).toBeUndefined();
    expect(table.has('proposal-1')).toBe(false);
    expect(table.held).toBe(0);
  });

  it('finds every id it evicted, however many: the bits that stand for them never answer "no" for one of them', () => {
    const table = new RecordTable<{ id: string }>('proposal');
    const ids = Array.from({ length: 60_000 }, (_, i) => `proposal-${i.toString(36)}-${(i * 7919).toString(16)}`);
    let reads = 0;
    table.attach({
      read: (_kind, id) => {
        reads += 1;
        return id.startsWith('proposal-') && !id.endsWith('-x') ? { id } : null;
      },
    });
    for (const id of ids) table.set(id, { id });
    for (const id of ids) table.evict(id);
    expect(table.held).toBe(0);
    for (const id of ids) expect(table.peek(id) === undefined && table.get(id)?.id === id).toBe(true);
    expect(reads).toBe(ids.length);
    // ids it never held are answered from the bits, but for the few whose bits another id set (about 1% each filter)
    reads = 0;
    for (let i = 0; i < 10_000; i++) expect(table.has(`other-${i}-x`)).toBe(false);
    expect(reads).toBeLessThan(500);
  });
});

describe('a state whose committed records leave memory', () => {
  it('holds only open work between commands, and answers, records and projects as a state that holds everything', () => {
    const plain = new World(examplePolicy());
    const { world, rows } = tieredWorld();
    const both = <R>(f: (w: World) => R): [R, R] => [f(plain), f(world)];

    const [inspected] = both((w) => ok(w.propose([inspectStep()])));
    const [restart] = both((w) => ok(w.propose([restartStep()])));
    expect(held(world.state)).toBeGreaterThan(0);
    // the restart's step waits on its request: open work stays; the granted inspect left
    const restartStepId = restart.steps[0]?.step ?? '';
    const inspectStepId = inspected.steps[0]?.step ?? '';
    expect(world.state.steps.peek(restartStepId)).toBeDefined();
    expect(world.state.steps.peek(inspectStepId)).toBeUndefined();
    expect(world.state.proposals.peek(inspected.proposal)).toBeUndefined();
    const jti = inspected.steps[0]?.grant?.jti ?? '';
    expect(world.state.grants.peek(jti)).toBeUndefined();

    // the grant is read back to be consumed, once; a second use is refused as a used grant, from the row
    both((w) => ok(w.run({ kind: 'consume', caller: COPILOT, grant: jti })));
    const [again, againTiered] = both((w) => w.run({ kind: 'consume', caller: COPILOT, grant: jti }));
    expect(againTiered.result).toEqual(again.result);
    expect(againTiered.result.ok).toBe(false);
    expect(world.state.grants.peek(jti)).toBeUndefined();

    // approved by two: the restart is granted, and the step leaves memory with its request closed
    const request = restart.steps[0]?.request ?? '';
    both((w) => w.approve(request, 'lena', 'approver-console'));
    both((w) => w.approve(request, 'fatima', 'approver-console'));
    expect(world.state.index.openRequests.size).toBe(0);
    // its request closed, the restart's step stays only because it awaits its rollback (a bundle change decides it again)
    expect(world.state.index.rollbackSteps.has(restartStepId)).toBe(true);
    expect(world.state.steps.peek(restartStepId)).toBeDefined();
    expect(world.state.proposals.peek(restart.proposal)).toBeUndefined();

    // a rollback registered, a halt over the live grants, a release that activates another bundle
    both((w) => w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: caller('olivia', 'approver-console'), step: restartStepId, action: 'workers.rollback_pool', target: 'payments-worker' }));
    both((w) => ok(w.propose([snapshotStep({ environment: 'dev' })])));
    both((w) => w.run({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'environment', environment: 'dev' } }));
    both((w) => w.run({ kind: 'hold_open', caller: caller('lena', 'approver-console'), trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE }));
    both((w) => w.advance(20 * MINUTE));
    both((w) => ok(w.propose([inspectStep()])));

    expect(world.machine.entries).toEqual(plain.machine.entries);
    const tieredKinds = new Set(['proposal', 'step', 'grant']);
    const expected = projectionRows(plain.state).filter((r) => tieredKinds.has(r.kind)).map((r) => [`${r.kind}/${r.id}`, canonicalJson(r.value)]);
    expect([...rows.rows].filter(([key]) => tieredKinds.has(key.split('/')[0] ?? '')).sort()).toEqual(expected.sort());
    expect(held(world.state)).toBeLessThan(expected.length);
  });

  it('keeps the step of an open request while it is open (no rollback awaited), and a record read back that a batch in flight changed', () => {
    const { world } = tieredWorld();
    // a rollback of the pool in prod needs one approval and no rollback of its own
    const rollback = { action: 'workers.rollback_pool', environment: 'prod', target: 'payments-worker', params: {} };
    const proposed = ok(world.propose([rollback]));
    const stepId = proposed.steps[0]?.step ?? '';
    const request = proposed.steps[0]?.request ?? '';
    expect(request).not.toBe('');
    expect(world.state.index.rollbackSteps.has(stepId)).toBe(false);
    ok(world.propose([inspectStep()]));
    expect(world.state.steps.peek(stepId)).toBeDefined();
    expect(world.state.proposals.peek(proposed.proposal)).toBeUndefined();
    ok(world.approve(request, 'lena', 'approver-console'));
    expect(world.state.index.openRequests.has(request)).toBe(false);
    expect(world.state.steps.peek(stepId)).toBeUndefined();

    // read back, then kept by a batch in flight; let go once nothing holds it
    const proposal = world.state.proposals.get(proposed.proposal);
    expect(proposal?.id).toBe(proposed.proposal);
    evictCommitted(world.state, [], (kind, id) => kind === 'proposal' && id === proposed.proposal);
    expect(world.state.proposals.peek(proposed.proposal)).toBe(proposal);
    // that batch committed: the writer evicts what it changed
    evictCommitted(world.state, [{ kind: 'proposal', id: proposed.proposal }], () => false);
    expect(world.state.proposals.peek(proposed.proposal)).toBeUndefined();
  });

  it('lets go of all but open work when a rebuilt state is tiered', () => {
    const plain = new World(examplePolicy());
    const granted = ok(plain.propose([inspectStep()]));
    const waiting = ok(plain.propose([restartStep()]));
    const rows = new Rows();
    rows.write(plain.state, projectionRows(plain.state).map(({ kind, id }) => ({ kind, id })));
    const rebuilt = rebuildState(plain.machine.entries);
    tierState(rebuilt, rows);
    const waitingStep = waiting.steps[0]?.step ?? '';
    expect(rebuilt.steps.peek(waitingStep)).toBeDefined();
    expect(held(rebuilt)).toBe(1);
    expect(rebuilt.steps.get(granted.steps[0]?.step ?? '')?.grants).toEqual([granted.steps[0]?.grant?.jti]);
    expect(rebuilt.proposals.get(waiting.proposal)?.steps).toEqual([waitingStep]);
  });

  it('property: any sequence of commands gives the same answers, entries and rows whether committed records stay in memory or leave it', () => {
    type Action =
      | { readonly kind: 'propose'; readonly which: number }
      | { readonly kind: 'approve'; readonly approver: number; readonly request: number }
      | { readonly kind: 'consume'; readonly grant: number }
      | { readonly kind: 'rollback'; readonly step: number }
      | { readonly kind: 'run_rollback'; readonly artifact: number }
      | { readonly kind: 'outcome'; readonly execution: number }
      | { readonly kind: 'halt' }
      | { readonly kind: 'lift_halt' }
      | { readonly kind: 'activate' }
      | { readonly kind: 'advance'; readonly ms: number };
    const proposals = [() => inspectStep(), () => restartStep(), () => snapshotStep({ environment: 'dev' }), () => restartStep({ target: 'refund-worker' })];
    const approvers = ['lena', 'fatima', 'sam', 'leo'];
    const action: fc.Arbitrary<Action> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('propose' as const), which: fc.nat(proposals.length - 1) }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('approve' as const), approver: fc.nat(approvers.length - 1), request: fc.nat(7) }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('consume' as const), grant: fc.nat(15) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('rollback' as const), step: fc.nat(15) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('run_rollback' as const), artifact: fc.nat(3) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('outcome' as const), execution: fc.nat(7) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'halt' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'lift_halt' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'activate' as const }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 15 * MINUTE }) }) },
    );
    const SAM = caller('sam', 'signed-cli');
    const EXAMPLE = examplePolicy();
    const PERMISSIVE = permissivePolicy();
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 30 }), (actions) => {
        const plain = new World(examplePolicy());
        const { world, rows } = tieredWorld();
        // ids are taken from the plain world, which may scan its maps; both worlds make the same ones
        const pick = <T>(list: readonly T[], n: number): T | undefined => list[n % Math.max(1, list.length)];
        for (const a of actions) {
          // every id is picked before either world runs the command: the plain world's maps can be scanned
          const request = a.kind === 'approve' ? pick([...plain.state.requests.keys()], a.request) : undefined;
          const jti = a.kind === 'consume' ? pick([...plain.state.grants.keys()], a.grant) : undefined;
          const step = a.kind === 'rollback' ? pick([...plain.state.steps.keys()], a.step) : undefined;
          const artifact = a.kind === 'run_rollback' ? pick([...plain.state.artifacts.keys()], a.artifact) : undefined;
          const execution = a.kind === 'outcome' ? pick([...plain.state.executions.keys()], a.execution) : undefined;
          const halt = [...plain.state.index.activeHalts][0];
          // the other bundle: every live grant revoked, the steps of open requests and awaited rollbacks decided again
          const next = plain.state.bundle.bundle_id === EXAMPLE.bundleId ? PERMISSIVE : EXAMPLE;
          const answers = [plain, world].map((w) => {
            switch (a.kind) {
              case 'propose':
                return w.propose([proposals[a.which]?.() ?? inspectStep()]).result;
              case 'approve':
                return request === undefined ? null : w.approve(request, approvers[a.approver] ?? 'lena', 'approver-console').result;
              case 'consume':
                return jti === undefined ? null : w.run({ kind: 'consume', caller: COPILOT, grant: jti }).result;
              case 'rollback':
                return step === undefined ? null : w.run({ kind: 'rollback_register', caller: caller('olivia', 'approver-console'), step, action: 'workers.rollback_pool', target: 'payments-worker' }).result;
              case 'run_rollback':
                return artifact === undefined ? null : w.run({ kind: 'rollback_run', caller: caller('lena', 'approver-console'), artifact }).result;
              case 'outcome':
                return execution === undefined ? null : w.run({ kind: 'outcome', caller: COPILOT, execution, outcome: 'succeeded' }).result;
              case 'halt':
                return w.run({ kind: 'halt', caller: SAM, scope: { kind: 'environment', environment: 'prod' } }).result;
              case 'lift_halt':
                return halt === undefined ? null : w.run({ kind: 'halt_lift', caller: SAM, halt }).result;
              case 'activate':
                return w.run({ kind: 'bundle_activate', caller: SAM, policy: next }).result;
              case 'advance':
                w.advance(a.ms);
                return null;
            }
          });
          expect(canonicalJson((answers[1] ?? null) as never)).toEqual(canonicalJson((answers[0] ?? null) as never));
        }
        expect(world.machine.entries).toEqual(plain.machine.entries);
        const tieredKinds = new Set(['proposal', 'step', 'grant']);
        // the rows the tiered world wrote are the rows a full rebuild holds
        const rebuilt = projectionRows(rebuildState(world.machine.entries)).filter((r) => tieredKinds.has(r.kind));
        expect(rebuilt.map((r) => [`${r.kind}/${r.id}`, canonicalJson(r.value)]).sort()).toEqual([...rows.rows].filter(([key]) => tieredKinds.has(key.split('/')[0] ?? '')).sort());
      }),
      { numRuns: 150 },
    );
  });
});
