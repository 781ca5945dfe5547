import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { playGoverned, playPermissive, INCIDENT } from '../../../../test/scenario/incident.js';
import { EVIDENCE, restartStep } from '../../../../test/scenario/world.js';
import { dispatch, gatewayKey, GATEWAY_ORIGIN, ManualClock, readEntries, recordScript, type Recorded } from '../../../../test/helpers/gateway-replay.js';
import { countLedger, parseExposition, sampleKey, samplesOf, type Samples } from '../../../../test/helpers/exposition.js';
import { counterIds } from '../../../core/src/state/machine.js';
import { Gateway } from '../service/gateway.js';
import { SqliteLedgerStore } from '../store/sqlite.js';
import { createObservability, type Observability } from './index.js';

/**
 * The metrics of an instrumented Gateway over a real SQLite ledger, scraped in
 * the Prometheus text format and checked against counts computed from the
 * ledger entries alone.
 */

const dir = mkdtempSync(join(tmpdir(), 'countersign-metrics-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SAM = { principal: 'sam', surface: 'signed-cli', credential: 'cred-sam' };
const COPILOT = { principal: 'payments-copilot', surface: 'copilot-console', credential: 'cred-copilot' };

interface Played {
  readonly obs: Observability;
  readonly gateway: Gateway;
  readonly store: SqliteLedgerStore;
  readonly clock: ManualClock;
}

/** Play a recorded script through an instrumented Gateway on a fresh SQLite file. */
async function play(recorded: Recorded, path: string): Promise<Played> {
  const [first, ...rest] = recorded.commands;
  if (first?.command.kind !== 'bundle_activate') throw new Error('a script starts by activating its bundle');
  const clock = new ManualClock(first.now);
  const obs = createObservability({ defaultMetrics: false, tracing: false, clock: clock.read });
  const store = await SqliteLedgerStore.open(path);
  const raw = await Gateway.open({
    store: obs.instrumentStore(store),
    policy: first.command.policy,
    key: gatewayKey(),
    origin: GATEWAY_ORIGIN,
    clock: clock.read,
    ids: counterIds(),
    observer: obs.sequencerObserver,
  });
  const gateway = obs.instrumentGateway(raw);
  const tokens = new Map<string, string>();
  for (const { command, now } of rest) {
    clock.now = now;
    const result = await dispatch(gateway, command, tokens);
    if (result.ok) for (const [jti, token] of Object.entries(result.tokens)) tokens.set(jti, token);
  }
  return { obs, gateway, store, clock };
}

async function scrape(obs: Observability): Promise<Samples> {
  return parseExposition(await obs.registry.metrics());
}

async function expectAgreesWithLedger(samples: Samples, store: SqliteLedgerStore): Promise<ReturnType<typeof countLedger>> {
  const { entries } = await readEntries(store);
  const counts = countLedger(entries);
  expect(samplesOf(samples, 'countersign_decisions_total')).toEqual(counts.decisions);
  expect(samplesOf(samples, 'countersign_rejections_total')).toEqual(counts.rejections);
  expect(samplesOf(samples, 'countersign_overrides_total')).toEqual(counts.overrides);
  expect(samplesOf(samples, 'countersign_override_gate_failures_total')).toEqual(counts.gateFailures);
  expect(samplesOf(samples, 'countersign_executions_total')).toEqual(counts.executions);
  expect(samplesOf(samples, 'countersign_execution_outcomes_total')).toEqual(counts.outcomes);
  expect(samples.get('countersign_approval_latency_seconds_count')).toBe(counts.approvals);
  expect(samples.get('countersign_approval_latency_seconds_sum')).toBeCloseTo(counts.approvalSeconds, 6);
  expect(samples.get('countersign_requests_pending')).toBe(counts.pending);
  expect(samples.get('countersign_holds_active')).toBe(counts.holds);
  expect(samples.get('countersign_ledger_entries')).toBe(counts.size);
  return counts;
}

describe('metrics of the governed incident', () => {
  it('count every decision, rejection, override gate and execution the ledger records', async () => {
    const { obs, gateway, store } = await play(recordScript(playGoverned), join(dir, 'governed.db'));
    try {
      const samples = await scrape(obs);
      const counts = await expectAgreesWithLedger(samples, store);
      // the moments of the report, as the scrape shows them
      expect(samples.get(sampleKey('countersign_rejections_total', { type: 'approval.rejected', code: 'SELF_APPROVAL' }))).toBe(1);
      expect(samples.get(sampleKey('countersign_overrides_total', { outcome: 'denied' }))).toBe(1);
      expect(samples.get(sampleKey('countersign_override_gate_failures_total', { code: 'O1_IDENTITY_COLLISION' }))).toBe(1);
      expect(samples.get(sampleKey('countersign_decisions_total', { effect: 'held', risk: 'critical' }))).toBe(1);
      expect(counts.approvals).toBe(2);
      // 09:16 -> 09:19 for the restart, 09:23 -> 09:24 for the clear
      expect(samples.get('countersign_approval_latency_seconds_sum')).toBe(180 + 60);
      expect(samples.get(sampleKey('countersign_approval_latency_seconds_bucket', { le: '120' }))).toBe(1);
      expect(samples.get(sampleKey('countersign_ledger_append_seconds_count', { operation: 'append_with', outcome: 'ok' }))).toBeGreaterThan(0);
      // checkpoints this process wrote: the covered and the uncovered make the whole ledger
      const covered = samples.get('countersign_ledger_checkpoint_tree_size') ?? Number.NaN;
      expect(covered + (samples.get('countersign_ledger_uncovered_entries') ?? Number.NaN)).toBe(counts.size);
      expect(samples.get('countersign_ledger_checkpoints_total')).toBeGreaterThan(0);
      expect(samples.get('countersign_ledger_last_checkpoint_age_seconds')).toBeGreaterThanOrEqual(0);
    } finally {
      await gateway.close();
      await store.close();
    }
  });

  it('keeps state gauges in agreement with the ledger across a restart, and ages checkpoints', async () => {
    const path = join(dir, 'restart.db');
    const first = await play(recordScript(playGoverned), path);
    // leave something pending and something held at the end of the day
    const hold = await first.gateway.openHold(SAM, {
      trip_gate: 'K1',
      scope: { environments: ['prod'], classes: ['destructive'] },
      evidence_hash: EVIDENCE,
      incident: INCIDENT,
      reason: 'a second shard is stuck',
    });
    expect(hold.ok).toBe(true);
    const proposed = await first.gateway.propose(COPILOT, { agent: COPILOT.principal, on_behalf_of: 'olivia', surface: COPILOT.surface, steps: [restartStep()] });
    expect(proposed.ok && proposed.steps[0]?.effect).toBe('require_approval');
    const before = await scrape(first.obs);
    const counts = await expectAgreesWithLedger(before, first.store);
    expect(counts.pending).toBe(1);
    expect(counts.holds).toBe(1);

    // closing covers every entry with a checkpoint, as old as the clock says since
    await first.gateway.close();
    first.clock.now += 42_000;
    const checkpointed = await scrape(first.obs);
    expect(checkpointed.get('countersign_ledger_checkpoint_tree_size')).toBe(counts.size);
    expect(checkpointed.get('countersign_ledger_uncovered_entries')).toBe(0);
    expect(checkpointed.get('countersign_ledger_last_checkpoint_age_seconds')).toBe(42);
    await first.store.close();

    // a new process: counters start from zero, state gauges come from the rebuilt state
    const clock = new ManualClock(first.clock.now + 18_000);
    const obs = createObservability({ defaultMetrics: false, tracing: false, clock: clock.read });
    const store = await SqliteLedgerStore.open(path);
    const gateway = obs.instrumentGateway(
      await Gateway.open({ store: obs.instrumentStore(store), policy: recordScript(playGoverned).run.world.policy, key: gatewayKey(), origin: GATEWAY_ORIGIN, clock: clock.read }),
    );
    try {
      const after = await scrape(obs);
      expect(after.get('countersign_requests_pending')).toBe(1);
      expect(after.get('countersign_holds_active')).toBe(1);
      expect(after.get('countersign_ledger_entries')).toBe(counts.size);
      expect(samplesOf(after, 'countersign_decisions_total').size).toBe(0);
      // the checkpoint predates this process: aged from the last entry it covers
      expect(after.get('countersign_ledger_last_checkpoint_age_seconds')).toBe(60);
    } finally {
      await gateway.close();
      await store.close();
    }
  });
});

describe('metrics of the permissive incident', () => {
  it('show both steps decided allow and run, with no approval and no rejection', async () => {
    const { obs, gateway, store } = await play(recordScript(playPermissive), join(dir, 'permissive.db'));
    try {
      const samples = await scrape(obs);
      const counts = await expectAgreesWithLedger(samples, store);
      expect(counts.rejections.size).toBe(0);
      expect(samples.get('countersign_approval_latency_seconds_count')).toBe(0);
      expect(samples.get(sampleKey('countersign_decisions_total', { effect: 'allow', risk: 'low' }))).toBe(6);
      expect(samples.get(sampleKey('countersign_executions_total', { via: 'grant' }))).toBe(6);
    } finally {
      await gateway.close();
      await store.close();
    }
  });
});
