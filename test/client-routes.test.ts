import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExportVerifier, noteVerifierKey, parseOverrideBody, rawPublicKey } from '@countersign/core';
import { CountersignClient, CountersignClientError, ENDPOINTS, type Endpoint, type RequestView, type SignedStatement } from '@countersign/client';
import { restartOverrideAt } from './scenario/override-draft.js';
import { EVIDENCE, EXAMPLE_POLICY, exampleGolden, overrideSignature, signedApproval, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';

/**
 * @countersign/client against the real gateway process (build first:
 * `npx tsc -b packages/core packages/client packages/gateway`): its endpoint
 * table is held to the routes the gateway serves, as its OpenAPI document
 * lists them, and the methods are driven end to end with real tokens.
 */

/**
 * Served routes the SDK deliberately has no method for, and why. A route that
 * is neither in the client's table nor here fails the coverage test: a new
 * gateway route cannot be forgotten by the client. (`GET /openapi.json` is not
 * one of the documented routes: it is the document.)
 */
const NOT_IN_CLIENT: Readonly<Record<string, string>> = {
  'GET /metrics': 'Prometheus text exposition, for a scraper on the bound address',
};

const ORIGIN = 'countersign.dev/ledger/default';
const AGENT = { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console' } as const;
const restart = { action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling' } };

interface ServedRoute {
  readonly operation: string | null;
  /** The media type of the success answer. */
  readonly media: string;
}

let dir = '';
let gw: GatewayProcess;
const clients = new Map<string, CountersignClient>();
/** A client holding a fresh token for `principal` on `surface`. */
async function as(principal: string, surface: string): Promise<CountersignClient> {
  const key = `${principal}@${surface}`;
  let client = clients.get(key);
  if (!client) {
    client = new CountersignClient({ server: gw.url, token: await gw.token(principal, surface) });
    clients.set(key, client);
  }
  return client;
}
const agent = () => as('payments-copilot', 'copilot-console');
const priya = () => as('priya', 'approver-console');

async function refusal(promise: Promise<unknown>): Promise<CountersignClientError> {
  const err = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CountersignClientError);
  return err as CountersignClientError;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-client-routes-'));
  gw = await startGatewayProcess({ policy: EXAMPLE_POLICY, dir, args: ['--expire-every', '1h'] });
}, 60_000);

afterAll(async () => {
  const code = await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
  expect(code).toBe(0);
}, 60_000);

describe('the client endpoint table', () => {
  it('covers every route the gateway serves, with its operation and media type', async () => {
    const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, Record<string, unknown>>> };
    const served = new Map<string, ServedRoute>();
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const responses = op['responses'] as Record<string, { content?: Record<string, unknown> }>;
        const success = Object.entries(responses).find(([status]) => /^2\d\d$/.test(status))?.[1];
        const operation = op['x-countersign-operation'];
        served.set(`${method.toUpperCase()} ${path}`, {
          operation: typeof operation === 'string' ? operation : null,
          media: Object.keys(success?.content ?? {})[0] ?? '',
        });
      }
    }
    // the document is the gateway's whole surface, not an empty or partial one
    expect(served.size).toBeGreaterThanOrEqual(29);
    expect(served.has('POST /v1/proposals')).toBe(true);

    // the long poll is the status route with `?wait=`: two entries, one route
    const table = new Map<string, (Endpoint & { readonly name: string })[]>();
    for (const [name, endpoint] of Object.entries(ENDPOINTS) as [string, Endpoint][]) {
      const route = `${endpoint.method} ${endpoint.path.split('?')[0]}`;
      table.set(route, [...(table.get(route) ?? []), { ...endpoint, name }]);
    }

    const missing = [...served.keys()].filter((route) => !table.has(route) && NOT_IN_CLIENT[route] === undefined);
    expect(missing, 'routes the gateway serves that the client has no method for').toEqual([]);
    const stale = [...table.keys()].filter((route) => !served.has(route));
    expect(stale, 'client endpoints the gateway does not serve').toEqual([]);
    const excludedButCovered = Object.keys(NOT_IN_CLIENT).filter((route) => table.has(route) || !served.has(route));
    expect(excludedButCovered, 'exclusions that are stale').toEqual([]);

    for (const [route, endpoints] of table) {
      const answer = served.get(route)!;
      for (const endpoint of endpoints) {
        expect(endpoint.operation, `${endpoint.name}: ${route} operation`).toBe(answer.operation);
        // a streamed route must be read as a stream, and a JSON one as JSON
        expect(answer.media.split(';')[0], `${endpoint.name}: ${route} media type`).toBe(endpoint.accept ?? 'application/json');
      }
    }
    // each table entry has its own method on the client
    const methods = new Set(Object.getOwnPropertyNames(CountersignClient.prototype));
    const named: Record<string, string> = { wait: 'waitForRequest', events: 'watchRequest' };
    for (const name of Object.keys(ENDPOINTS)) expect(methods, name).toContain(named[name] ?? name);
  });
});

describe('the client against the real gateway', () => {
  it('health and ready need no token, and the client sends none', async () => {
    const stranger = new CountersignClient({ server: gw.url, token: `cst_aaaaaaaaaaaaaaaa_${'A'.repeat(43)}` });
    expect(await stranger.health()).toEqual({ status: 'ok' });
    const ready = await stranger.ready();
    expect(ready).toMatchObject({ status: 'ready', bundle_id: expect.stringMatching(/^sha256:/) });
    expect(ready.ledger_size).toBeGreaterThan(0);
    // the same bogus token on an authenticated route is refused: the public ones never saw it
    expect((await refusal(stranger.policy())).code).toBe('TOKEN_UNKNOWN');
  });

  it('reads the active policy, and refuses it to an agent with the gateway code', async () => {
    const policy = await (await priya()).policy();
    expect(policy.bundle_id).toBe((await (await priya()).ready()).bundle_id);
    expect(policy.environments).toContain('prod');
    expect(policy.actions).toContainEqual({ id: 'workers.restart_pool', class: expect.any(String) });
    const refused = await refusal((await agent()).policy());
    expect([refused.code, refused.status]).toEqual(['FORBIDDEN', 403]);
  });

  it('decides a dry run without recording anything', async () => {
    const client = await priya();
    const before = (await client.ledgerHead()).size;
    const result = await client.decide({ ...AGENT, steps: [restart, { action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-7', params: {} }] });
    expect(result.bundle_id).toBe((await client.policy()).bundle_id);
    expect(result.decisions.map((d) => [d.step_index, d.action, d.effect])).toEqual([
      [0, 'workers.restart_pool', 'require_approval'],
      [1, 'queue.inspect', 'allow'],
    ]);
    expect(result.decisions[0]?.step_digest).toMatch(/^sha256:/);
    expect((await client.ledgerHead()).size).toBe(before);
  });

  it('watches a request over Server-Sent Events from open, through approved awaiting its rollback, to its grant; then traces it', async () => {
    const step = (await (await agent()).propose({ ...AGENT, steps: [restart] })).steps[0]!;
    expect(step.effect).toBe('require_approval');
    const requestId = step.request!;

    const views: RequestView[] = [];
    let opened: () => void = () => undefined;
    const firstView = new Promise<void>((resolve) => (opened = resolve));
    const watching = (async () => {
      for await (const view of (await agent()).watchRequest(requestId)) {
        views.push(view);
        opened();
      }
    })();
    await firstView;

    const status = (await (await priya()).status(requestId)) as RequestView & { bundle_id: string };
    const signed = signedApproval(status, 'leo', 'signed-cli') as unknown as SignedStatement;
    const approved = await (await as('leo', 'signed-cli')).approve(requestId, signed);
    expect(approved.status).toBe('approved');
    // the restart's contract wants its rollback registered: the grant waits for it, and so does the stream
    const registered = await (await as('olivia', 'approver-console')).registerRollback({ step: step.step, action: 'workers.rollback_pool', target: 'payments-worker' });
    expect(registered['step_granted']).toBe(true);
    await watching;

    expect(views[0]).toMatchObject({ id: requestId, status: 'open', grant: null });
    expect(views.at(-1)).toMatchObject({ id: requestId, status: 'approved', awaiting_rollback: false, grant: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/) });
    expect(views.map((v) => `${v.status}${v.awaiting_rollback ? ' awaiting rollback' : ''}`)).toContain('approved awaiting rollback');
    // the stream ended by itself: settled

    const trace = await (await priya()).trace(requestId);
    expect([trace.id, trace.kind]).toEqual([requestId, 'request']);
    const types = trace.lines.map((l) => l.type);
    for (const type of ['proposal.received', 'request.opened', 'approval.accepted', 'request.approved', 'rollback.registered', 'grant.issued']) expect(types, type).toContain(type);
    expect((await refusal((await priya()).trace('no-such-thing'))).code).toBe('TRACE_NOT_FOUND');
  });

  it('proposes and executes an allowed step in one call; a step needing approval gets its request', async () => {
    const client = await agent();
    const before = (await (await priya()).ledgerHead()).size;
    const result = await client.proposeAndExecute({
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      steps: [
        { action: 'queue.inspect', environment: 'prod', target: 'payments-queue/shard-2', params: {} },
        { action: 'workers.restart_pool', environment: 'prod', target: 'refund-worker', params: { strategy: 'rolling' } },
      ],
    });
    const [inspect, restart] = result.steps;
    expect(inspect).toMatchObject({ effect: 'allow', grant: null, refused: null });
    expect(typeof inspect?.execution).toBe('string');
    expect(restart).toMatchObject({ effect: 'require_approval', grant: null });
    expect(typeof restart?.request).toBe('string');
    // proposal.received, two decisions, the execution and the request: no grant, no second call
    expect((await (await priya()).ledgerHead()).size - before).toBe(5);
    expect(await client.reportOutcome(inspect?.execution ?? '', 'succeeded', 'inspected')).toMatchObject({ execution: inspect?.execution, outcome: 'succeeded' });
    // a human token cannot propose for the agent
    const human = await refusal((await priya()).proposeAndExecute({ agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console', steps: [] }));
    expect(human.status).toBeGreaterThanOrEqual(400);
  });

  it('runs a step under an override lease, once', async () => {
    const step = (await (await agent()).propose({ ...AGENT, steps: [restart] })).steps[0]!;
    const olivia = await as('olivia', 'approver-console');
    const registered = await olivia.registerRollback({ step: step.step, action: 'workers.rollback_pool', target: 'payments-worker' });
    // a wildcard would be matched literally and hold nothing: refused
    const wildcardHold = await refusal((await as('sam', 'signed-cli')).openHold({ trip_gate: 'K2', scope: { targets: ['payments-queue/shard-*'] }, evidence_hash: EVIDENCE }));
    expect([wildcardHold.code, wildcardHold.status]).toEqual(['HOLD_SCOPE_INVALID', 422]);
    const hold = await (await as('sam', 'signed-cli')).openHold({ trip_gate: 'K2', scope: { environments: ['prod'], actions: ['workers.restart_pool'] }, evidence_hash: EVIDENCE });
    try {
      const draft = restartOverrideAt(Date.now(), hold['hold'] as string, 'K2', step.digest as string, registered['artifact'] as string);
      // a scope that can never be granted is refused when requested, before anyone is asked to sign
      const creep = await refusal(olivia.requestOverride({ ...draft, scope: { ...draft.scope, targets: ['payments-*'] } }));
      expect([creep.code, creep.status]).toEqual(['O2_SCOPE_CREEP', 422]);
      const asked = await olivia.requestOverride(draft);
      const body = parseOverrideBody(asked.body);
      const lease = await olivia.submitOverride(asked.id, [overrideSignature(body, 'a', 'leo', 'signed-cli'), overrideSignature(body, 'b', 'fatima', 'signed-cli')]);
      const leaseId = lease['lease'] as string;

      const executor = await agent();
      const { execution } = await executor.executeWithLease(leaseId, step.step, restart);
      expect(execution).toMatch(/\S/);
      expect(await executor.reportOutcome(execution, 'succeeded')).toEqual({ execution, outcome: 'succeeded' });
      const again = await refusal(executor.executeWithLease(leaseId, step.step));
      expect([again.code, again.status]).toEqual(['STEP_ALREADY_EXECUTED', 409]);
      expect((await refusal(executor.executeWithLease('lease-none', step.step))).code).toBe('LEASE_UNKNOWN');
    } finally {
      await (await priya()).liftHold(hold['hold'] as string, { reason: 'done' });
    }
  });

  it('exports the ledger as lines that verify offline against the gateway key and its head', async () => {
    const client = await priya();
    const verifier = createExportVerifier({ trustedKeys: [noteVerifierKey(ORIGIN, rawPublicKey(createPublicKey(createPrivateKey(readFileSync(gw.keyPath, 'utf8')))))] });
    let lines = 0;
    for await (const line of client.exportLedger()) {
      verifier.line(line);
      lines += 1;
    }
    // finish() throws on any broken chain, bad signature or unsigned tail
    const result = verifier.finish();
    expect(result.checkpointedSize).toBe(result.size);
    const head = await client.ledgerHead();
    // the export flushes a checkpoint over everything first: the head names it
    expect(head.checkpoint?.tree_size).toBeGreaterThanOrEqual(verifier.size);
    expect(head.size).toBeGreaterThanOrEqual(verifier.size);
    expect(lines).toBeGreaterThan(verifier.size);
    const proof = await (await as('priya', 'approver-console')).prove(0);
    expect([proof.seq, proof.leaf_index, proof.tree_size > 0]).toEqual([0, 0, true]);
    expect(proof.checkpoint).toContain(ORIGIN);
    const refused = await refusal(collectLines((await agent()).exportLedger()));
    expect([refused.code, refused.status]).toEqual(['FORBIDDEN', 403]);
  });

  it('releases a bundle (last: it revokes everything): a lone activation is refused, two independent signatures activate it', async () => {
    const client = await priya();
    const before = await client.policy();
    const yaml = readFileSync(EXAMPLE_POLICY, 'utf8').replace(/^description: .*$/m, 'description: payments, revised');
    const lone = await refusal(client.activateBundle(yaml));
    expect([lone.code, lone.status]).toEqual(['RELEASE_REQUIRED', 409]);
    expect((await client.policy()).bundle_id).toBe(before.bundle_id);
    const release = await client.proposeRelease(yaml, exampleGolden());
    expect(release).toMatchObject({ status: 'open', previous_bundle_id: before.bundle_id, proposer: 'priya' });
    expect(release.diff_report).toContain(release.candidate);
    expect((await client.release(release.id)).statement).toEqual({ request: release.id, step_digest: release.release_digest, bundle_id: before.bundle_id });
    const sign = async (signer: string) =>
      (await as(signer, 'signed-cli')).signRelease(release.id, signedApproval({ id: release.id, digest: release.release_digest, bundle_id: before.bundle_id }, signer, 'signed-cli') as never);
    const first = await sign('fatima');
    expect([first.quorum_met, first.activated]).toEqual([false, null]);
    const second = await sign('sam');
    expect(second.status).toBe('activated');
    const activated = second.activated;
    if (activated === null) throw new Error('the second signature completes the quorum');
    expect(activated.previous_bundle_id).toBe(before.bundle_id);
    expect(activated.bundle_id).toBe(release.candidate);
    expect(Array.isArray(activated.revoked_grants) && Array.isArray(activated.voided_requests) && Array.isArray(activated.redecided)).toBe(true);
    expect((await client.policy()).bundle_id).toBe(activated.bundle_id);
    const again = await refusal(client.activateBundle(yaml));
    expect([again.code, again.status]).toEqual(['BUNDLE_ALREADY_ACTIVE', 409]);
    expect((await refusal(client.proposeRelease('version: 1\nname: ['))).code).toMatch(/^POLICY_(PARSE_ERROR|INVALID)$/);
  });
});

async function collectLines(lines: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const _ of lines) n += 1;
  return n;
}
