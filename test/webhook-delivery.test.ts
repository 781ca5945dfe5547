import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { call, type GatewayProcess, type Json, ledgerEntries, signedApproval, startGatewayProcess } from './helpers/gateway-process.js';
import { writeTestPolicy } from './helpers/http-suite.js';
import { startWebhookReceiver, type WebhookReceiver } from './helpers/webhook-receiver.js';

/**
 * Webhook deliveries are recorded in the ledger (issue 16): the real gateway
 * process, a receiver on loopback that checks each signature, one webhook
 * that answers 200, one that always answers 503 (retried, every attempt
 * recorded, the last one final), one whose secret is not set (skipped,
 * recorded). The agent's proposal is answered whatever the webhooks do.
 */

const SECRET = 'webhook-secret-for-the-test';
let dir = '';
let gw: GatewayProcess;
let receiver: WebhookReceiver;



beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-webhooks-'));
  receiver = await startWebhookReceiver(SECRET, (path) => (path === '/down' ? 503 : 200));
  const base = receiver.base;
  const path = writeTestPolicy(dir);
  const policy = parseYaml(readFileSync(path, 'utf8')) as Record<string, Json>;
  policy['notifications'] = {
    webhooks: [
      { id: 'pager', url: `${base}/up`, secret_env: 'PAGER_SECRET' },
      { id: 'flaky', url: `${base}/down`, secret_env: 'PAGER_SECRET' },
      { id: 'unset', url: `${base}/never`, secret_env: 'NOT_SET_ANYWHERE' },
      { id: 'ops', url: `${base}/ops`, secret_env: 'PAGER_SECRET', events: ['request.approved', 'grant.consumed', 'execution.outcome'], environments: ['prod'] },
      { id: 'staging-only', url: `${base}/staging`, secret_env: 'PAGER_SECRET', events: ['request.approved'], environments: ['staging'] },
    ],
  };
  writeFileSync(path, stringifyYaml(policy));
  gw = await startGatewayProcess({ policy: path, dir, env: { PAGER_SECRET: SECRET } });
}, 60_000);

afterAll(async () => {
  expect(await gw?.stop()).toBe(0);
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('webhook deliveries', () => {
  it('delivers a signed event with the console link, retries a failing destination, skips an unset secret; every attempt in the ledger', async () => {
    const token = await gw.token('payments-copilot', 'copilot-console');
    const proposed = await call(gw.url, 'POST', '/v1/proposals', token, {
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      steps: [{ action: 'comms.send_status_update', environment: 'prod', target: 'customers', params: { channel: 'statuspage', message: 'degraded' } }],
    });
    expect(proposed.status).toBe(201);
    const requestId = proposed.body['steps'][0]['request'] as string;

    // bounded: five attempts with backoff take under 8 s
    let entries: { type: string; payload: Json }[] = [];
    for (let i = 0; i < 150; i++) {
      entries = (await ledgerEntries(gw)).filter((e) => e.type.startsWith('notification.') && e.payload['request'] === requestId);
      // each destination records on its own schedule: wait for the last record of all three
      if (['flaky', 'pager', 'unset'].every((webhook) => entries.some((e) => e.payload['webhook'] === webhook && e.payload['final'] === 'true'))) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const of = (webhook: string) => entries.filter((e) => e.payload['webhook'] === webhook);
    expect(of('pager')).toEqual([expect.objectContaining({ type: 'notification.delivered', payload: expect.objectContaining({ attempt: '1', status: '200', final: 'true', event: 'approval.requested' }) })]);
    expect(of('flaky').map((e) => [e.type, e.payload['attempt'], e.payload['status'], e.payload['final']])).toEqual([
      ['notification.failed', '1', '503', 'false'],
      ['notification.failed', '2', '503', 'false'],
      ['notification.failed', '3', '503', 'false'],
      ['notification.failed', '4', '503', 'false'],
      ['notification.failed', '5', '503', 'true'],
    ]);
    expect(of('unset')).toEqual([expect.objectContaining({ type: 'notification.failed', payload: expect.objectContaining({ attempt: '0', error: 'SECRET_MISSING', final: 'true' }) })]);

    const up = receiver.received.filter((r) => r.path === '/up');
    expect(up).toHaveLength(1);
    expect(up[0]!.signed).toBe(true);
    expect(up[0]!.body).toMatchObject({ event: 'approval.requested', request_id: requestId, link: `${gw.url}/console/requests/${requestId}` });
    expect(receiver.received.filter((r) => r.path === '/never')).toEqual([]);
    // nothing secret in the ledger
    expect(JSON.stringify(entries)).not.toContain(SECRET);
  }, 30_000);

  it('sends the events a webhook subscribes to, in the environments it names, each with the request and its console link', async () => {
    const token = await gw.token('payments-copilot', 'copilot-console');
    const proposed = await call(gw.url, 'POST', '/v1/proposals', token, {
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      steps: [{ action: 'comms.send_status_update', environment: 'prod', target: 'customers', params: { channel: 'statuspage', message: 'resolved' } }],
    });
    const requestId = proposed.body['steps'][0]['request'] as string;
    const view = await call(gw.url, 'GET', `/v1/requests/${requestId}`, token);
    expect((await call(gw.url, 'POST', `/v1/requests/${requestId}/approvals`, await gw.token('sam', 'signed-cli'), signedApproval(view.body as never, 'sam', 'signed-cli'))).status).toBe(200);
    const grant = (await call(gw.url, 'GET', `/v1/requests/${requestId}`, token)).body['grant'] as string;
    const executed = await call(gw.url, 'POST', '/v1/executions', token, { grant });
    expect(executed.status).toBe(201);
    expect((await call(gw.url, 'POST', `/v1/executions/${executed.body['execution']}/outcome`, token, { outcome: 'succeeded' })).status).toBe(200);

    const ops = () => receiver.received.filter((r) => r.path === '/ops' && r.body['request_id'] === requestId);
    // bounded: three deliveries to a receiver that answers at once
    for (let i = 0; i < 100 && ops().length < 3; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ops().map((r) => r.body['event']).sort()).toEqual(['execution.outcome', 'grant.consumed', 'request.approved']);
    for (const r of ops()) {
      expect(r.signed).toBe(true);
      expect(r.body).toMatchObject({ environment: 'prod', link: `${gw.url}/console/requests/${requestId}` });
      expect(typeof r.body['seq']).toBe('number');
    }
    // the staging webhook hears nothing of prod, and nobody gets what they did not subscribe to
    expect(receiver.received.filter((r) => r.path === '/staging')).toEqual([]);
    expect(receiver.received.filter((r) => r.path === '/up' && r.body['event'] !== 'approval.requested')).toEqual([]);
    // each delivery is recorded once the receiver's answer is back, after the receiver saw it: bounded
    let recorded: { payload: Json }[] = [];
    for (let i = 0; i < 100; i++) {
      recorded = (await ledgerEntries(gw)).filter((e) => e.type === 'notification.delivered' && e.payload['webhook'] === 'ops' && e.payload['request'] === requestId);
      if (recorded.length >= 3) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(recorded.map((e) => e.payload['event']).sort()).toEqual(['execution.outcome', 'grant.consumed', 'request.approved']);
  }, 30_000);
});
