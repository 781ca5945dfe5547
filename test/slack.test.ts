import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { call, type GatewayProcess, type Json, ledgerEntries, startGatewayProcess } from './helpers/gateway-process.js';
import { writeTestPolicy } from './helpers/http-suite.js';

/**
 * Slack for approvers (issue 16), end to end: the real gateway process,
 * @slack/web-api pointed at a local stand-in for Slack's Web API that checks
 * the bot token and records each call as Slack would receive it, and
 * interaction requests signed as Slack signs them (v0, the signing secret, a
 * timestamp), forged and stale ones included.
 */

const BOT_TOKEN = 'xoxb-test-bot-token';
const SIGNING_SECRET = 'slack-signing-secret-for-the-test';
let dir = '';
let gw: GatewayProcess;
let slack: Server;
const calls: { method: string; auth: string | undefined; body: Record<string, Json> }[] = [];

function parseSlackBody(contentType: string | undefined, text: string): Record<string, Json> {
  if (contentType?.includes('application/json')) return JSON.parse(text) as Record<string, Json>;
  const form = Object.fromEntries(new URLSearchParams(text)) as Record<string, Json>;
  // the Web API client sends structured arguments (blocks) as JSON inside the form
  for (const key of ['blocks']) if (typeof form[key] === 'string') form[key] = JSON.parse(form[key] as string);
  return form;
}

function signed(body: string, timestamp = Math.floor(Date.now() / 1000), secret = SIGNING_SECRET): Record<string, string> {
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signature };
}

function interaction(user: string, action: 'countersign_approve' | 'countersign_deny', requestId: string, ts: string): string {
  const payload = {
    type: 'block_actions',
    user: { id: user, username: user.toLowerCase() },
    actions: [{ action_id: action, value: requestId, type: 'button' }],
    container: { type: 'message', message_ts: ts, channel_id: 'C0PAYMENTS' },
    channel: { id: 'C0PAYMENTS' },
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}


async function until<T>(probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  // bounded: the stand-in answers at once
  for (let i = 0; i < 200; i++) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('not within 5 s');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-slack-'));
  let ts = 1000;
  slack = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const method = (req.url ?? '').replace(/^\/api\//, '');
      calls.push({ method, auth: req.headers.authorization, body: parseSlackBody(req.headers['content-type'], text) });
      res.writeHead(200, { 'content-type': 'application/json' });
      const authorized = req.headers.authorization === `Bearer ${BOT_TOKEN}`;
      res.end(JSON.stringify(authorized ? { ok: true, channel: 'C0PAYMENTS', ts: `1700000000.${String(++ts).padStart(6, '0')}` } : { ok: false, error: 'invalid_auth' }));
    });
  });
  await new Promise<void>((resolve) => slack.listen(0, '127.0.0.1', resolve));
  const path = writeTestPolicy(dir);
  const policy = parseYaml(readFileSync(path, 'utf8')) as Record<string, Json>;
  policy['surfaces'].push({ id: 'slack', description: 'approve and deny buttons in Slack' });
  const medium = policy['risk_classes'].find((c: { id: string }) => c.id === 'medium');
  medium.approval.surfaces.push('slack');
  policy['identities'] = [
    { issuer: 'https://slack.com', subject: 'U0SAM', principal: 'sam' },
    { issuer: 'https://slack.com', subject: 'U0OLIVIA', principal: 'olivia' },
  ];
  policy['notifications'] = { slack: [{ id: 'payments', channel: 'C0PAYMENTS', token_env: 'SLACK_BOT_TOKEN', signing_secret_env: 'SLACK_SIGNING_SECRET' }] };
  writeFileSync(path, stringifyYaml(policy));
  gw = await startGatewayProcess({
    policy: path,
    dir,
    env: { SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, COUNTERSIGN_SLACK_API_URL: `http://127.0.0.1:${(slack.address() as AddressInfo).port}/api/` },
  });
}, 60_000);

afterAll(async () => {
  expect(await gw?.stop()).toBe(0);
  await new Promise((resolve) => slack?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('Slack', () => {
  it('posts the request with its context, console link and buttons; a verified click decides it under every rule, and the message shows the outcome', async () => {
    const agent = await gw.token('payments-copilot', 'copilot-console');
    const proposed = await call(gw.url, 'POST', '/v1/proposals', agent, {
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      steps: [{ action: 'comms.send_status_update', environment: 'prod', target: 'customers', params: { channel: 'statuspage', message: 'degraded' }, expected_consequence: 'customers read this message' }],
    });
    expect(proposed.status).toBe(201);
    const requestId = proposed.body['steps'][0]['request'] as string;

    const posted = await until(() => calls.find((c) => c.method === 'chat.postMessage'));
    expect(posted.auth).toBe(`Bearer ${BOT_TOKEN}`);
    expect(posted.body['channel']).toBe('C0PAYMENTS');
    const blocks = JSON.stringify(posted.body['blocks']);
    for (const shown of ['comms.send_status_update', 'customers read this message', 'payments-copilot on behalf of olivia, from copilot-console', requestId, `${gw.url}/console/requests/${requestId}`]) {
      expect(blocks).toContain(shown);
    }
    const buttons = (posted.body['blocks'] as { type: string; elements?: { action_id: string; value?: string }[] }[]).find((b) => b.type === 'actions')!.elements!;
    expect(buttons.filter((b) => b.value === requestId).map((b) => b.action_id)).toEqual(['countersign_approve', 'countersign_deny']);
    // recorded once Slack's answer is back: the stand-in saw the call before the gateway had that answer
    const ts = await until(async () => (await ledgerEntries(gw)).find((e) => e.type === 'notification.delivered' && e.payload['webhook'] === 'payments')?.payload['delivery'] as string | undefined);
    expect(ts).toMatch(/^1700000000\./);

    const before = (await ledgerEntries(gw)).length;
    // forged and stale requests are turned away before anything is read, and nothing is recorded
    const forgedBody = interaction('U0SAM', 'countersign_approve', requestId, ts);
    const forged = await fetch(`${gw.url}/v1/slack/interactions`, { method: 'POST', headers: signed(forgedBody, undefined, 'not-the-secret'), body: forgedBody });
    expect([forged.status, ((await forged.json()) as Json).error.code]).toEqual([401, 'SLACK_SIGNATURE_INVALID']);
    const stale = await fetch(`${gw.url}/v1/slack/interactions`, { method: 'POST', headers: signed(forgedBody, Math.floor(Date.now() / 1000) - 600), body: forgedBody });
    expect([stale.status, ((await stale.json()) as Json).error.code]).toEqual([401, 'SLACK_SIGNATURE_STALE']);
    const tampered = await fetch(`${gw.url}/v1/slack/interactions`, { method: 'POST', headers: signed(forgedBody), body: interaction('U0SAM', 'countersign_approve', `${requestId}x`, ts) });
    expect(tampered.status).toBe(401);
    expect((await ledgerEntries(gw)).length).toBe(before);

    // Olivia asked for it: her click is refused with its code, recorded, and told to her alone
    const selfBody = interaction('U0OLIVIA', 'countersign_approve', requestId, ts);
    expect((await fetch(`${gw.url}/v1/slack/interactions`, { method: 'POST', headers: signed(selfBody), body: selfBody })).status).toBe(200);
    const told = await until(() => calls.find((c) => c.method === 'chat.postEphemeral'));
    expect(told.body).toMatchObject({ channel: 'C0PAYMENTS', user: 'U0OLIVIA' });
    expect(String(told.body['text'])).toContain('SELF_APPROVAL');
    expect((await ledgerEntries(gw)).some((e) => e.type === 'approval.rejected' && JSON.stringify(e.payload).includes('SELF_APPROVAL'))).toBe(true);
    expect((await call(gw.url, 'GET', `/v1/requests/${requestId}`, agent)).body['status']).toBe('open');

    // Sam is independent: his click approves, from the slack surface, and the message shows it
    const waiting = call(gw.url, 'GET', `/v1/requests/${requestId}?wait=20s`, agent);
    const samBody = interaction('U0SAM', 'countersign_approve', requestId, ts);
    expect((await fetch(`${gw.url}/v1/slack/interactions`, { method: 'POST', headers: signed(samBody), body: samBody })).status).toBe(200);
    const answer = await waiting;
    expect(answer.body['status']).toBe('approved');
    expect(answer.body['approvals']).toEqual([expect.objectContaining({ approver: 'sam', surface: 'slack', attestation: 'gateway' })]);
    const updated = await until(() => calls.find((c) => c.method === 'chat.update' && c.body['ts'] === ts));
    expect(JSON.stringify(updated.body['blocks'])).toContain('approved by sam');
    expect(JSON.stringify(updated.body['blocks'])).not.toContain('countersign_approve');
  }, 30_000);
});
