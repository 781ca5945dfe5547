import { describe, expect, it } from 'vitest';
import { caller, EVIDENCE, examplePolicy, MINUTE, ok, restartOverride, restartStep, T0, World } from '../../../../test/scenario/world.js';
import type { HoldResult } from '../state/hold.js';
import type { RegisterRollbackResult } from '../state/rollback.js';
import type { RequestOverrideResult } from '../state/override.js';
import { median, overrideReport } from './overrides.js';
import { recordedTwice } from '../../../../test/helpers/recorded-twice.js';

/**
 * A known week: at 09:12 a restart needs a lead; lena approves it 4 minutes
 * later. A second restart, held, is unlocked by two overrides (10 and 20
 * minutes after it was decided); an attempt signed by the requester herself
 * is denied in between.
 */
function week(): World {
  const policy = examplePolicy();
  const w = new World(policy);
  const first = ok(w.propose([restartStep()])).steps[0];
  w.advance(4 * MINUTE);
  ok(w.approve(first?.request ?? '', 'lena', 'approver-console'));

  const hold = ok(w.run<HoldResult>({ kind: 'hold_open', caller: caller('sam', 'signed-cli'), trip_gate: 'K1', scope: { environments: ['prod'] }, evidence_hash: EVIDENCE })).hold;
  const held = ok(w.propose([restartStep({ target: 'ledger-worker' })])).steps[0];
  const artifact = ok(w.run<RegisterRollbackResult>({ kind: 'rollback_register', caller: caller('olivia', 'approver-console'), step: held?.step ?? '', action: 'workers.rollback_pool', target: 'ledger-worker' })).artifact;
  const draft = () => ({ ...restartOverride(w, hold, held?.digest ?? '', artifact), scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['ledger-worker'] } });
  const override = (signerA: string): void => {
    const requested = ok(w.run<RequestOverrideResult>({ kind: 'override_request', caller: caller('olivia', 'approver-console'), ...draft() }));
    w.run({ kind: 'override_submit', caller: caller(signerA, 'signed-cli'), override: requested.override, signatures: [w.sign(requested.body, 'a', signerA, 'signed-cli'), w.sign(requested.body, 'b', 'fatima', 'signed-cli')] });
  };
  w.advance(10 * MINUTE);
  override('lena');
  w.advance(5 * MINUTE);
  override('olivia');
  w.advance(5 * MINUTE);
  override('leo');
  return w;
}

/**
 * The week's report, built inside each test that reads it: built while the
 * file is collected, the state machine lines it runs would be static mutants
 * for StrykerJS, and a mutant that broke it would fail the collection, which
 * the vitest runner does not count as a kill.
 */
function weekReport(): { w: World; report: ReturnType<typeof overrideReport> } {
  const w = week();
  return { w, report: overrideReport(w.machine.entries, examplePolicy(), { windowMs: 7 * 24 * 60 * MINUTE, now: T0 + 60 * MINUTE }) };
}

describe('overrideReport', () => {
  it('counts overrides granted and denied against approvals', () => {
    const { report } = weekReport();
    expect(report.overrides).toEqual({ requested: 3, granted: 2, denied: 1 });
    expect(report.approvals).toBe(1);
    expect(report.override_rate).toBeCloseTo(2 / 3);
    expect(report.by_environment).toEqual([{ environment: 'prod', granted: 2, denied: 1, approvals: 1, override_rate: 2 / 3 }]);
    expect(report.by_reason_code).toEqual([{ reason_code: 'APPROVER_UNAVAILABLE', granted: 2, denied: 1 }]);
    expect(report.by_signer).toEqual([
      { signer: 'fatima', granted: 2, denied: 1 },
      { signer: 'lena', granted: 1, denied: 0 },
      { signer: 'leo', granted: 1, denied: 0 },
      { signer: 'olivia', granted: 0, denied: 1 },
    ]);
    expect(report.by_gate.map((g) => g.code)).toContain('O1_IDENTITY_COLLISION');
  });

  it('measures budget use against the policy', () => {
    const { report } = weekReport();
    expect(report.budgets).toEqual([{ environment: 'prod', max: 2, window: '7d', used: 2, remaining: 0, spent: true }]);
  });

  it('compares the time to an approval with the time to an override', () => {
    const { report } = weekReport();
    // approval: 4 minutes; overrides: 10 and 20 minutes after the held step was decided
    expect(report.median_ms).toEqual({ request_to_approval: 4 * MINUTE, request_to_override: 15 * MINUTE });
  });

  it('counts nothing outside the window', () => {
    const { w } = weekReport();
    const later = overrideReport(w.machine.entries, examplePolicy(), { windowMs: 60 * MINUTE, now: T0 + 8 * 24 * 60 * MINUTE });
    expect(later.overrides).toEqual({ requested: 0, granted: 0, denied: 0 });
    expect(later.override_rate).toBeNull();
    expect(later.budgets[0]?.used).toBe(0);
  });

  it('refuses a ledger with an entry that does not match its type rather than count around it', () => {
    const { w } = weekReport();
    const granted = w.machine.entries.find((e) => e.type === 'override.granted');
    if (!granted) throw new Error('the week grants overrides');
    const broken = w.machine.entries.map((e) => (e === granted ? { ...e, payload: { ...e.payload, environments: 'prod' } } : e));
    expect(() => overrideReport(broken, examplePolicy(), { windowMs: 7 * 24 * 60 * MINUTE, now: T0 + 60 * MINUTE })).toThrow(
      expect.objectContaining({ code: 'LEDGER_ENTRY_INVALID', details: { seq: granted.seq, type: 'override.granted', pointer: '/payload/environments' } }),
    );
  });

  it('counts a lease granted twice once, as the gateway applied it', () => {
    const { w, report } = weekReport();
    const granted = w.machine.entries.find((e) => e.type === 'override.granted');
    if (!granted) throw new Error('the week grants overrides');
    const { ledger } = recordedTwice(w.machine.entries, granted);
    const twice = overrideReport(ledger, examplePolicy(), { windowMs: 7 * 24 * 60 * MINUTE, now: T0 + 60 * MINUTE });
    expect([twice.overrides, twice.by_signer, twice.budgets]).toEqual([report.overrides, report.by_signer, report.budgets]);
  });

  it('takes the median of an even count as the mean of the middle two', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});
