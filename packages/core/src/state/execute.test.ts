import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { caller, COPILOT, EVIDENCE, examplePolicy, inspectStep, ok, restartStep, snapshotStep, World, compileBundle } from '../../../../test/scenario/world.js';
import type { Command } from './commands.js';
import { runCommand } from './commands.js';
import { counterIds } from './machine.js';
import { uniqueKey } from './entries.js';
import type { RegisterRollbackResult } from './rollback.js';

const POLICY = examplePolicy();
const NEXT = compileBundle({ ...POLICY.bundle, description: 'next' });
const EXECUTORS = [COPILOT, caller('sam', 'webhook'), caller('olivia', 'signed-cli')];

/** Three live grants: the diagnostic, the snapshot and the approved restart. */
function withGrants(): { w: World; grants: string[] } {
  const w = new World(POLICY);
  const p = ok(w.propose([inspectStep(), snapshotStep(), restartStep()]));
  ok(w.approve(p.steps[2]?.request ?? '', 'lena', 'approver-console'));
  const reg = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: caller('olivia', 'approver-console'), step: p.steps[2]?.step ?? '', action: 'workers.rollback_pool', target: 'payments-worker' }));
  return { w, grants: [p.steps[0]?.grant?.jti ?? '', p.steps[1]?.grant?.jti ?? '', reg.grant?.jti ?? ''] };
}

const action = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('consume' as const), grant: fc.nat(2), executor: fc.nat(2), tamper: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 4 * 60_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'hold' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'lift' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'halt' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'activate' as const }) },
);

describe('consumption', () => {
  it('produces at most one grant.consumed per grant under any interleaving of consumes, holds, halts, bundles and time', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 40 }), (actions) => {
        const { w, grants } = withGrants();
        for (const a of actions) {
          switch (a.kind) {
            case 'consume': {
              const jti = grants[a.grant] ?? '';
              const executor = EXECUTORS[a.executor] ?? COPILOT;
              const g = w.state.grants.get(jti);
              const command: Command = { kind: 'consume', caller: executor, grant: jti };
              const step = a.tamper && g ? { action: g.action, environment: g.environment, target: `${g.target}-x`, params: {} } : undefined;
              const out = w.run(step ? { ...command, step } : command);
              // a refusal is always recorded, a success always consumes
              expect(out.entries).toHaveLength(1);
              expect(out.entries[0]?.type).toBe(out.result.ok ? 'grant.consumed' : 'grant.rejected');
              break;
            }
            case 'advance':
              w.advance(a.ms);
              break;
            case 'hold':
              w.run({ kind: 'hold_open', caller: caller('lena', 'approver-console'), trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE });
              break;
            case 'lift':
              for (const id of [...w.state.index.openHolds]) w.run({ kind: 'hold_lift', caller: caller('priya', 'approver-console'), hold: id });
              break;
            case 'halt':
              w.run({ kind: 'halt', caller: caller('sam', 'signed-cli'), scope: { kind: 'environment', environment: 'prod' } });
              break;
            case 'activate':
              w.activate(w.policy.bundleId === NEXT.bundleId ? POLICY : NEXT);
              break;
          }
        }
        const consumed = w.machine.entries.filter((e) => e.type === 'grant.consumed').map((e) => e.payload['jti']);
        expect(new Set(consumed).size).toBe(consumed.length);
        for (const jti of consumed) expect(w.state.grants.get(jti as string)?.status).toBe('consumed');
      }),
      { numRuns: 150 },
    );
  });

  it('two replicas deciding on the same stale state produce the same unique key, so the store refuses the second', () => {
    const { w, grants } = withGrants();
    const jti = grants[0] ?? '';
    const ctx = { now: w.now, ids: counterIds() };
    const a = runCommand(w.state, w.policy, { kind: 'consume', caller: COPILOT, grant: jti }, ctx);
    const b = runCommand(w.state, w.policy, { kind: 'consume', caller: caller('sam', 'webhook'), grant: jti }, ctx);
    const [da, db] = [a.entries[0], b.entries[0]];
    expect(da?.type).toBe('grant.consumed');
    expect(db?.type).toBe('grant.consumed');
    // ADR 002 §5: the UNIQUE(unique_key) backstop
    expect(da && uniqueKey(da)).toBe(`step.executed:${w.state.grants.get(jti)?.step ?? '-'}`);
    expect(da && uniqueKey(da)).toBe(db && uniqueKey(db));
  });
});
