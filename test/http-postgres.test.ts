import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTestSchema, reachableTestPostgres, testSchemaName } from '../packages/gateway/src/store/pg-test-url.js';
import { call, exampleGolden, signedApproval, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';
import { httpSuite, writeTestPolicy } from './helpers/http-suite.js';

// End to end over PostgreSQL (fails in CI when the server is unreachable): build first.
const url = await reachableTestPostgres();

if (url !== null) {
  httpSuite('postgres', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'countersign-http-pg-'));
    const schema = testSchemaName('cs_http');
    return {
      dir,
      start: (policy, args) => startGatewayProcess({ policy, dir, postgres: { url, schema }, ...(args ? { args } : {}) }),
      cleanup: async () => {
        await dropTestSchema(url, schema);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}

describe.skipIf(url === null)('two gateway processes on one PostgreSQL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-race-'));
  const schema = testSchemaName('cs_race');
  let a: GatewayProcess;
  let b: GatewayProcess;

  beforeAll(async () => {
    const policy = writeTestPolicy(dir);
    a = await startGatewayProcess({ policy, dir, postgres: { url: url!, schema } });
    // the same gateway key: either replica verifies the grants the other signed; B relies on
    // LISTEN/NOTIFY alone (no slow re-read while clients wait), so what it sees the follower brought
    b = await startGatewayProcess({ policy, dir, postgres: { url: url!, schema }, key: a.keyPath, args: ['--replica-refresh', 'off'] });
  }, 60_000);

  afterAll(async () => {
    expect(await a?.stop()).toBe(0);
    expect(await b?.stop()).toBe(0);
    await dropTestSchema(url!, schema);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('consume the same grant at once: exactly one succeeds, the other gets GRANT_USED', async () => {
    const token = await a.token('payments-copilot', 'copilot-console');
    const step = { action: 'queue.snapshot_shard', environment: 'prod', target: 'payments-queue/shard-7', params: {} };
    const steps = Array.from({ length: 10 }, () => step);
    const proposed = await call(a.url, 'POST', '/v1/proposals', token, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps });
    expect(proposed.status, JSON.stringify(proposed.body)).toBe(201);
    const grants = (proposed.body['steps'] as { grant: string }[]).map((s) => s.grant);
    expect(grants.every((g) => typeof g === 'string')).toBe(true);
    const races = await Promise.all(
      grants.map((grant) => Promise.all([a, b].map((gw) => call(gw.url, 'POST', '/v1/executions', token, { grant })))),
    );
    for (const pair of races) {
      const statuses = pair.map((r) => r.status).sort();
      expect(statuses).toEqual([201, 409]);
      expect(pair.find((r) => r.status === 409)?.body['error']['code']).toBe('GRANT_USED');
    }
    // both replicas agree on one chain: the ledger head is the same seen from either, once each has followed
    // the other's last commits (a replica learns them through LISTEN/NOTIFY, after the answers above): bounded
    const priyaA = await a.token('priya', 'approver-console');
    const heads = async () => Promise.all([call(a.url, 'GET', '/v1/ledger/head', priyaA), call(b.url, 'GET', '/v1/ledger/head', priyaA)]);
    let [headA, headB] = await heads();
    for (let i = 0; i < 100 && headA.body['size'] !== headB.body['size']; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      [headA, headB] = await heads();
    }
    expect(headA.body['size']).toBe(headB.body['size']);
  });

  it('B answers GET, a long poll and an event stream for a request proposed on A, without writing anything itself', async () => {
    const agent = await a.token('payments-copilot', 'copilot-console');
    const priya = await a.token('priya', 'approver-console');
    const headB = async (): Promise<number> => (await call(b.url, 'GET', '/v1/ledger/head', priya)).body['size'] as number;
    const proposed = await call(a.url, 'POST', '/v1/proposals', agent, {
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      steps: [{ action: 'comms.send_status_update', environment: 'prod', target: 'customers', params: { channel: 'statuspage', message: 'degraded' } }],
    });
    expect(proposed.status, JSON.stringify(proposed.body)).toBe(201);
    const requestId = (proposed.body['steps'] as { request: string }[])[0]!.request;
    // bounded: the follower applies A's commit when PostgreSQL delivers the notification
    let seen = await call(b.url, 'GET', `/v1/requests/${requestId}`, agent);
    for (let i = 0; i < 250 && seen.status === 404; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      seen = await call(b.url, 'GET', `/v1/requests/${requestId}`, agent);
    }
    expect(seen.status, JSON.stringify(seen.body)).toBe(200);
    expect(seen.body['status']).toBe('open');
    const before = await headB();

    // B's long poll and B's event stream, answered by an approval made through A
    const polled = call(b.url, 'GET', `/v1/requests/${requestId}?wait=20s`, agent);
    const controller = new AbortController();
    const stream = await fetch(`${b.url}/v1/requests/${requestId}/events`, { headers: { authorization: `Bearer ${agent}` }, signal: controller.signal });
    expect(stream.status).toBe(200);
    const events = (async (): Promise<string> => {
      const reader = stream.body!.getReader();
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += Buffer.from(value).toString('utf8');
        if (text.includes('approved')) return text;
      }
    })();
    const approved = await call(a.url, 'POST', `/v1/requests/${requestId}/approvals`, await a.token('sam', 'signed-cli'), signedApproval(seen.body as never, 'sam', 'signed-cli'));
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const answer = await polled;
    expect(answer.body['status']).toBe('approved');
    expect(await events).toContain('approved');
    controller.abort();
    // B wrote nothing of its own: every entry it now knows, A committed
    const headA = (await call(a.url, 'GET', '/v1/ledger/head', priya)).body['size'] as number;
    expect(await headB()).toBe(headA);
    expect(headA).toBeGreaterThan(before);
  });

  it('a release activated on A is the bundle in force on B, from the text in the ledger, without a restart', async () => {
    const priya = await a.token('priya', 'approver-console');
    const before = (await call(b.url, 'GET', '/v1/policy', priya)).body['bundle_id'] as string;
    const yaml = readFileSync(join(dir, 'policy.yaml'), 'utf8').replace(/^description: .*$/m, 'description: released on replica A');
    const proposed = await call(a.url, 'POST', '/v1/releases', priya, { policy: yaml, golden: exampleGolden() });
    expect(proposed.status, JSON.stringify(proposed.body)).toBe(201);
    const release = proposed.body;
    const tokens = { fatima: await a.token('fatima', 'signed-cli'), sam: await a.token('sam', 'signed-cli') };
    let activatedAt = 0;
    for (const signer of ['fatima', 'sam'] as const) {
      const signed = await call(a.url, 'POST', `/v1/releases/${release['id']}/signatures`, tokens[signer], signedApproval({ id: release['id'], digest: release['release_digest'], bundle_id: before }, signer, 'signed-cli'));
      expect(signed.status, JSON.stringify(signed.body)).toBe(200);
      activatedAt = Date.now();
    }
    // issue 13: B runs the bundle activated on A within a second, without a restart
    let onB = (await call(b.url, 'GET', '/v1/policy', priya)).body['bundle_id'];
    while (onB !== release['candidate'] && Date.now() - activatedAt < 1_000) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      onB = (await call(b.url, 'GET', '/v1/policy', priya)).body['bundle_id'];
    }
    expect(onB, `replica B still runs ${String(onB)} ${Date.now() - activatedAt} ms after the activation`).toBe(release['candidate']);
    // and B decides under it: a proposal through B is recorded under the released bundle
    const agent = await b.token('payments-copilot', 'copilot-console');
    const decided = await call(b.url, 'POST', '/v1/proposals', agent, {
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      steps: [{ action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} }],
    });
    expect(decided.status, JSON.stringify(decided.body)).toBe(201);
    expect(decided.body['bundle_id']).toBe(release['candidate']);
    expect((await call(b.url, 'GET', '/readyz', null)).status).toBe(200);
  });

  it('a long poll on one replica sees an approval made through the other', async () => {
    const agent = await a.token('payments-copilot', 'copilot-console');
    const proposed = await call(a.url, 'POST', '/v1/proposals', agent, {
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      steps: [{ action: 'comms.send_status_update', environment: 'prod', target: 'customers', params: { channel: 'statuspage', message: 'investigating' } }],
    });
    const requestId = (proposed.body['steps'] as { request: string }[])[0]!.request;
    const view = (await call(a.url, 'GET', `/v1/requests/${requestId}`, agent)).body;
    const polled = call(a.url, 'GET', `/v1/requests/${requestId}?wait=20s`, agent);
    const approved = await call(b.url, 'POST', `/v1/requests/${requestId}/approvals`, await b.token('sam', 'signed-cli'), signedApproval(view as never, 'sam', 'signed-cli'));
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    const answer = await polled;
    expect(answer.body['status']).toBe('approved');
    expect(typeof answer.body['grant']).toBe('string');
  });
});
