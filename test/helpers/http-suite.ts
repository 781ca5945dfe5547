import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { parseOverrideBody } from '@countersign/core';
import { openCredentialStore } from '../../packages/gateway/src/auth/credential-store.js';
import { revokeCredential } from '../../packages/gateway/src/auth/credentials.js';
import { restartOverrideAt } from '../scenario/override-draft.js';
import { call, CLI, type Json, EVIDENCE, EXAMPLE_POLICY, exampleGolden, fixtureKeyFile, overrideSignature, signedApproval, type GatewayProcess } from './gateway-process.js';

/**
 * The end-to-end suite of issue 5, run against the real server process over
 * raw HTTP (and the CLI where it has a command), once per store: the
 * reference incident, every authority rejection with its code, agent tokens
 * reaching for authority, surfaces crossed, replayed grants, bad bodies.
 */

/**
 * The example payments bundle plus what some codes need to be reachable over
 * HTTP: a `service` principal (non-human, but not refused by the auth layer's
 * agent check, so the core's AGENT_CANNOT_APPROVE answers), a `brief` risk
 * class whose approvals and grants lapse within a second (REQUEST_EXPIRED
 * without a fake clock), and a `lapsing-grant` class whose request stays open
 * for an hour but whose grant lapses within a second (GRANT_EXPIRED without a
 * fake clock, and without racing the request's own expiry to approve it).
 */
export function writeTestPolicy(dir: string): string {
  const doc = parseYaml(readFileSync(EXAMPLE_POLICY, 'utf8')) as Record<string, Json>;
  doc['principals'].push({ id: 'alert-relay', kind: 'service', display_name: 'Alert relay', roles: ['sre'] });
  doc['principals'].push({ id: 'ops-copilot', kind: 'agent', display_name: 'A second copilot' });
  doc['risk_classes'].push({
    id: 'brief',
    description: 'lapses at once: for expiry tests',
    effect: 'require_approval',
    approval: { quorum: [{ roles: ['sre', 'incident-lead'], count: 1 }], surfaces: ['approver-console', 'signed-cli'], attestation: 'any', approval_ttl: '1s', grant_ttl: '1s' },
  });
  doc['risk_classes'].push({
    id: 'lapsing-grant',
    description: 'the grant lapses at once: for grant expiry tests',
    effect: 'require_approval',
    approval: { quorum: [{ roles: ['sre', 'incident-lead'], count: 1 }], surfaces: ['approver-console', 'signed-cli'], attestation: 'any', approval_ttl: '1h', grant_ttl: '1s' },
  });
  doc['actions'].push({ id: 'cache.flush', description: 'flush a cache', class: 'write', risk: { dev: 'low', staging: 'brief', prod: 'brief' } });
  doc['actions'].push({ id: 'cache.warm', description: 'warm a cache', class: 'write', risk: { dev: 'low', staging: 'lapsing-grant', prod: 'lapsing-grant' } });
  const path = join(dir, 'policy.yaml');
  writeFileSync(path, stringifyYaml(doc));
  return path;
}

const restartStep = { action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling' }, rationale: 'workers stuck', expected_consequence: 'in-flight jobs are retried' };
const clearStep = { action: 'queue.clear_shard', environment: 'prod', target: 'payments-queue/shard-7', params: {}, expected_consequence: 'messages in the shard are deleted' };
const snapshotStep = { action: 'queue.snapshot_shard', environment: 'prod', target: 'payments-queue/shard-7', params: {} };
const diagnostics = [
  { action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} },
  { action: 'metrics.query', environment: 'prod', target: 'payments-worker', params: {} },
  { action: 'deploy.status', environment: 'prod', target: 'payments-worker', params: {} },
  { action: 'runbook.fetch', environment: 'prod', target: 'payments-worker', params: {} },
];
const INCIDENT = 'inc-payments-0912';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: readonly string[], env: Record<string, string>, cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end();
  });
}

export interface SuiteSetup {
  readonly dir: string;
  /** Start a gateway on this suite's store with `policy`. */
  start(policy: string, args?: readonly string[]): Promise<GatewayProcess>;
  cleanup(): Promise<void>;
}

export function httpSuite(label: string, setup: () => Promise<SuiteSetup>): void {
  describe(`HTTP API end to end (${label})`, () => {
    let suite: SuiteSetup;
    let gw: GatewayProcess;
    let policyPath: string;
    const tokens: Record<string, string> = {};
    const issued: string[] = [];
    const tok = async (principal: string, surface: string): Promise<string> => {
      const key = `${principal}@${surface}`;
      tokens[key] ??= await gw.token(principal, surface);
      issued.push(tokens[key]);
      return tokens[key];
    };
    const agent = (): Promise<string> => tok('payments-copilot', 'copilot-console');
    const size = async (): Promise<number> => (await call<{ size: number }>(gw.url, 'GET', '/v1/ledger/head', await tok('priya', 'approver-console'))).body.size;

    const propose = async (steps: unknown[], over: Record<string, unknown> = {}): Promise<Record<string, Json>> => {
      const res = await call(gw.url, 'POST', '/v1/proposals', await agent(), { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps, ...over });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      return res.body;
    };
    const request = async (id: string, token?: string): Promise<Record<string, Json>> => (await call(gw.url, 'GET', `/v1/requests/${id}`, token ?? (await agent()))).body;
    const execute = async (grant: string): Promise<string> => {
      const res = await call(gw.url, 'POST', '/v1/executions', await agent(), { grant });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      const outcome = await call(gw.url, 'POST', `/v1/executions/${res.body['execution']}/outcome`, await agent(), { outcome: 'succeeded' });
      expect(outcome.status).toBe(200);
      return res.body['execution'] as string;
    };
    const approve = async (requestId: string, approver: string, surface: string, over: Record<string, unknown> = {}, signer?: string) => {
      const view = await request(requestId);
      return call(gw.url, 'POST', `/v1/requests/${requestId}/approvals`, await tok(approver, surface), signedApproval(view as never, approver, surface, over, signer));
    };
    /** A refusal: its status and code, and the refusal is in the ledger (it grew). */
    const refused = async (attempt: () => Promise<{ status: number; body: Record<string, Json> }>, status: number, code: string): Promise<Record<string, Json>> => {
      const before = await size();
      const res = await attempt();
      expect(res.body['error']?.['code'], JSON.stringify(res.body)).toBe(code);
      expect(res.status).toBe(status);
      expect(await size()).toBeGreaterThan(before);
      return res.body;
    };

    beforeAll(async () => {
      suite = await setup();
      policyPath = writeTestPolicy(suite.dir);
      gw = await suite.start(policyPath, ['--expire-every', '1h']);
    }, 60_000);

    afterAll(async () => {
      const code = await gw?.stop();
      const log = gw?.output() ?? '';
      await suite?.cleanup();
      // structured logs, never a token or key
      expect(issued.length).toBeGreaterThan(0);
      for (const token of issued) expect(log.includes(token), 'a token reached the log').toBe(false);
      expect(log).not.toContain('PRIVATE KEY');
      expect(code).toBe(0);
    }, 60_000);

    it('answers health, readiness and an OpenAPI 3.1 document where every /v1 operation needs a bearer token', async () => {
      expect((await call(gw.url, 'GET', '/healthz', null)).body).toEqual({ status: 'ok' });
      const ready = await call(gw.url, 'GET', '/readyz', null);
      expect(ready.status).toBe(200);
      expect(ready.body['bundle_id']).toMatch(/^sha256:/);
      const doc = (await call(gw.url, 'GET', '/openapi.json', null)).body;
      expect(doc['openapi']).toBe('3.1.0');
      const operations = Object.entries(doc['paths'] as Record<string, Record<string, Json>>).filter(([path]) => path.startsWith('/v1/'));
      expect(operations.length).toBeGreaterThanOrEqual(24);
      for (const [path, methods] of operations) {
        for (const [method, op] of Object.entries(methods)) {
          expect(op.security, `${method} ${path}`).toEqual([{ bearer: [] }]);
          const url = path.replace(/\{[a-z]+\}/g, '1');
          const res = await call(gw.url, method.toUpperCase() as 'GET' | 'POST', url, null, method === 'post' ? {} : undefined);
          expect([res.status, res.body['error']?.['code']], `${method} ${path}`).toEqual([401, 'TOKEN_MISSING']);
        }
      }
      const metrics = await fetch(`${gw.url}/metrics`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toContain('# TYPE');
    });

    it('plays the reference incident under the example policy: each failure stopped with its code', async () => {
      // 09:14 read-only diagnostics are allowed and granted at once
      const diag = await propose(diagnostics, { incident: INCIDENT });
      expect(diag['steps'].map((s: Json) => s.effect)).toEqual(['allow', 'allow', 'allow', 'allow']);
      for (const s of diag['steps']) await execute(s.grant);

      // 09:16 the two bundled risks are decided one by one
      const plan = await propose([restartStep, clearStep], { incident: INCIDENT });
      const [restart, clear] = plan['steps'];
      expect(restart.effect).toBe('require_approval');
      expect(clear.effect).toBe('deny');
      expect(clear.reasons).toContain('PREREQUISITE_MISSING');
      expect(clear.grant).toBeNull();

      // 09:17 the operator cannot be the second key, nor override from her own console
      await refused(() => approve(restart.request, 'olivia', 'approver-console'), 403, 'SELF_APPROVAL');
      const overrideAsked = await call(gw.url, 'POST', '/v1/overrides', await tok('olivia', 'copilot-console'), {
        hold: null,
        step_digests: [restart.digest],
        trip_gate_ack: null,
        valid_from: new Date().toISOString(),
        valid_to: new Date(Date.now() + 3_600_000).toISOString(),
        scope: { environments: ['prod'], actions: ['workers.restart_pool', 'queue.clear_shard'], targets: ['payments-worker', 'payments-queue/shard-7'] },
        reason_code: 'APPROVER_UNAVAILABLE',
        reason_text: 'second approver unavailable, backlog rising',
        rollback_artifact: 'none',
      });
      expect(overrideAsked.status, JSON.stringify(overrideAsked.body)).toBe(201);
      const body = parseOverrideBody(overrideAsked.body['body']);
      const sameConsole = await refused(
        async () =>
          call(gw.url, 'POST', `/v1/overrides/${overrideAsked.body['id']}/submit`, await tok('olivia', 'copilot-console'), {
            signatures: [overrideSignature(body, 'a', 'olivia', 'copilot-console'), overrideSignature(body, 'b', 'omar', 'copilot-console')],
          }),
        403,
        'O1_IDENTITY_COLLISION',
      );
      expect(sameConsole['error']['details']['codes']).toEqual(expect.arrayContaining(['O1_IDENTITY_COLLISION', 'O4_MISSING_ROLLBACK']));

      // the SRE trips K1 over destructive steps in prod; diagnostics keep working
      const hold = await call(gw.url, 'POST', '/v1/holds', await tok('sam', 'signed-cli'), {
        trip_gate: 'K1',
        scope: { environments: ['prod'], classes: ['destructive'] },
        evidence_hash: EVIDENCE,
        incident: INCIDENT,
        reason: 'queue clear would destroy the evidence',
      });
      expect(hold.status, JSON.stringify(hold.body)).toBe(201);
      expect((await propose(diagnostics, { incident: INCIDENT }))['steps'].map((s: Json) => s.effect)).toEqual(['allow', 'allow', 'allow', 'allow']);

      // 09:18 the restart's rollback is registered first, as its contract demands
      const rollback = await call(gw.url, 'POST', '/v1/rollbacks', await tok('olivia', 'approver-console'), { step: restart.step, action: 'workers.rollback_pool', target: 'payments-worker' });
      expect(rollback.status, JSON.stringify(rollback.body)).toBe(201);
      expect(rollback.body['grant']).toBeNull();

      // 09:19 an independent incident lead approves from the signed CLI, through the CLI itself
      const dir = suite.dir;
      const approved = await cli(
        ['approve', restart.request, '--key', fixtureKeyFile(dir, 'leo'), '--policy', policyPath, '--yes', '--json'],
        { COUNTERSIGN_SERVER: gw.url, COUNTERSIGN_TOKEN: await tok('leo', 'signed-cli') },
        dir,
      );
      expect(approved.code, approved.stderr).toBe(0);
      expect(JSON.parse(approved.stdout).result.status).toBe('approved');
      // the agent, waiting, gets its grant; the approver never saw it
      expect(JSON.parse(approved.stdout).result.grant).toBeNull();
      const waited = await call(gw.url, 'GET', `/v1/requests/${restart.request}?wait=5s`, await agent());
      expect(waited.body['status']).toBe('approved');
      expect(waited.body['grant']).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const executed = await cli(['execute', waited.body['grant'], '--json'], { COUNTERSIGN_SERVER: gw.url, COUNTERSIGN_TOKEN: await agent() }, dir);
      expect(executed.code, executed.stderr).toBe(0);
      const execution = JSON.parse(executed.stdout).execution as string;
      expect((await call(gw.url, 'POST', `/v1/executions/${execution}/outcome`, await agent(), { outcome: 'failed', detail: 'backlog did not drain' })).status).toBe(200);

      // 09:21 the clear is held; the snapshot, which changes nothing, runs first
      const held = (await propose([clearStep], { incident: INCIDENT }))['steps'][0];
      expect([held.effect, held.reasons]).toEqual(['held', ['HOLD_ACTIVE']]);
      const snapshot = (await propose([snapshotStep], { incident: INCIDENT }))['steps'][0];
      await execute(snapshot.grant);

      // 09:23 the payments owner lifts the hold; the clear needs its own two keys
      const lifted = await call(gw.url, 'POST', `/v1/holds/${hold.body['hold']}/lift`, await tok('priya', 'approver-console'), { reason: 'shard snapshot preserved' });
      expect(lifted.status, JSON.stringify(lifted.body)).toBe(200);
      const clearAgain = (await propose([clearStep], { incident: INCIDENT }))['steps'][0];
      expect(clearAgain.effect).toBe('require_approval');
      const first = await approve(clearAgain.request, 'leo', 'signed-cli');
      expect([first.status, first.body['status'], first.body['quorum_met']]).toEqual([200, 'open', false]);
      const second = await approve(clearAgain.request, 'fatima', 'signed-cli');
      expect([second.status, second.body['status']]).toEqual([200, 'approved']);
      const clearGrant = (await request(clearAgain.request))['grant'];
      await execute(clearGrant);

      // the trace of the incident shows every moment, refusals included
      const trace = await call(gw.url, 'GET', `/v1/trace/${INCIDENT}`, await tok('priya', 'approver-console'));
      expect(trace.status).toBe(200);
      const types = new Set((trace.body['lines'] as { type: string }[]).map((l) => l.type));
      for (const type of ['approval.rejected', 'override.denied', 'hold.opened', 'hold.lifted', 'grant.consumed', 'execution.outcome']) expect(types, type).toContain(type);
    });

    describe('every approval rejection over HTTP, with its code and recorded', () => {
      const openRequest = async (step: Record<string, unknown> = restartStep, over: Record<string, unknown> = {}): Promise<Record<string, Json>> => {
        const s = (await propose([step], over))['steps'][0];
        expect(s.effect).toBe('require_approval');
        return request(s.request);
      };
      const cases: [string, number, () => Promise<{ status: number; body: Record<string, Json> }>][] = [
        ['SELF_APPROVAL', 403, async () => approve((await openRequest())['id'], 'olivia', 'approver-console')],
        ['REPORTS_TO_REQUESTER', 403, async () => approve((await openRequest(restartStep, { on_behalf_of: 'priya' }))['id'], 'lena', 'signed-cli')],
        ['SURFACE_NOT_ALLOWED', 403, async () => approve((await openRequest())['id'], 'leo', 'copilot-console')],
        ['ROLE_NOT_ELIGIBLE', 403, async () => approve((await openRequest())['id'], 'sam', 'signed-cli')],
        ['BAD_SIGNATURE', 403, async () => approve((await openRequest())['id'], 'leo', 'signed-cli', {}, 'fatima')],
        ['STATEMENT_MISMATCH', 403, async () => {
          // the token says signed-cli; the statement claims another surface
          const r = await openRequest();
          return call(gw.url, 'POST', `/v1/requests/${r['id']}/approvals`, await tok('leo', 'signed-cli'), signedApproval(r as never, 'leo', 'approver-console'));
        }],
        ['AGENT_CANNOT_APPROVE', 403, async () => approve((await openRequest(restartStep))['id'], 'alert-relay', 'signed-cli', {}, 'sam')],
        ['DIGEST_MISMATCH', 422, async () => approve((await openRequest())['id'], 'leo', 'signed-cli', { step_digest: `sha256:${'0'.repeat(64)}` })],
        ['BUNDLE_CHANGED', 409, async () => approve((await openRequest())['id'], 'leo', 'signed-cli', { bundle_id: `sha256:${'1'.repeat(64)}` })],
        ['REQUEST_CLOSED', 409, async () => {
          const r = await openRequest();
          expect((await approve(r['id'], 'leo', 'signed-cli')).status).toBe(200);
          return approve(r['id'], 'priya', 'approver-console');
        }],
        ['DUPLICATE_APPROVER', 403, async () => {
          const snap = (await propose([snapshotStep]))['steps'][0];
          await execute(snap.grant);
          const r = await openRequest(clearStep);
          expect((await approve(r['id'], 'leo', 'signed-cli')).status).toBe(200);
          return approve(r['id'], 'leo', 'signed-cli');
        }],
        ['ATTESTATION_REQUIRED', 403, async () => {
          const snap = (await propose([snapshotStep]))['steps'][0];
          await execute(snap.grant);
          const r = await openRequest(clearStep);
          const body = signedApproval(r as never, 'leo', 'approver-console');
          return call(gw.url, 'POST', `/v1/requests/${r['id']}/approvals`, await tok('leo', 'approver-console'), { statement: body['statement'], attestation: { kind: 'gateway' } });
        }],
        ['REQUEST_EXPIRED', 409, async () => {
          const r = await openRequest({ action: 'cache.flush', environment: 'prod', target: 'payments-cache', params: {} });
          await new Promise((resolve) => setTimeout(resolve, 1_300));
          return approve(r['id'], 'sam', 'signed-cli');
        }],
      ];
      for (const [code, status, attempt] of cases) {
        it(code, async () => {
          await refused(attempt, status, code);
        });
      }
    });

    describe('every execution rejection over HTTP', () => {
      const snapshotGrant = async (): Promise<string> => (await propose([snapshotStep]))['steps'][0].grant as string;
      it('GRANT_USED: a replayed grant is refused, the first consumption stands', async () => {
        const grant = await snapshotGrant();
        await execute(grant);
        await refused(async () => call(gw.url, 'POST', '/v1/executions', await agent(), { grant }), 409, 'GRANT_USED');
      });
      it('DIGEST_MISMATCH: the step presented is not the step granted', async () => {
        const grant = await snapshotGrant();
        await refused(async () => call(gw.url, 'POST', '/v1/executions', await agent(), { grant, step: { ...snapshotStep, target: 'payments-queue/shard-8' } }), 422, 'DIGEST_MISMATCH');
      });
      it('BAD_SIGNATURE: a grant not signed by the gateway key', async () => {
        const grant = await snapshotGrant();
        const forged = `${grant.slice(0, -4)}${grant.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
        await refused(async () => call(gw.url, 'POST', '/v1/executions', await agent(), { grant: forged }), 403, 'BAD_SIGNATURE');
      });
      it('HOLD_ACTIVE: a hold opened after the grant suspends it', async () => {
        const grant = await snapshotGrant();
        const hold = await call(gw.url, 'POST', '/v1/holds', await tok('sam', 'signed-cli'), { trip_gate: 'K3', scope: { actions: ['queue.snapshot_shard'] }, evidence_hash: EVIDENCE });
        expect(hold.status).toBe(201);
        await refused(async () => call(gw.url, 'POST', '/v1/executions', await agent(), { grant }), 409, 'HOLD_ACTIVE');
        expect((await call(gw.url, 'POST', `/v1/holds/${hold.body['hold']}/lift`, await tok('priya', 'approver-console'), { reason: 'drift explained' })).status).toBe(200);
      });
      it('GRANT_REVOKED: a halt revokes every grant in its scope, and lifting it does not bring them back', async () => {
        const grant = await snapshotGrant();
        const halt = await call(gw.url, 'POST', '/v1/halts', await tok('sam', 'signed-cli'), { scope: { kind: 'environment', environment: 'prod' }, reason: 'stop everything' });
        expect(halt.status, JSON.stringify(halt.body)).toBe(201);
        expect(halt.body['revoked_grants'].length).toBeGreaterThan(0);
        const lifted = await call(gw.url, 'POST', `/v1/halts/${halt.body['halt']}/lift`, await tok('leo', 'signed-cli'), { reason: 'understood' });
        expect(lifted.status, JSON.stringify(lifted.body)).toBe(200);
        await refused(async () => call(gw.url, 'POST', '/v1/executions', await agent(), { grant }), 409, 'GRANT_REVOKED');
      });
      it('GRANT_EXPIRED: a grant used after its expiry', async () => {
        // a request that stays open: approving a `brief` one raced its one-second expiry on a busy machine
        const s = (await propose([{ action: 'cache.warm', environment: 'prod', target: 'payments-cache', params: {} }]))['steps'][0];
        expect((await approve(s.request, 'sam', 'signed-cli')).status).toBe(200);
        const grant = (await request(s.request))['grant'] as string;
        expect(grant).toBeTruthy();
        await new Promise((resolve) => setTimeout(resolve, 2_100));
        await refused(async () => call(gw.url, 'POST', '/v1/executions', await agent(), { grant }), 409, 'GRANT_EXPIRED');
      });
      it('a retried one-call proposal does not resume onto an approved request whose grant has lapsed unused: it is proposed again', async () => {
        const body = { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [{ action: 'cache.warm', environment: 'prod', target: 'payments-cache-resume', params: {} }] };
        const first = await call(gw.url, 'POST', '/v1/proposals/execute?resume=true', await agent(), body);
        expect(first.status, JSON.stringify(first.body)).toBe(201);
        const asked = first.body['steps'][0]['request'] as string;
        expect((await approve(asked, 'sam', 'signed-cli')).status).toBe(200);
        expect((await request(asked))['grant']).toBeTruthy();
        // its grant lapses within a second, never presented: still `issued` in the state, but no longer usable
        await new Promise((resolve) => setTimeout(resolve, 2_100));
        const retried = await call(gw.url, 'POST', '/v1/proposals/execute?resume=true', await agent(), body);
        expect(retried.status, JSON.stringify(retried.body)).toBe(201);
        expect(retried.body['resumed']).toBeUndefined();
        expect(retried.body['steps'][0]['request']).toBeTruthy();
        expect(retried.body['steps'][0]['request']).not.toBe(asked);
      });
      it('PREREQUISITE_MISSING: a destructive step without its snapshot is denied with the code at decision time', async () => {
        const s = (await propose([{ ...clearStep, target: 'payments-queue/shard-9' }]))['steps'][0];
        expect([s.effect, s.grant]).toEqual(['deny', null]);
        expect(s.reasons).toContain('PREREQUISITE_MISSING');
      });
    });

    describe('override gates over HTTP', () => {
      let digest = '';
      let step = '';
      let artifact = '';
      let hold = '';
      const ask = async (over: Record<string, unknown> = {}) =>
        call(gw.url, 'POST', '/v1/overrides', await tok('olivia', 'approver-console'), { ...restartOverrideAt(Date.now(), hold, 'K2', digest, artifact), ...over });
      /** Request, then both signatures; the first refusal of the two, or the lease. */
      const attempt = async (over: Record<string, unknown> = {}, signers: [string, string] = ['leo', 'fatima']) => {
        const asked = await ask(over);
        if (asked.status !== 201) return asked;
        const body = parseOverrideBody(asked.body['body']);
        return call(gw.url, 'POST', `/v1/overrides/${asked.body['id']}/submit`, await tok('olivia', 'approver-console'), {
          signatures: [overrideSignature(body, 'a', signers[0], 'signed-cli'), overrideSignature(body, 'b', signers[1], 'signed-cli')],
        });
      };
      beforeAll(async () => {
        const s = (await propose([restartStep]))['steps'][0];
        digest = s.digest;
        step = s.step;
        const registered = await call(gw.url, 'POST', '/v1/rollbacks', await tok('olivia', 'approver-console'), { step, action: 'workers.rollback_pool', target: 'payments-worker' });
        expect(registered.status, JSON.stringify(registered.body)).toBe(201);
        artifact = registered.body['artifact'];
        const opened = await call(gw.url, 'POST', '/v1/holds', await tok('sam', 'signed-cli'), { trip_gate: 'K2', scope: { environments: ['prod'], actions: ['workers.restart_pool'] }, evidence_hash: EVIDENCE });
        expect(opened.status).toBe(201);
        hold = opened.body['hold'];
      });
      afterAll(async () => {
        await call(gw.url, 'POST', `/v1/holds/${hold}/lift`, await tok('priya', 'approver-console'), { reason: 'done' });
      });
      it('O2_SCOPE_CREEP: a wildcard in the scope', async () => {
        await refused(() => attempt({ scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['*'] } }), 422, 'O2_SCOPE_CREEP');
      });
      it('O4_MISSING_ROLLBACK: no ready rollback artifact', async () => {
        await refused(() => attempt({ rollback_artifact: 'artifact-none' }), 409, 'O4_MISSING_ROLLBACK');
      });
      it('O5_NOT_ELIGIBLE: signer B without a signer-B role', async () => {
        await refused(() => attempt({}, ['leo', 'sam']), 403, 'O5_NOT_ELIGIBLE');
      });
      it('O6_GATE_ACK_MISMATCH: the acknowledgement does not echo the hold', async () => {
        await refused(() => attempt({ trip_gate_ack: 'K1' }), 422, 'O6_GATE_ACK_MISMATCH');
      });
      it('O7_DURATION_EXCEEDED: a window longer than the policy allows', async () => {
        await refused(() => attempt({ valid_to: new Date(Date.now() + 5 * 3_600_000).toISOString() }), 422, 'O7_DURATION_EXCEEDED');
      });
      it('O1_IDENTITY_COLLISION: the requester signs', async () => {
        await refused(() => attempt({}, ['olivia', 'fatima']), 403, 'O1_IDENTITY_COLLISION');
      });
      it('O3_CLOCK_BREACH: a lease used before its window; a lease used inside it runs the step once; O8 once the budget is spent', async () => {
        const later = await attempt({ valid_from: new Date(Date.now() + 30 * 60_000).toISOString(), valid_to: new Date(Date.now() + 60 * 60_000).toISOString() });
        expect(later.status, JSON.stringify(later.body)).toBe(200);
        await refused(async () => call(gw.url, 'POST', `/v1/leases/${later.body['lease']}/executions`, await agent(), { step }), 403, 'O3_CLOCK_BREACH');
        const now = await attempt();
        expect(now.status, JSON.stringify(now.body)).toBe(200);
        const used = await call(gw.url, 'POST', `/v1/leases/${now.body['lease']}/executions`, await agent(), { step });
        expect(used.status, JSON.stringify(used.body)).toBe(201);
        await refused(async () => call(gw.url, 'POST', `/v1/leases/${now.body['lease']}/executions`, await agent(), { step }), 409, 'STEP_ALREADY_EXECUTED');
        // the prod budget (2 a week) is spent: a third needs the extra signer
        await refused(() => attempt(), 403, 'O8_BUDGET_EXHAUSTED');
      });
    });

    describe('a step runs at most once over HTTP (issue 17)', () => {
      it('grant live, hold opened, lease used, hold lifted: the grant is refused with STEP_ALREADY_EXECUTED and recorded', async () => {
        const s = (await propose([{ ...restartStep, target: 'ledger-worker' }]))['steps'][0];
        const registered = await call(gw.url, 'POST', '/v1/rollbacks', await tok('olivia', 'approver-console'), { step: s.step, action: 'workers.rollback_pool', target: 'ledger-worker' });
        expect(registered.status, JSON.stringify(registered.body)).toBe(201);
        expect((await approve(s.request, 'lena', 'approver-console')).status).toBe(200);
        const grant = (await request(s.request))['grant'] as string;
        expect(grant).toBeTruthy();
        const opened = await call(gw.url, 'POST', '/v1/holds', await tok('sam', 'signed-cli'), { trip_gate: 'K1', scope: { environments: ['prod'], targets: ['ledger-worker'] }, evidence_hash: EVIDENCE });
        expect(opened.status, JSON.stringify(opened.body)).toBe(201);
        const asked = await call(gw.url, 'POST', '/v1/overrides', await tok('olivia', 'approver-console'), {
          ...restartOverrideAt(Date.now(), opened.body['hold'], 'K1', s.digest, registered.body['artifact']),
          scope: { environments: ['prod'], actions: ['workers.restart_pool'], targets: ['ledger-worker'] },
        });
        expect(asked.status, JSON.stringify(asked.body)).toBe(201);
        const body = parseOverrideBody(asked.body['body']);
        // the prod budget is spent by the gate tests above: the payments owner signs as the extra signer
        const leased = await call(gw.url, 'POST', `/v1/overrides/${asked.body['id']}/submit`, await tok('olivia', 'approver-console'), {
          signatures: [overrideSignature(body, 'a', 'leo', 'signed-cli'), overrideSignature(body, 'b', 'fatima', 'signed-cli'), overrideSignature(body, 'extra', 'priya', 'signed-cli')],
        });
        expect(leased.status, JSON.stringify(leased.body)).toBe(200);
        const used = await call(gw.url, 'POST', `/v1/leases/${leased.body['lease']}/executions`, await agent(), { step: s.step });
        expect(used.status, JSON.stringify(used.body)).toBe(201);
        const lifted = await call(gw.url, 'POST', `/v1/holds/${opened.body['hold']}/lift`, await tok('priya', 'approver-console'), { reason: 'restart done under the lease' });
        expect(lifted.status, JSON.stringify(lifted.body)).toBe(200);
        await refused(async () => call(gw.url, 'POST', '/v1/executions', await agent(), { grant }), 409, 'STEP_ALREADY_EXECUTED');
      });
    });

    describe('credentials and rights', () => {
      it('an agent token trying to approve, hold, override, halt, roll back or activate gets 403 FORBIDDEN, recorded as authority.rejected', async () => {
        const attempts: [string, string, unknown][] = [
          ['POST', '/v1/requests/request-x/approvals', {}],
          ['POST', '/v1/holds', {}],
          ['POST', '/v1/holds/hold-x/lift', {}],
          ['POST', '/v1/overrides', {}],
          ['POST', '/v1/overrides/override-x/submit', {}],
          ['POST', '/v1/halts', {}],
          ['POST', '/v1/rollbacks/artifact-x/run', {}],
          ['POST', '/v1/bundles', { policy: 'x' }],
        ];
        for (const [method, path, body] of attempts) {
          const res = await refused(async () => call(gw.url, method as 'POST', path, await agent(), body), 403, 'FORBIDDEN');
          expect(res['error']['message'], path).toContain('agent');
        }
        const exported = await fetch(`${gw.url}/v1/ledger/export`, { headers: { authorization: `Bearer ${await tok('priya', 'approver-console')}` } });
        const recorded = (await exported.text())
          .split('\n')
          .filter((line) => line.includes('"type":"authority.rejected"') && line.includes('"code":"FORBIDDEN"') && line.includes('"actor":"payments-copilot"'));
        expect(recorded.length).toBeGreaterThanOrEqual(attempts.length);
      });
      it('401 with a code for a missing, malformed, unknown, expired or revoked token', async () => {
        const path = '/v1/proposals/proposal-x';
        expect((await call(gw.url, 'GET', path, null)).body['error']['code']).toBe('TOKEN_MISSING');
        expect((await call(gw.url, 'GET', path, 'not-a-token')).body['error']['code']).toBe('TOKEN_MALFORMED');
        expect((await call(gw.url, 'GET', path, `cst_abcdefghijklmnop_${'A'.repeat(43)}`)).body['error']['code']).toBe('TOKEN_UNKNOWN');
        const short = await gw.token('leo', 'signed-cli', 50);
        issued.push(short);
        await new Promise((resolve) => setTimeout(resolve, 120));
        const expired = await call(gw.url, 'GET', path, short);
        expect([expired.status, expired.body['error']['code']]).toEqual([401, 'TOKEN_EXPIRED']);
        const revoked = await gw.token('leo', 'signed-cli');
        issued.push(revoked);
        const credentials = await openCredentialStore(gw.store);
        await revokeCredential(credentials, revoked.split('_')[1]!, Date.now());
        await credentials.close();
        const res = await call(gw.url, 'GET', path, revoked);
        expect([res.status, res.body['error']['code']]).toEqual([401, 'TOKEN_REVOKED']);
      });
      it('the surface and principal are the token\'s: a proposal naming another agent or surface is refused and recorded', async () => {
        await refused(
          async () => call(gw.url, 'POST', '/v1/proposals', await agent(), { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'approver-console', steps: diagnostics }),
          403,
          'PROPOSER_MISMATCH',
        );
        await refused(
          async () => call(gw.url, 'POST', '/v1/proposals', await tok('leo', 'signed-cli'), { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'signed-cli', steps: diagnostics }),
          403,
          'PROPOSER_MISMATCH',
        );
      });
    });

    describe('bounded bodies', () => {
      it('oversized, malformed and invalid bodies get a 4xx code, never a 5xx, and nothing is written', async () => {
        const before = await size();
        const token = await agent();
        const big = { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [{ ...diagnostics[0], rationale: 'x'.repeat(300 * 1024) }] };
        const answers = [
          await call(gw.url, 'POST', '/v1/proposals', token, big),
          await call(gw.url, 'POST', '/v1/proposals', token, '{"agent":'),
          await call(gw.url, 'POST', '/v1/proposals', token, '[1,2,3]'),
          await call(gw.url, 'POST', '/v1/proposals', token, { agent: 'payments-copilot', steps: 'all of them' }),
          await call(gw.url, 'POST', '/v1/proposals', token, { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [] }),
          await call(gw.url, 'POST', '/v1/proposals', null, big),
          await call(gw.url, 'POST', '/v1/executions', token, { grant: 'x'.repeat(5_000) }),
          await call(gw.url, 'GET', '/v1/requests/request-x?wait=forever', token),
          await call(gw.url, 'GET', '/v1/ledger/proofs/-1', await tok('priya', 'approver-console')),
          await call(gw.url, 'POST', '/v1/bundles', await tok('priya', 'approver-console'), { policy: 'version: 1\nname: [' }),
        ];
        const seen = answers.map((a) => [a.status, a.body['error']?.['code']]);
        expect(seen).toEqual([
          [413, 'BODY_TOO_LARGE'],
          [400, 'BAD_REQUEST'],
          [400, 'VALIDATION_FAILED'],
          [400, 'VALIDATION_FAILED'],
          [400, 'VALIDATION_FAILED'],
          [401, 'TOKEN_MISSING'],
          [400, 'VALIDATION_FAILED'],
          [400, 'VALIDATION_FAILED'],
          [400, 'VALIDATION_FAILED'],
          [400, expect.stringMatching(/^POLICY_(PARSE_ERROR|INVALID)$/)],
        ]);
        expect(await size()).toBe(before);
      });
    });

    describe('listing requests', () => {
      it('pages through requests in the order they were opened; an agent sees only its own; an unknown cursor is refused', async () => {
        const first = (await propose([restartStep]))['steps'][0];
        const second = (await propose([restartStep]))['steps'][0];
        const other = await call(gw.url, 'POST', '/v1/proposals', await tok('ops-copilot', 'copilot-console'), {
          agent: 'ops-copilot',
          on_behalf_of: 'olivia',
          surface: 'copilot-console',
          steps: [clearStep],
        });
        expect(other.status, JSON.stringify(other.body)).toBe(201);
        const otherRequest = other.body['steps'][0]['request'] as string;
        const priya = await tok('priya', 'approver-console');

        // one at a time, by digest: every page holds one open request with it, and the two just opened come in order
        const seen: string[] = [];
        let cursor: string | null = null;
        for (let page = 0; page < 100; page++) {
          const query: string = `?digest=${first.digest}&limit=1${cursor === null ? '' : `&cursor=${cursor}`}`;
          const res = await call(gw.url, 'GET', `/v1/requests${query}`, priya);
          expect(res.status, JSON.stringify(res.body)).toBe(200);
          expect(res.body['requests'].length).toBeLessThanOrEqual(1);
          for (const r of res.body['requests']) expect([r.digest, r.status]).toEqual([first.digest, 'open']);
          seen.push(...res.body['requests'].map((r: { id: string }) => r.id));
          cursor = res.body['next_cursor'];
          if (cursor === null) break;
        }
        expect(seen.indexOf(first.request)).toBeGreaterThanOrEqual(0);
        expect(seen.indexOf(second.request)).toBeGreaterThan(seen.indexOf(first.request));
        expect(seen).not.toContain(otherRequest);

        // a cursor on a request decided since still pages on: the open ones opened after it
        expect((await approve(first.request, 'leo', 'signed-cli')).status).toBe(200);
        const after = await call(gw.url, 'GET', `/v1/requests?digest=${first.digest}&cursor=${first.request}&limit=200`, priya);
        expect(after.status, JSON.stringify(after.body)).toBe(200);
        const afterIds = after.body['requests'].map((r: { id: string }) => r.id);
        expect(afterIds).toContain(second.request);
        expect(afterIds).not.toContain(first.request);
        // and the open listing no longer holds it
        const open = await call(gw.url, 'GET', `/v1/requests?digest=${first.digest}&limit=200`, priya);
        expect(open.body['requests'].map((r: { id: string }) => r.id)).not.toContain(first.request);
        // every status after the approved one: the open one opened after it, and nothing before
        const anyStatus = await call(gw.url, 'GET', `/v1/requests?status=open,approved&digest=${first.digest}&cursor=${first.request}&limit=200`, priya);
        expect(anyStatus.body['requests'].map((r: { id: string }) => r.id)).toContain(second.request);
        expect(anyStatus.body['requests'].map((r: { id: string }) => r.id)).not.toContain(first.request);
        // a cursor on the newest request: an empty last page
        const newest = await call(gw.url, 'GET', `/v1/requests?cursor=${otherRequest}&status=open,approved,denied,expired,voided&limit=200`, priya);
        expect([newest.status, newest.body['requests'], newest.body['next_cursor']]).toEqual([200, [], null]);

        // every status, as the second agent: its own request only, and no grant of anyone else's
        const mine = await call(gw.url, 'GET', '/v1/requests?status=open,approved,denied,expired,voided&limit=200', await tok('ops-copilot', 'copilot-console'));
        expect(mine.body['requests'].map((r: { id: string }) => r.id)).toEqual([otherRequest]);
        // a human reads any: the second agent's request, by its action
        const byAction = await call(gw.url, 'GET', `/v1/requests?action=${clearStep.action}&limit=200`, priya);
        expect(byAction.body['requests'].map((r: { id: string }) => r.id)).toContain(otherRequest);

        const unknown = await call(gw.url, 'GET', '/v1/requests?cursor=request-nonesuch', priya);
        expect([unknown.status, unknown.body['error']['code']]).toEqual([400, 'CURSOR_UNKNOWN']);
        const badStatus = await call(gw.url, 'GET', '/v1/requests?status=pending', priya);
        expect([badStatus.status, badStatus.body['error']['code']]).toEqual([400, 'VALIDATION_FAILED']);
      });

      /** Every listed request for `token`, following next_cursor (bounded), by id. */
      const listAll = async (token: string, query: string, limit = 200): Promise<Map<string, Json>> => {
        const seen = new Map<string, Json>();
        let cursor: string | null = null;
        for (let page = 0; page < 500; page++) {
          const res: { status: number; body: Record<string, Json> } = await call(gw.url, 'GET', `/v1/requests?${query}&limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`, token);
          expect(res.status, JSON.stringify(res.body)).toBe(200);
          expect(res.body['requests'].length).toBeLessThanOrEqual(limit);
          for (const r of res.body['requests']) seen.set(r.id, r);
          cursor = res.body['next_cursor'];
          if (cursor === null) return seen;
        }
        throw new Error('the listing did not end');
      };

      it('approvable_by=me keeps what the caller may approve now, by the approve command\'s rules, and every view says why not', async () => {
        // high risk, one incident lead or payments owner, through the approver console or the signed CLI
        const forOlivia = (await propose([restartStep]))['steps'][0].request as string;
        // lena and leo report to priya
        const forPriya = (await propose([restartStep], { on_behalf_of: 'priya' }))['steps'][0].request as string;
        // critical: a lead and an owner or finance delegate; leo signs first
        await execute((await propose([snapshotStep]))['steps'][0].grant);
        const clear = (await propose([clearStep]))['steps'][0].request as string;
        expect((await approve(clear, 'leo', 'signed-cli')).status).toBe(200);

        const verdicts = async (principal: string, surface: string): Promise<{ mine: Map<string, Json>; all: Map<string, Json> }> => {
          const token = await tok(principal, surface);
          return { mine: await listAll(token, 'status=open&approvable_by=me'), all: await listAll(token, 'status=open') };
        };
        const shown = (v: { mine: Map<string, Json> }, id: string): boolean => v.mine.has(id);
        const reasons = (v: { all: Map<string, Json> }, id: string): string[] => v.all.get(id).approvable.reasons;

        // an eligible approver sees the request, with a clean verdict; every listed view says by_you
        const lena = await verdicts('lena', 'signed-cli');
        expect(shown(lena, forOlivia)).toBe(true);
        expect(lena.mine.get(forOlivia).approvable).toEqual({ by_you: true, reasons: [] });
        for (const view of lena.mine.values()) expect(view.approvable.by_you).toBe(true);
        expect(lena.all.get(forOlivia)).toMatchObject({ id: forOlivia, status: 'open', action: restartStep.action, approvable: { by_you: true, reasons: [] } });
        // ... but not one asked for the principal she reports to
        expect(shown(lena, forPriya)).toBe(false);
        expect(reasons(lena, forPriya)).toEqual(['REPORTS_TO_REQUESTER']);

        // the requester, through her own console or another
        for (const surface of ['copilot-console', 'approver-console']) {
          const olivia = await verdicts('olivia', surface);
          expect(shown(olivia, forOlivia)).toBe(false);
          expect(reasons(olivia, forOlivia)[0]).toBe('SELF_APPROVAL');
        }
        // a principal without a role of the quorum
        const sam = await verdicts('sam', 'signed-cli');
        expect([shown(sam, forOlivia), reasons(sam, forOlivia)]).toEqual([false, ['ROLE_NOT_ELIGIBLE']]);
        // an eligible lead through a surface the request does not allow (the copilot's own)
        const leoCopilot = await verdicts('leo', 'copilot-console');
        expect([shown(leoCopilot, forOlivia), reasons(leoCopilot, forOlivia)]).toEqual([false, ['SURFACE_NOT_ALLOWED']]);
        // one who already approved: not again, through any surface; the second key still can
        const leo = await verdicts('leo', 'approver-console');
        expect(shown(leo, forOlivia)).toBe(true);
        expect([shown(leo, clear), reasons(leo, clear)]).toEqual([false, ['DUPLICATE_APPROVER']]);
        const fatima = await verdicts('fatima', 'signed-cli');
        expect([shown(fatima, clear), fatima.mine.get(clear)?.approvable]).toEqual([true, { by_you: true, reasons: [] }]);

        // one at a time, the filter holds on every page and the cursor walks to the end
        const paged = await listAll(await tok('lena', 'signed-cli'), 'status=open&approvable_by=me', 1);
        expect([...paged.keys()]).toEqual([...lena.mine.keys()]);

        // an agent approves nothing: an empty list, and its own requests say so
        const agentMine = await call(gw.url, 'GET', '/v1/requests?approvable_by=me&limit=200', await agent());
        expect([agentMine.status, agentMine.body['requests'], agentMine.body['next_cursor']]).toEqual([200, [], null]);
        const agentAll = await listAll(await agent(), 'status=open');
        expect(agentAll.get(forOlivia).approvable).toEqual({ by_you: false, reasons: ['AGENT_CANNOT_APPROVE'] });

        const other = await call(gw.url, 'GET', '/v1/requests?approvable_by=leo', await tok('leo', 'signed-cli'));
        expect([other.status, other.body['error']['code']]).toEqual([400, 'VALIDATION_FAILED']);
      });
    });

    describe('waiting for a decision', () => {
      it('a long poll answers as soon as the request is decided, and the event stream follows it to its grant', async () => {
        const s = (await propose([restartStep]))['steps'][0];
        await call(gw.url, 'POST', '/v1/rollbacks', await tok('olivia', 'approver-console'), { step: s.step, action: 'workers.rollback_pool', target: 'payments-worker' });
        const events = await fetch(`${gw.url}/v1/requests/${s.request}/events`, { headers: { authorization: `Bearer ${await agent()}` } });
        expect(events.status).toBe(200);
        expect(events.headers.get('content-type')).toContain('text/event-stream');
        // the longest wait there is, 60 s, twice this test's 30 s timeout: a poll the decision does not
        // wake fails the test by timing out, with no assertion on how fast this machine is
        const polled = call(gw.url, 'GET', `/v1/requests/${s.request}?wait=60s`, await agent());
        // lets the poll reach the gateway first; if the approval overtook it, the poll would answer at once and pass
        // without exercising the wake-up, but never fail (no route tells a client that a poll is being held)
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect((await approve(s.request, 'leo', 'signed-cli')).status).toBe(200);
        const answer = await polled;
        expect([answer.body['status'], typeof answer.body['grant']]).toEqual(['approved', 'string']);
        const text = await events.text();
        const views = text
          .split('\n\n')
          .filter((block) => block.includes('event: request'))
          .map((block) => JSON.parse(block.split('\n').find((l) => l.startsWith('data: '))!.slice(6)) as { status: string; grant: string | null });
        expect(views[0]?.status).toBe('open');
        expect(views.at(-1)).toMatchObject({ status: 'approved', grant: answer.body['grant'] });
      }, 30_000);
      it('a long poll without a decision answers after its wait with the request still open', async () => {
        const s = (await propose([restartStep]))['steps'][0];
        const started = Date.now();
        const answer = await call(gw.url, 'GET', `/v1/requests/${s.request}?wait=1s`, await agent());
        expect(Date.now() - started).toBeGreaterThanOrEqual(900);
        expect(answer.body['status']).toBe('open');
      });
    });

    describe('ledger over HTTP', () => {
      it('exports JSON Lines, serves the latest checkpoint and proves inclusion', async () => {
        const priya = await tok('priya', 'approver-console');
        const exported = await fetch(`${gw.url}/v1/ledger/export`, { headers: { authorization: `Bearer ${priya}` } });
        expect(exported.headers.get('content-type')).toContain('application/jsonl');
        const lines = (await exported.text()).trim().split('\n');
        const head = (await call(gw.url, 'GET', '/v1/ledger/head', priya)).body;
        const checkpoint = (await call(gw.url, 'GET', '/v1/ledger/checkpoint', priya)).body;
        expect(checkpoint['note']).toContain('countersign.dev/ledger/default');
        expect(lines.length).toBeGreaterThan(head['size']);
        const proof = await call(gw.url, 'GET', '/v1/ledger/proofs/3', priya);
        expect(proof.status, JSON.stringify(proof.body)).toBe(200);
        expect(proof.body).toMatchObject({ seq: 3, leaf_index: 3 });
        expect(proof.body['path'].length).toBeGreaterThan(0);
      });
    });

    describe('bundle activation (last: it revokes everything)', () => {
      it('is a governed release: lone activations refused and recorded, a signer reporting to the proposer refused, two independent keys activate; BUNDLE_CHANGED after', async () => {
        const grant = (await propose([snapshotStep]))['steps'][0].grant as string;
        const yaml = readFileSync(policyPath, 'utf8').replace(/^description: .*$/m, 'description: payments, revised');
        const before = (await call(gw.url, 'GET', '/v1/policy', await tok('priya', 'approver-console'))).body['bundle_id'] as string;
        // an agent, the payments owner, the on-call operator: nobody activates alone
        await refused(async () => call(gw.url, 'POST', '/v1/bundles', await tok('alert-relay', 'signed-cli'), { policy: yaml }), 403, 'AGENT_CANNOT_ACTIVATE');
        await refused(async () => call(gw.url, 'POST', '/v1/bundles', await tok('priya', 'approver-console'), { policy: yaml }), 409, 'RELEASE_REQUIRED');
        await refused(async () => call(gw.url, 'POST', '/v1/bundles', await tok('olivia', 'approver-console'), { policy: yaml }), 409, 'RELEASE_REQUIRED');
        await refused(async () => call(gw.url, 'POST', '/v1/releases', await agent(), { policy: yaml }), 403, 'FORBIDDEN');
        expect((await call(gw.url, 'GET', '/v1/policy', await tok('priya', 'approver-console'))).body['bundle_id']).toBe(before);

        const proposed = await call(gw.url, 'POST', '/v1/releases', await tok('priya', 'approver-console'), { policy: yaml, golden: exampleGolden() });
        expect(proposed.status, JSON.stringify(proposed.body)).toBe(201);
        const release = proposed.body;
        const sign = async (signer: string) =>
          call(gw.url, 'POST', `/v1/releases/${release['id']}/signatures`, await tok(signer, 'signed-cli'), signedApproval({ id: release['id'], digest: release['release_digest'], bundle_id: before }, signer, 'signed-cli'));
        // lena reports to priya, the proposer: her signature is refused and recorded
        await refused(() => sign('lena'), 403, 'REPORTS_TO_REQUESTER');
        const first = await sign('fatima');
        expect([first.status, first.body['quorum_met']], JSON.stringify(first.body)).toEqual([200, false]);
        expect((await call(gw.url, 'GET', '/v1/policy', await tok('priya', 'approver-console'))).body['bundle_id']).toBe(before);
        const second = await sign('sam');
        expect(second.status, JSON.stringify(second.body)).toBe(200);
        expect(second.body['activated']['revoked_grants'].length).toBeGreaterThan(0);
        expect((await call(gw.url, 'GET', '/v1/policy', await tok('priya', 'approver-console'))).body['bundle_id']).toBe(release['candidate']);
        await refused(async () => call(gw.url, 'POST', '/v1/executions', await agent(), { grant }), 409, 'BUNDLE_CHANGED');
        await refused(async () => call(gw.url, 'POST', '/v1/bundles', await tok('priya', 'approver-console'), { policy: yaml }), 409, 'BUNDLE_ALREADY_ACTIVE');
      });
    });
  });
}
