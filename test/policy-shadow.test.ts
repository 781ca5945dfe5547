import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, CLI, DIAGNOSTICS_CASE, EXAMPLE_POLICY, startGatewayProcess, type GatewayProcess, type Json } from './helpers/gateway-process.js';

/**
 * Issue 13, shadow runs: while a release is open, every decision recorded
 * under the bundle in force is also decided under the candidate. The live
 * count (a metric, fed by committed entries) and the report (a replay of the
 * release's window of the ledger) must agree, and shadow never changes what
 * is allowed.
 */

const restart = (target: string) => ({ action: 'workers.restart_pool', environment: 'prod', target, params: { strategy: 'rolling' } });
const inspect = { action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} };

function metric(text: string, release: string, result: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`countersign_release_shadow_decisions_total{release="${release}",result="${result}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

describe('shadow run of an open release', () => {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-shadow-'));
  let gw: GatewayProcess;

  beforeAll(async () => {
    gw = await startGatewayProcess({ policy: EXAMPLE_POLICY, dir, db: join(dir, 'ledger.db') });
  }, 60_000);

  afterAll(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('counts live what the replay of its window lists, and changes nothing', async () => {
    const priya = await gw.token('priya', 'approver-console');
    const agent = await gw.token('payments-copilot', 'copilot-console');
    // the candidate makes restarts in prod medium risk: one approver instead of the high-risk quorum
    const yaml = readFileSync(EXAMPLE_POLICY, 'utf8').replace(/(- id: workers\.restart_pool[\s\S]*?risk: \{ dev: low, staging: medium, prod: )high/, '$1medium');
    expect(yaml).not.toBe(readFileSync(EXAMPLE_POLICY, 'utf8'));
    // the example's cases refuse medium-risk restarts, on purpose: this release brings a case it passes
    const proposed = await call(gw.url, 'POST', '/v1/releases', priya, { policy: yaml, golden: [DIAGNOSTICS_CASE] });
    expect(proposed.status, JSON.stringify(proposed.body)).toBe(201);
    const release = proposed.body['id'] as string;

    const requests: string[] = [];
    for (const step of [restart('payments-worker'), inspect, restart('ledger-worker'), inspect, restart('refund-worker')]) {
      const r = await call(gw.url, 'POST', '/v1/proposals', agent, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [step] });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      const s = (r.body['steps'] as Json[])[0];
      if (s.request) requests.push(s.request as string);
    }
    // shadow changes nothing: the restarts are still decided under the bundle in force, high risk
    expect(requests).toHaveLength(3);
    for (const id of requests) expect((await call(gw.url, 'GET', `/v1/requests/${id}`, agent)).body['risk']).toBe('high');

    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    const live = { changed: metric(metrics, release, 'changed'), same: metric(metrics, release, 'same') };
    expect(live).toEqual({ changed: 3, same: 2 });

    const report = await call(gw.url, 'GET', `/v1/releases/${release}/shadow`, priya);
    expect(report.status, JSON.stringify(report.body)).toBe(200);
    const counts = report.body['replay']['counts'];
    expect({ changed: counts['changed'], same: counts['unchanged'] }).toEqual(live);
    const changes = report.body['replay']['changes'] as Json[];
    expect(changes.map((c) => [c.target, c.before.risk, c.after.risk])).toEqual([
      ['payments-worker', 'high', 'medium'],
      ['ledger-worker', 'high', 'medium'],
      ['refund-worker', 'high', 'medium'],
    ]);

    const cli = spawnSync(process.execPath, [CLI, 'policy', 'shadow-report', release], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', COUNTERSIGN_SERVER: gw.url, COUNTERSIGN_TOKEN: priya } });
    expect(cli.status, cli.stderr).toBe(1);
    expect(cli.stdout).toMatch(/would change\s+3/);
    expect(cli.stdout).toContain('workers.restart_pool@prod refund-worker: require_approval -> require_approval');
  }, 120_000);
});
