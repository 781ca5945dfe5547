import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEMO_TOKENS, INCIDENT, playGoverned, playPermissive } from '../packages/gateway/src/demo/incident.js';
import { Sandbox } from '../packages/gateway/src/demo/sandbox.js';
import { Timeline } from '../packages/gateway/src/demo/timeline.js';
import { SqliteLedgerStore } from '../packages/gateway/src/store/sqlite.js';
import { countLedger, parseExposition, sampleKey, samplesOf, type Samples } from './helpers/exposition.js';
import { readEntries } from './helpers/gateway-replay.js';

/**
 * End to end: the real server process (`countersign serve`, built CLI, on
 * SQLite) plays the reference incident over HTTP; `GET /metrics` is scraped
 * and every count is checked against counts computed from the ledger alone.
 */

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'packages', 'gateway', 'dist', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'countersign-metrics-http-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function scrape(server: string): Promise<{ samples: Samples; type: string | null }> {
  const res = await fetch(`${server}/metrics`);
  expect(res.status).toBe(200);
  return { samples: parseExposition(await res.text()), type: res.headers.get('content-type') };
}

async function ledgerCounts(db: string) {
  const store = await SqliteLedgerStore.open(db, { readonly: true });
  try {
    return countLedger((await readEntries(store)).entries);
  } finally {
    await store.close();
  }
}

function expectAgrees(samples: Samples, counts: ReturnType<typeof countLedger>): void {
  expect(samplesOf(samples, 'countersign_decisions_total')).toEqual(counts.decisions);
  expect(samplesOf(samples, 'countersign_rejections_total')).toEqual(counts.rejections);
  expect(samplesOf(samples, 'countersign_overrides_total')).toEqual(counts.overrides);
  expect(samplesOf(samples, 'countersign_override_gate_failures_total')).toEqual(counts.gateFailures);
  expect(samplesOf(samples, 'countersign_executions_total')).toEqual(counts.executions);
  expect(samplesOf(samples, 'countersign_execution_outcomes_total')).toEqual(counts.outcomes);
  expect(samples.get('countersign_approval_latency_seconds_count')).toBe(counts.approvals);
  expect(samples.get('countersign_approval_latency_seconds_sum')).toBeCloseTo(counts.approvalSeconds, 3);
  expect(samples.get('countersign_requests_pending')).toBe(counts.pending);
  expect(samples.get('countersign_holds_active')).toBe(counts.holds);
  expect(samples.get('countersign_ledger_entries')).toBe(counts.size);
}

describe('GET /metrics of a live gateway', () => {
  it('agrees with the ledger after the governed incident, with a hold and a request left open', async () => {
    const sandbox = await Sandbox.start({ policyPath: join(ROOT, 'examples/payments/policy.yaml'), dir: tmp, name: 'governed', cli: CLI, tokens: DEMO_TOKENS });
    try {
      await playGoverned(sandbox, new Timeline());
      await sandbox.client('sam', 'signed-cli').openHold({
        trip_gate: 'K2',
        scope: { environments: ['prod'], classes: ['destructive'] },
        evidence_hash: `sha256:${'a'.repeat(64)}`,
        incident: INCIDENT,
      });
      const pending = await sandbox.client('payments-copilot', 'copilot-console').propose({
        agent: 'payments-copilot',
        on_behalf_of: 'olivia',
        surface: 'copilot-console',
        steps: [{ action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling' } }],
      });
      expect(pending.steps[0]?.effect).toBe('require_approval');

      const { samples, type } = await scrape(sandbox.server);
      expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
      const counts = await ledgerCounts(sandbox.db);
      expectAgrees(samples, counts);
      expect(counts.pending).toBe(1);
      expect(counts.holds).toBe(1);
      // on SQLite committed records left memory: the open request's step stays, with the last commit's proposal
      const inMemory = (kind: string): number | undefined => samples.get(sampleKey('countersign_records_in_memory', { kind }));
      expect(inMemory('step')).toBeGreaterThanOrEqual(1);
      expect(inMemory('proposal')).toBeLessThanOrEqual(1);
      const decided = [...counts.decisions.values()].reduce((a, b) => a + b, 0);
      expect(decided).toBeGreaterThan(5);
      expect(inMemory('step')).toBeLessThan(decided);
      expect(samples.get(sampleKey('countersign_rejections_total', { type: 'approval.rejected', code: 'SELF_APPROVAL' }))).toBe(1);
      expect(samples.get(sampleKey('countersign_override_gate_failures_total', { code: 'O1_IDENTITY_COLLISION' }))).toBe(1);
      expect(samples.get(sampleKey('countersign_decisions_total', { effect: 'held', risk: 'critical' }))).toBe(1);
      expect(counts.approvals).toBe(2);
      // durable appends were timed, and the process exports its own metrics too
      expect(samples.get(sampleKey('countersign_ledger_append_seconds_count', { operation: 'append_with', outcome: 'ok' }))).toBeGreaterThan(0);
      expect(samples.has('process_cpu_user_seconds_total')).toBe(true);
    } finally {
      await sandbox.stop();
    }
  });

  it('agrees with the ledger after the permissive incident', async () => {
    const sandbox = await Sandbox.start({ policyPath: join(ROOT, 'examples/permissive/policy.yaml'), dir: tmp, name: 'permissive', cli: CLI, tokens: DEMO_TOKENS });
    try {
      await playPermissive(sandbox, new Timeline());
      const { samples } = await scrape(sandbox.server);
      const counts = await ledgerCounts(sandbox.db);
      expectAgrees(samples, counts);
      expect(counts.rejections.size).toBe(0);
      expect(samples.get(sampleKey('countersign_decisions_total', { effect: 'allow', risk: 'low' }))).toBe(6);
    } finally {
      await sandbox.stop();
    }
  });
});
