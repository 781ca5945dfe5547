import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { NOTIFICATION_EVENTS, parseOverrideBody } from '@countersign/core';
import { call, EVIDENCE, type GatewayProcess, type Json, ledgerEntries, overrideSignature, signedApproval, startGatewayProcess } from './helpers/gateway-process.js';
import { writeTestPolicy } from './helpers/http-suite.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';
import { restartOverrideAt } from './scenario/override-draft.js';

/**
 * The operator's events over webhooks (issue 16): holds opened, extended with
 * evidence and lifted; overrides requested, granted and denied; a clock
 * breach; a halt issued and lifted; a request denied; and an override budget
 * near exhaustion. Each is delivered signed to the webhook subscribed to it
 * and recorded as a `notification.delivered` entry naming the event. The
 * real gateway process and a receiver on loopback.
 */

const SECRET = 'webhook-secret-for-the-events-test';
let dir = '';
let gw: GatewayProcess;
let receiver: WebhookReceiver;


beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-webhook-events-'));
  receiver = await startWebhookReceiver(SECRET);
  const path = writeTestPolicy(dir);
  const policy = parseYaml(readFileSync(path, 'utf8')) as Record<string, Json>;
  policy['notifications'] = {
    webhooks: [{ id: 'ops', url: `${receiver.base}/ops`, secret_env: 'OPS_SECRET', events: NOTIFICATION_EVENTS.filter((e) => e !== 'approval.requested') }],
  };
  writeFileSync(path, stringifyYaml(policy));
  gw = await startGatewayProcess({ policy: path, dir, env: { OPS_SECRET: SECRET } });
}, 60_000);

afterAll(async () => {
  expect(await gw?.stop()).toBe(0);
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

const restartStep = { action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling' }, rationale: 'workers stuck', expected_consequence: 'in-flight jobs are retried' };

async function ok(answer: Promise<{ status: number; body: Json }>, status: number): Promise<Json> {
  const a = await answer;
  expect(a.status, JSON.stringify(a.body)).toBe(status);
  return a.body;
}

describe('operator events over webhooks', () => {
  it('delivers and records holds, overrides, a clock breach, a halt, a denial and a budget near exhaustion', async () => {
    const tok = (principal: string, surface: string) => gw.token(principal, surface);
    const agent = await tok('payments-copilot', 'copilot-console');
    const proposed = await ok(call(gw.url, 'POST', '/v1/proposals', agent, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [restartStep] }), 201);
    const { step, digest } = proposed['steps'][0] as { step: string; digest: string };
    const artifact = (await ok(call(gw.url, 'POST', '/v1/rollbacks', await tok('olivia', 'approver-console'), { step, action: 'workers.rollback_pool', target: 'payments-worker' }), 201))['artifact'] as string;

    // a hold, extended: the model extends a hold by adding evidence to it (hold.evidence_added)
    const hold = (await ok(call(gw.url, 'POST', '/v1/holds', await tok('sam', 'signed-cli'), { trip_gate: 'K2', scope: { environments: ['prod'], actions: ['workers.restart_pool'] }, evidence_hash: EVIDENCE }), 201))['hold'] as string;
    await ok(call(gw.url, 'POST', `/v1/holds/${hold}/evidence`, await tok('sam', 'signed-cli'), { evidence_hash: `sha256:${'f'.repeat(64)}` }), 200);

    const attempt = async (over: Record<string, unknown>, signers: [string, string]) => {
      const asked = await ok(call(gw.url, 'POST', '/v1/overrides', await tok('olivia', 'approver-console'), { ...restartOverrideAt(Date.now(), hold, 'K2', digest, artifact), ...over }), 201);
      const body = parseOverrideBody(asked['body']);
      return call(gw.url, 'POST', `/v1/overrides/${asked['id']}/submit`, await tok('olivia', 'approver-console'), {
        signatures: [overrideSignature(body, 'a', signers[0], 'signed-cli'), overrideSignature(body, 'b', signers[1], 'signed-cli')],
      });
    };
    // denied: signer B holds no signer-B role
    expect((await attempt({}, ['leo', 'sam'])).status).toBe(403);
    // granted, for later: the prod budget (2 a week) has one override left
    const later = await ok(attempt({ valid_from: new Date(Date.now() + 30 * 60_000).toISOString(), valid_to: new Date(Date.now() + 60 * 60_000).toISOString() }, ['leo', 'fatima']), 200);
    // used before its window: a clock breach
    expect((await call(gw.url, 'POST', `/v1/leases/${later['lease']}/executions`, agent, { step })).status).toBe(403);
    // granted again: the budget is spent
    await ok(attempt({}, ['leo', 'fatima']), 200);
    await ok(call(gw.url, 'POST', `/v1/holds/${hold}/lift`, await tok('priya', 'approver-console'), { reason: 'done' }), 200);

    const halt = (await ok(call(gw.url, 'POST', '/v1/halts', await tok('sam', 'signed-cli'), { scope: { kind: 'environment', environment: 'prod' }, reason: 'stop everything' }), 201))['halt'] as string;
    await ok(call(gw.url, 'POST', `/v1/halts/${halt}/lift`, await tok('leo', 'signed-cli'), { reason: 'understood' }), 200);

    const status = await ok(call(gw.url, 'POST', '/v1/proposals', agent, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [{ action: 'comms.send_status_update', environment: 'prod', target: 'customers', params: { channel: 'statuspage', message: 'x' } }] }), 201);
    const requestId = status['steps'][0]['request'] as string;
    const view = await call(gw.url, 'GET', `/v1/requests/${requestId}`, agent);
    await ok(call(gw.url, 'POST', `/v1/requests/${requestId}/denials`, await tok('sam', 'signed-cli'), signedApproval(view.body as never, 'sam', 'signed-cli', { decision: 'deny' })), 200);

    const wanted = ['hold.opened', 'hold.evidence_added', 'hold.lifted', 'override.requested', 'override.granted', 'override.denied', 'lease.clock_breach', 'halt.issued', 'halt.lifted', 'request.denied', 'budget.near_exhaustion'];
    const seen = () => new Set(receiver.received.map((r) => r.body['event'] as string));
    // two budget notices, one per grant, each delivered on its own: the first one seen does not mean the second has come
    const budgetNotices = () => receiver.received.filter((r) => r.body['event'] === 'budget.near_exhaustion').length;
    // bounded: a few dozen deliveries to a receiver that answers at once
    for (let i = 0; i < 200 && !(wanted.every((e) => seen().has(e)) && budgetNotices() >= 2); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect([...seen()].filter((e) => wanted.includes(e)).sort()).toEqual([...wanted].sort());
    expect(receiver.received.every((r) => r.signed)).toBe(true);

    // one per grant: the first leaves one override, the second none
    const budget = receiver.received.filter((r) => r.body['event'] === 'budget.near_exhaustion').map((r) => r.body).sort((a, b) => a['seq'] - b['seq']);
    expect(budget.map((b) => b['payload'])).toEqual([
      expect.objectContaining({ environment: 'prod', max: 2, window: '7d', used: 1, remaining: 1, spent: false, override: expect.any(String), lease: expect.any(String) }),
      expect.objectContaining({ environment: 'prod', max: 2, window: '7d', used: 2, remaining: 0, spent: true }),
    ]);
    expect(budget[0]).toMatchObject({ environment: 'prod', request_id: null });
    const entries = await ledgerEntries(gw);
    const granted = entries.filter((e) => e.type === 'override.granted');
    // carried by the entry that spent the budget
    expect(budget.map((b) => b['seq'])).toEqual(granted.map((e) => e.seq));

    // recorded: a notification.delivered entry for every event delivered
    let recorded: string[] = [];
    for (let i = 0; i < 100; i++) {
      recorded = (await ledgerEntries(gw)).filter((e) => e.type === 'notification.delivered' && e.payload['webhook'] === 'ops').map((e) => e.payload['event'] as string);
      if (wanted.every((e) => recorded.includes(e)) && recorded.filter((e) => e === 'budget.near_exhaustion').length >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(wanted.filter((e) => !recorded.includes(e))).toEqual([]);
    expect(recorded.filter((e) => e === 'budget.near_exhaustion')).toHaveLength(2);
  }, 60_000);
});
