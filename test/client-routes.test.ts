import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createExportVerifier, noteVerifierKey, parseOverrideBody, rawPublicKey } from '@countersign/core';
import { CountersignClient, CountersignClientError, ENDPOINTS, type Endpoint, type FetchLike, type RequestView, type SignedStatement } from '@countersign/client';
import { ErrorBody, mediaType } from '@countersign/client/contract';
import { openApiDocument, route } from '../packages/gateway/src/server/app.js';
import { restartOverrideAt } from './scenario/override-draft.js';
import { EVIDENCE, EXAMPLE_POLICY, exampleGolden, overrideSignature, signedApproval, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.js';

/**
 * The one HTTP contract (ADR 005) against the real gateway process (build
 * first: `npm run build`): the routes the gateway registers, as its OpenAPI
 * document lists them, are the contract's endpoints, both ways, with the same
 * operation, media type and schemas; every answer the client receives here
 * validates against the contract's schema for it; and the client's methods are
 * driven end to end with real tokens.
 */

/**
 * Endpoints the SDK deliberately has no method for, and why. An endpoint that
 * has neither a method nor a line here fails the coverage test: a new route
 * cannot be forgotten by the client.
 */
const NOT_IN_CLIENT: Readonly<Record<string, string>> = {
  metrics: 'Prometheus text exposition, for a scraper on the bound address',
};
const ORIGIN = 'countersign.dev/ledger/default';
const AGENT = { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console' } as const;
const restart = { action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling' } };

interface ServedRoute {
  readonly operation: string | null;
  /** The media type of the success answer. */
  readonly media: string;
}

/** Every answer the clients of this file received, by endpoint name, checked against the contract. */
const validated = new Set<string>();

/** The contract's endpoint a request is for: method and path, `{name}` matching one segment. */
function endpointOf(method: string, url: string): [string, Endpoint] | null {
  const path = new URL(url).pathname;
  for (const [name, endpoint] of Object.entries(ENDPOINTS) as [string, Endpoint][]) {
    if (endpoint.method !== method) continue;
    if (new RegExp(`^${endpoint.path.replace(/\{[a-z]+\}/g, '[^/]+')}$`).test(path)) return [name, endpoint];
  }
  return null;
}

/**
 * A fetch that holds every JSON answer to the contract: a success to its
 * endpoint's answer schema, a failure to the error body. A field the gateway
 * sends that the contract lacks, or the reverse, fails here.
 */
const checkingFetch: FetchLike = async (input, init) => {
  const response = await fetch(input, init);
  const found = endpointOf(init.method ?? 'GET', input);
  if (found === null) throw new Error(`no endpoint of the contract for \`${init.method} ${input}\``);
  const [name, endpoint] = found;
  if (endpoint.stream !== undefined && response.ok) return response;
  const text = await response.clone().text();
  if (response.ok) {
    const body: unknown = JSON.parse(text);
    const checked = endpoint.response.safeParse(body);
    expect(checked.success, `${name}: the answer matches the contract: ${checked.error?.message}`).toBe(true);
    // and names no field the contract does not (a loose object, core's trace, excepted)
    const schema = endpoint.response;
    if (schema instanceof z.ZodObject && schema._zod.def.catchall === undefined) {
      expect(Object.keys(body as object).filter((key) => !(key in schema.shape)), `${name}: fields outside the contract`).toEqual([]);
    }
    validated.add(name);
  } else {
    expect(ErrorBody.safeParse(JSON.parse(text)).success, `${name}: the error body matches the contract`).toBe(true);
  }
  return response;
};

let dir = '';
let gw: GatewayProcess;
const clients = new Map<string, CountersignClient>();
/** A client holding a fresh token for `principal` on `surface`. */
async function as(principal: string, surface: string): Promise<CountersignClient> {
  const key = `${principal}@${surface}`;
  let client = clients.get(key);
  if (!client) {
    client = new CountersignClient({ server: gw.url, token: await gw.token(principal, surface), fetch: checkingFetch });
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

describe('the one HTTP contract', () => {
  it('is every route the gateway serves, and no other, with its operation and media type', async () => {
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
    expect(served.size).toBeGreaterThanOrEqual(40);
    expect(served.has('POST /v1/proposals')).toBe(true);

    const contract = new Map<string, Endpoint & { readonly name: string }>();
    for (const [name, endpoint] of Object.entries(ENDPOINTS) as [string, Endpoint][]) {
      const key = `${endpoint.method} ${endpoint.path}`;
      expect(contract.has(key), `${name}: one endpoint per route`).toBe(false);
      contract.set(key, { ...endpoint, name });
    }
    const missing = [...served.keys()].filter((key) => !contract.has(key));
    expect(missing, 'routes the gateway serves that the contract does not declare').toEqual([]);
    const stale = [...contract.keys()].filter((key) => !served.has(key));
    expect(stale, 'endpoints of the contract the gateway does not serve').toEqual([]);
    for (const [key, endpoint] of contract) {
      const answer = served.get(key)!;
      expect(answer.operation, `${endpoint.name}: ${key} operation`).toBe(endpoint.operation);
      // a streamed route must be read as a stream, and a JSON one as JSON
      expect(answer.media.split(';')[0], `${endpoint.name}: ${key} media type`).toBe(mediaType(endpoint));
    }
  });

  it('is what the gateway validates and documents: its OpenAPI document is the contract\'s, schema for schema', async () => {
    const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { paths: Record<string, unknown>; components: unknown };
    const handler = async (): Promise<never> => {
      throw new Error('not served');
    };
    const fromContract = openApiDocument({ routes: Object.values(ENDPOINTS).map((endpoint: Endpoint) => route(endpoint, { handler })) });
    for (const [path, methods] of Object.entries(fromContract.paths as Record<string, Record<string, unknown>>)) {
      for (const [method, operation] of Object.entries(methods)) {
        expect((doc.paths[path] as Record<string, unknown> | undefined)?.[method], `${method.toUpperCase()} ${path}`).toEqual(operation);
      }
    }
    expect(doc.components).toEqual(fromContract.components);
  });

  it('has a client method for every endpoint but those left out on purpose', () => {
    const methods = new Set(Object.getOwnPropertyNames(CountersignClient.prototype));
    const named: Record<string, string> = { events: 'watchRequest' };
    const withoutMethod = Object.keys(ENDPOINTS).filter((name) => !methods.has(named[name] ?? name) && NOT_IN_CLIENT[name] === undefined);
    expect(withoutMethod, 'endpoints the client has no method for').toEqual([]);
    const stale = Object.keys(NOT_IN_CLIENT).filter((name) => methods.has(name) || !(name in ENDPOINTS));
    expect(stale, 'exclusions that are stale').toEqual([]);
  });
});

describe('the client against the real gateway', () => {
  it('health and ready need no token, and the client sends none', async () => {
    const stranger = new CountersignClient({ server: gw.url, token: `cst_aaaaaaaaaaaaaaaa_${'A'.repeat(43)}`, fetch: checkingFetch });
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

  it('resumes a retried one-call proposal with its open request, only for the same step, principal and incident, recording nothing', async () => {
    const client = await agent();
    const restartOf = (target: string) => ({ action: 'workers.restart_pool', environment: 'prod', target, params: { strategy: 'rolling' } });
    const first = await client.proposeAndExecute({ ...AGENT, steps: [restartOf('ledger-worker')] }, { resume: true });
    const request = first.steps[0]?.request;
    expect(first.steps[0]).toMatchObject({ effect: 'require_approval', grant: null });
    expect(first.resumed).toBeUndefined();
    expect(typeof request).toBe('string');

    const head = (await (await priya()).ledgerHead()).size;
    const again = await client.proposeAndExecute({ ...AGENT, steps: [restartOf('ledger-worker')] }, { resume: true });
    expect([again.resumed, again.proposal, again.steps[0]?.request]).toEqual([true, first.proposal, request]);
    expect((await (await priya()).ledgerHead()).size, 'a resumed call records nothing').toBe(head);

    // each of these is another step, principal or incident: proposed anew, with its own request
    const others = [
      { ...AGENT, steps: [restartOf('ledger-worker-2')] },
      { ...AGENT, on_behalf_of: 'omar', steps: [restartOf('ledger-worker')] },
      { ...AGENT, incident: 'INC-resume', steps: [restartOf('ledger-worker')] },
    ];
    for (const body of others) {
      const answer = await client.proposeAndExecute(body, { resume: true });
      expect(answer.resumed, JSON.stringify(body)).toBeUndefined();
      expect(answer.steps[0]?.request, JSON.stringify(body)).not.toBe(request);
      expect(typeof answer.steps[0]?.request, JSON.stringify(body)).toBe('string');
    }
    // without resume the same step is proposed again
    const fresh = await client.proposeAndExecute({ ...AGENT, steps: [restartOf('ledger-worker')] });
    expect([fresh.resumed, fresh.steps[0]?.request === request]).toEqual([undefined, false]);
    // and a later retry still finds the first open request, the oldest
    const later = await client.proposeAndExecute({ ...AGENT, steps: [restartOf('ledger-worker')] }, { resume: true });
    expect([later.resumed, later.steps[0]?.request]).toEqual([true, request]);
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

describe('the answers', () => {
  it('each one the client received above matched its endpoint\'s schema in the contract', () => {
    // the endpoints the tests above call through the checking fetch; a route whose answer drifted fails where it was called
    for (const name of ['health', 'ready', 'policy', 'decide', 'propose', 'proposeAndExecute', 'status', 'approve', 'registerRollback', 'trace', 'reportOutcome', 'openHold', 'requestOverride', 'submitOverride', 'executeWithLease', 'liftHold', 'ledgerHead', 'prove', 'proposeRelease', 'release', 'signRelease']) {
      expect(validated, name).toContain(name);
    }
  });
});

async function collectLines(lines: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const _ of lines) n += 1;
  return n;
}
