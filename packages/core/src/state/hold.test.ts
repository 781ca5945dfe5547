import { describe, expect, it } from 'vitest';
import { caller, EVIDENCE, examplePolicy, ok, refused, restartStep, clearStep, World } from '../../../../test/scenario/world.js';
import type { HoldResult, OpenHoldCommand } from './hold.js';

const LENA = caller('lena', 'approver-console');

function open(scope: OpenHoldCommand['scope']): OpenHoldCommand {
  return { kind: 'hold_open', caller: LENA, trip_gate: 'K1', scope, evidence_hash: EVIDENCE };
}

describe('hold scopes are explicit lists', () => {
  // A wildcard is matched literally: a `shard-*` hold would report success and hold nothing.
  it.each([
    ['a `*` target', { environments: ['prod'], targets: ['payments-queue/shard-*'] }, 'payments-queue/shard-*'],
    ['a `?` target', { targets: ['payments-queue/shard-?'] }, 'payments-queue/shard-?'],
    ['a bare `*` target', { targets: ['*'] }, '*'],
    ['a wildcard action', { actions: ['queue.*'] }, 'queue.*'],
    ['a wildcard environment', { environments: ['prod*'] }, 'prod*'],
  ])('refuses %s with HOLD_SCOPE_INVALID, recorded, and opens nothing', (_name, scope, entry) => {
    const w = new World(examplePolicy());
    const attempt = w.run(open(scope));
    const refusal = refused(attempt);
    expect(refusal.code).toBe('HOLD_SCOPE_INVALID');
    expect(refusal.message).toBe(`hold scope entry \`${entry}\` holds a wildcard: scopes are explicit lists, name each one`);
    expect(attempt.entries.map((e) => e.type)).toEqual(['hold.rejected']);
    expect(attempt.entries[0]?.payload).toMatchObject({ operation: 'hold_open', hold: null, code: 'HOLD_SCOPE_INVALID', credential: LENA.credential });
    expect(w.state.holds.size).toBe(0);
  });

  it('a target named in full holds that target and no other', () => {
    const w = new World(examplePolicy());
    ok(w.run<HoldResult>(open({ environments: ['prod'], targets: ['payments-queue/shard-7'] })));
    const r = ok(w.propose([clearStep(), clearStep({ target: 'payments-queue/shard-8' }), restartStep()]));
    expect(r.steps[0]?.effect).toBe('held');
    expect(r.steps[1]?.effect).not.toBe('held');
    expect(r.steps[2]?.effect).not.toBe('held');
  });
});
