import { describe, expect, it } from 'vitest';
import { CountersignClient, type FetchLike } from './client.js';
import { ENDPOINTS } from './endpoints.js';
import { CountersignClientError } from './errors.js';

const TOKEN = 'cst_aaaaaaaaaaaaaaaa_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

/** An in-process gateway double: records each request, answers from a script. */
function fakeFetch(answer: (req: Seen, n: number) => Response | Promise<Response>) {
  const seen: Seen[] = [];
  const fetch: FetchLike = async (url, init) => {
    const req: Seen = {
      method: init.method ?? 'GET',
      url,
      headers: init.headers as Record<string, string>,
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    seen.push(req);
    return answer(req, seen.length);
  };
  return { fetch, seen };
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const OVERRIDE = {
  hold: null,
  step_digests: [`sha256:${'0'.repeat(64)}`],
  trip_gate_ack: null,
  valid_from: '2026-01-01T00:00:00Z',
  valid_to: '2026-01-01T01:00:00Z',
  scope: { environments: ['prod'], actions: ['a.b'], targets: ['t'] },
  reason_code: 'R1',
  reason_text: 'why',
  rollback_artifact: 'art1',
};

const proposal = {
  agent: 'payments-copilot',
  on_behalf_of: 'olivia',
  surface: 'copilot-console',
  steps: [{ action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker', params: { strategy: 'rolling' } }],
};

describe('CountersignClient requests', () => {
  it('sends each call to its documented method and path, with the bearer token and JSON body', async () => {
    const { fetch, seen } = fakeFetch(() => json(200, { ok: true }));
    const client = new CountersignClient({ server: 'http://127.0.0.1:8080/', token: TOKEN, fetch });
    const signed = {
      statement: {
        request: 'req-1',
        step_digest: `sha256:${'a'.repeat(64)}`,
        bundle_id: 'b1',
        decision: 'approve' as const,
        approver: 'fatima',
        surface: 'signed-cli',
        reason: 'ok',
        signed_at: '2026-05-15T09:20:00Z',
      },
      attestation: { kind: 'key' as const, key_id: 'fatima-2025', signature: 'x'.repeat(86) },
    };
    await client.propose(proposal);
    await client.proposeAndExecute(proposal);
    await client.proposal('p 1/..');
    await client.status('req-1');
    await client.approve('req-1', signed);
    await client.deny('req-1', { ...signed, statement: { ...signed.statement, decision: 'deny' } });
    await client.execute('jws.jws.jws', { action: 'a.b', environment: 'prod', target: 't', params: {} });
    await client.reportOutcome('exe-1', 'succeeded', 'done');
    await client.openHold({ trip_gate: 'K1', scope: {}, evidence_hash: 'sha256:00' });
    await client.addEvidence('h1', { evidence_hash: 'sha256:00' });
    await client.liftHold('h1');
    await client.requestOverride({ ...OVERRIDE, hold: 'h1' });
    await client.submitOverride('ov1', []);
    await client.registerRollback({ step: 's1', action: 'a.rollback', target: 't' });
    await client.rollback('art1');
    await client.halt({ scope: { kind: 'all' } });
    await client.liftHalt('halt1');
    await client.checkpoint();
    await client.prove(42);
    await client.decide(proposal);
    await client.executeWithLease('lease 1', 'prp-1.0', { action: 'a.b', environment: 'prod', target: 't' });
    await client.executeWithLease('lease-2', 'prp-1.1');
    await client.policy();
    await client.activateBundle('version: 1\nname: payments\n');
    await client.proposeRelease('version: 1\nname: payments\n', [{ name: 'cases.yaml', text: '- name: x' }]);
    await client.release('rel 1');
    await client.releaseShadow('rel-1');
    await client.signRelease('rel-1', signed);
    await client.ledgerHead();
    await client.trace('inc/1');
    await client.health();
    await client.ready();
    await client.listRequests();
    await client.listRequests({ status: ['open', 'approved'], target: 'payments-queue/shard 7&x=1', cursor: 'request-1', limit: 10 });
    await client.issueToken({ principal: 'olivia', surface: 'approver-console', expires_in: '12h' });
    await client.listTokens({ principal: 'olivia' });
    await client.revokeToken('abc def');
    await client.passkeyRegistrationOptions();
    await client.registerPasskey({ id: 'cred', rawId: 'cred', type: 'public-key', response: { clientDataJSON: 'e30', attestationObject: 'o' } });
    await client.listPasskeys({ principal: 'priya' });
    await client.revokePasskey('cred 1');
    await client.listHolds();
    await client.listHalts();
    await client.listRollbacks();
    await client.listOverrides();
    await client.override('ov 1');

    expect(seen.map((r) => `${r.method} ${r.url.replace('http://127.0.0.1:8080', '')}`)).toEqual([
      'POST /v1/proposals',
      'POST /v1/proposals/execute',
      'GET /v1/proposals/p%201%2F..',
      'GET /v1/requests/req-1',
      'POST /v1/requests/req-1/approvals',
      'POST /v1/requests/req-1/denials',
      'POST /v1/executions',
      'POST /v1/executions/exe-1/outcome',
      'POST /v1/holds',
      'POST /v1/holds/h1/evidence',
      'POST /v1/holds/h1/lift',
      'POST /v1/overrides',
      'POST /v1/overrides/ov1/submit',
      'POST /v1/rollbacks',
      'POST /v1/rollbacks/art1/run',
      'POST /v1/halts',
      'POST /v1/halts/halt1/lift',
      'GET /v1/ledger/checkpoint',
      'GET /v1/ledger/proofs/42',
      'POST /v1/decisions',
      'POST /v1/leases/lease%201/executions',
      'POST /v1/leases/lease-2/executions',
      'GET /v1/policy',
      'POST /v1/bundles',
      'POST /v1/releases',
      'GET /v1/releases/rel%201',
      'GET /v1/releases/rel-1/shadow',
      'POST /v1/releases/rel-1/signatures',
      'GET /v1/ledger/head',
      'GET /v1/trace/inc%2F1',
      'GET /healthz',
      'GET /readyz',
      'GET /v1/requests',
      'GET /v1/requests?status=open%2Capproved&target=payments-queue%2Fshard%207%26x%3D1&cursor=request-1&limit=10',
      'POST /v1/tokens',
      'GET /v1/tokens?principal=olivia',
      'POST /v1/tokens/abc%20def/revoke',
      'POST /v1/passkeys/registration',
      'POST /v1/passkeys',
      'GET /v1/passkeys?principal=priya',
      'POST /v1/passkeys/cred%201/revoke',
      'GET /v1/holds',
      'GET /v1/halts',
      'GET /v1/rollbacks',
      'GET /v1/overrides',
      'GET /v1/overrides/ov%201',
    ]);
    for (const r of seen) {
      const isPublic = r.url.endsWith('/healthz') || r.url.endsWith('/readyz');
      // the token goes only to routes that check it
      expect(r.headers['authorization']).toBe(isPublic ? undefined : `Bearer ${TOKEN}`);
      expect(r.headers['accept']).toBe('application/json');
      expect(r.url).not.toContain(TOKEN);
      expect(r.headers['content-type']).toBe(r.method === 'POST' ? 'application/json' : undefined);
    }
    expect(seen[0]?.body).toEqual(proposal);
    expect(seen[1]?.body).toEqual(proposal);
    expect(seen[4]?.body).toEqual(signed);
    expect(seen[6]?.body).toEqual({ grant: 'jws.jws.jws', step: { action: 'a.b', environment: 'prod', target: 't', params: {} } });
    expect(seen[7]?.body).toEqual({ outcome: 'succeeded', detail: 'done' });
    expect(seen[12]?.body).toEqual({ signatures: [] });
    expect(seen[19]?.body).toEqual(proposal);
    expect(seen[20]?.body).toEqual({ step: 'prp-1.0', presented: { action: 'a.b', environment: 'prod', target: 't' } });
    expect(seen[21]?.body).toEqual({ step: 'prp-1.1' });
    expect(seen[23]?.body).toEqual({ policy: 'version: 1\nname: payments\n' });
    // every endpoint of the table is exercised above, but for the two streams (their own tests below) and /metrics (a scraper's, no method)
    // an endpoint with optional query parameters may be called with some of them
    const hit = (path: string, method: string, query: boolean) =>
      seen.some((r) => r.method === method && new RegExp(`^http://127\\.0\\.0\\.1:8080${path.replace(/\?/g, '\\?').replace(/\{[a-z]+\}/g, '[^/?]+')}${query ? '(\\?.*)?' : ''}$`).test(r.url));
    expect(Object.entries(ENDPOINTS).filter(([, e]) => !hit(e.path, e.method, 'query' in e)).map(([name]) => name)).toEqual(['events', 'exportLedger', 'metrics']);
  });

  it('maps the gateway error body to CountersignClientError with code, message, details and status', async () => {
    const { fetch } = fakeFetch(() => json(403, { error: { code: 'FORBIDDEN', message: 'an agent credential cannot `approve`', details: { operation: 'approve' } } }));
    const client = new CountersignClient({ server: 'http://gw', token: TOKEN, fetch });
    const err = (await client.status('r').catch((e: unknown) => e)) as CountersignClientError;
    expect(err).toBeInstanceOf(CountersignClientError);
    expect([err.code, err.status, err.message, err.details]).toEqual(['FORBIDDEN', 403, 'an agent credential cannot `approve`', { operation: 'approve' }]);
  });

  it('tells an unreachable gateway apart from a bad answer, and never puts the token in a message', async () => {
    const refused = new CountersignClient({
      server: 'http://gw',
      token: TOKEN,
      fetch: async () => {
        throw new TypeError(`fetch failed`);
      },
    });
    const unreachable = (await refused.propose(proposal).catch((e: unknown) => e)) as CountersignClientError;
    expect([unreachable.code, unreachable.status]).toEqual(['UNREACHABLE', null]);
    expect(unreachable.message).not.toContain(TOKEN);

    for (const [response, code, status] of [
      [new Response('<html>bad gateway</html>', { status: 502 }), 'BAD_RESPONSE', 502],
      [new Response('not json', { status: 200 }), 'BAD_RESPONSE', 200],
      [json(500, { error: { code: 'INTERNAL', message: 'internal error' } }), 'INTERNAL', 500],
      [json(401, { error: { code: 'TOKEN_REVOKED', message: 'the token has been revoked' } }), 'TOKEN_REVOKED', 401],
    ] as const) {
      const client = new CountersignClient({ server: 'http://gw', token: TOKEN, fetch: async () => response });
      const err = (await client.checkpoint().catch((e: unknown) => e)) as CountersignClientError;
      expect([err.code, err.status]).toEqual([code, status]);
    }
    // a hung gateway: the request's own timeout aborts it, and that is UNREACHABLE too
    const hung = new CountersignClient({
      server: 'http://gw',
      token: TOKEN,
      timeoutMs: 20,
      fetch: (_url, init) =>
        new Promise((_, reject) => {
          init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        }),
    });
    await expect(hung.status('r')).rejects.toMatchObject({ code: 'UNREACHABLE' });
  });

  it('waits longer for a release to be proposed or signed: an activation commits in one step that grows with the live grants', async () => {
    // answers after 60 ms, with a refusal, unless the request was aborted first
    const slow = new CountersignClient({
      server: 'http://gw',
      token: TOKEN,
      timeoutMs: 20,
      fetch: (_url, init) =>
        new Promise((resolve, reject) => {
          init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
          setTimeout(() => resolve(json(409, { error: { code: 'REQUEST_CLOSED', message: 'the release is closed' } })), 60);
        }),
    });
    const statement = { request: 'release-1', step_digest: `sha256:${'0'.repeat(64)}`, bundle_id: 'b', decision: 'approve', approver: 'sam', surface: 'signed-cli', reason: 'x', signed_at: '2025-06-01T09:00:00.000Z' };
    await expect(slow.signRelease('release-1', { statement, attestation: { kind: 'key', key_id: 'sam-2025', signature: 'A'.repeat(86) } } as never)).rejects.toMatchObject({ code: 'REQUEST_CLOSED' });
    await expect(slow.proposeRelease('description: x')).rejects.toMatchObject({ code: 'REQUEST_CLOSED' });
    await expect(slow.release('release-1')).rejects.toMatchObject({ code: 'UNREACHABLE' });
  });

  it('refuses bad construction and bad sequence numbers as USAGE', () => {
    expect(() => new CountersignClient({ server: 'ftp://gw', token: TOKEN })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => new CountersignClient({ server: 'gw', token: TOKEN })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => new CountersignClient({ server: 'http://gw', token: ' ' })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    const client = new CountersignClient({ server: 'http://gw', token: TOKEN, fetch: async () => json(200, {}) });
    expect(() => client.prove(-1)).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('waitForRequest', () => {
  it('long-polls with `?wait=` until the request leaves `open`', async () => {
    let now = 0;
    const { fetch, seen } = fakeFetch((_req, n) => {
      now += 30_000; // the gateway held each poll for its full wait
      return json(200, { id: 'req-1', status: n < 3 ? 'open' : 'approved', grant: n < 3 ? null : 'g.g.g' });
    });
    const client = new CountersignClient({ server: 'http://gw', token: TOKEN, fetch, now: () => now, sleep: async () => undefined });
    const view = await client.waitForRequest('req-1', { timeoutMs: 120_000 });
    expect(view).toMatchObject({ status: 'approved', grant: 'g.g.g' });
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET http://gw/v1/requests/req-1?wait=30s',
      'GET http://gw/v1/requests/req-1?wait=30s',
      'GET http://gw/v1/requests/req-1?wait=30s',
    ]);
  });

  it('shortens the last poll to the time left, paces a gateway that answers at once, and ends with WAIT_TIMEOUT', async () => {
    let now = 0;
    const sleeps: number[] = [];
    const { fetch, seen } = fakeFetch(() => json(200, { id: 'req-1', status: 'open', grant: null }));
    const client = new CountersignClient({
      server: 'http://gw',
      token: TOKEN,
      fetch,
      now: () => now,
      sleep: async (ms) => {
        sleeps.push(ms);
        now += ms;
      },
    });
    const err = (await client.waitForRequest('req-1', { timeoutMs: 2_500 }).catch((e: unknown) => e)) as CountersignClientError;
    expect(err.code).toBe('WAIT_TIMEOUT');
    expect(seen[0]?.url).toBe('http://gw/v1/requests/req-1?wait=3s');
    expect(seen.map((r) => r.url.split('=')[1])).toEqual(['3s', '2s', '1s', '1s']);
    expect(sleeps).toEqual([1_000, 1_000, 500]);
  });

  it('returns at once on a closed request and passes denial through as data', async () => {
    const { fetch } = fakeFetch(() => json(200, { id: 'req-1', status: 'denied', grant: null }));
    const client = new CountersignClient({ server: 'http://gw', token: TOKEN, fetch });
    expect((await client.waitForRequest('req-1')).status).toBe('denied');
  });
});

/** A streamed answer: `chunks` in order, then the end (or nothing more, ever, with `hang`); records a cancel. */
function streamed(chunks: readonly (string | Uint8Array)[], contentType: string, options: { hang?: boolean; onCancel?: () => void } = {}): Response {
  const encoder = new TextEncoder();
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller): Promise<void> | void {
      const next = chunks[i++];
      if (next !== undefined) return controller.enqueue(typeof next === 'string' ? encoder.encode(next) : next);
      if (!options.hang) return controller.close();
      // a gateway that has gone silent: the pull never settles
      return new Promise(() => undefined);
    },
    cancel() {
      options.onCancel?.();
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': contentType } });
}

const SSE = 'text/event-stream; charset=utf-8';
const view = (status: string, extra: Record<string, unknown> = {}) => ({ id: 'req-1', status, grant: null, awaiting_rollback: false, ...extra });
const event = (n: number, body: unknown) => `event: request\nid: ${n}\ndata: ${JSON.stringify(body)}\n\n`;

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

describe('watchRequest', () => {
  it('follows the event stream with the token, yielding each view until the request is settled', async () => {
    const { fetch, seen } = fakeFetch(() =>
      streamed(['retry: 2000\n\n', event(1, view('open')), ': keep-alive\n\n', event(2, view('approved', { grant: 'g.g.g' }))], SSE),
    );
    const client = new CountersignClient({ server: 'http://gw', token: TOKEN, fetch });
    const views = await collect(client.watchRequest('req-1'));
    expect(views.map((v) => [v.status, v.grant])).toEqual([
      ['open', null],
      ['approved', 'g.g.g'],
    ]);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(['GET http://gw/v1/requests/req-1/events']);
    expect(seen[0]?.headers).toEqual({ accept: 'text/event-stream', authorization: `Bearer ${TOKEN}` });
  });

  it('reconnects when the gateway ends a stream before the request is settled, paced, without repeating a view', async () => {
    const sleeps: number[] = [];
    const { fetch, seen } = fakeFetch((_req, n) =>
      streamed(
        n === 1
          ? [event(1, view('open'))]
          : n === 2
            ? // approved, but the grant waits for a rollback artifact: not settled yet
              [event(1, view('open')), event(2, view('approved', { awaiting_rollback: true }))]
            : [event(1, view('approved', { awaiting_rollback: true })), event(2, view('approved', { grant: 'g.g.g' }))],
        SSE,
      ),
    );
    const client = new CountersignClient({ server: 'http://gw', token: TOKEN, fetch, now: () => 0, sleep: async (ms) => void sleeps.push(ms) });
    const views = await collect(client.watchRequest('req-1'));
    expect(views.map((v) => [v.status, v.awaiting_rollback, v.grant])).toEqual([
      ['open', false, null],
      ['approved', true, null],
      ['approved', false, 'g.g.g'],
    ]);
    expect(seen.length).toBe(3);
    expect(sleeps).toEqual([1_000, 1_000]);
  });

  it('passes the gateway error code through, and refuses what is not the documented stream', async () => {
    const cases: [Response, string, number | null][] = [
      [json(404, { error: { code: 'REQUEST_UNKNOWN', message: 'no request `req-1`' } }), 'REQUEST_UNKNOWN', 404],
      [json(403, { error: { code: 'FORBIDDEN', message: 'no' } }), 'FORBIDDEN', 403],
      [json(200, view('open')), 'BAD_RESPONSE', 200],
      [streamed([': keep-alive\n\n'], SSE), 'BAD_RESPONSE', null],
      [streamed(['event: request\ndata: {not json\n\n'], SSE), 'BAD_RESPONSE', null],
      [streamed([event(1, { ...view('approved'), id: 'req-2' })], SSE), 'BAD_RESPONSE', null],
    ];
    for (const [response, code, status] of cases) {
      const client = new CountersignClient({ server: 'http://gw', token: TOKEN, fetch: async () => response });
      const err = (await collect(client.watchRequest('req-1')).catch((e: unknown) => e)) as CountersignClientError;
      expect([err.code, err.status], code).toEqual([code, status]);
    }
    const refused = new CountersignClient({ server: 'http://gw', token: TOKEN, fetch: () => Promise.reject(new TypeError('fetch failed')) });
    await expect(collect(refused.watchRequest('req-1'))).rejects.toMatchObject({ code: 'UNREACHABLE' });
  });

  it('ends the connection when the caller stops early, or aborts', async () => {
    let cancelled = 0;
    const open = () => streamed([event(1, view('open'))], SSE, { hang: true, onCancel: () => (cancelled += 1) });
    const client = new CountersignClient({ server: 'http://gw', token: TOKEN, fetch: async () => open() });
    for await (const v of client.watchRequest('req-1')) {
      expect(v.status).toBe('open');
      break;
    }
    expect(cancelled).toBe(1);

    const controller = new AbortController();
    const seenViews: string[] = [];
    const watching = (async () => {
      for await (const v of client.watchRequest('req-1', { signal: controller.signal })) {
        seenViews.push(v.status);
        controller.abort(new Error('enough'));
      }
    })();
    await expect(watching).rejects.toThrow('enough');
    expect([seenViews, cancelled]).toEqual([['open'], 2]);
  });
});

describe('exportLedger', () => {
  const JSONL = 'application/jsonl';

  it('yields each line as bytes, exactly as sent, whatever the chunking', async () => {
    const lines = ['{"countersign_ledger":1,"origin":"o"}', '{"seq":0,"text":"é"}', '{"checkpoint":"o\\n1\\n"}'];
    const bytes = new TextEncoder().encode(lines.map((l) => `${l}\n`).join(''));
    // split inside the two-byte `é` and inside a line
    const { fetch, seen } = fakeFetch(() => streamed([bytes.subarray(0, 50), bytes.subarray(50, 57), bytes.subarray(57)], JSONL));
    const client = new CountersignClient({ server: 'http://gw', token: TOKEN, fetch });
    const got = await collect(client.exportLedger());
    expect(got.map((l) => new TextDecoder().decode(l))).toEqual(lines);
    expect(seen.map((r) => `${r.method} ${r.url}`)).toEqual(['GET http://gw/v1/ledger/export']);
    expect(seen[0]?.headers).toEqual({ accept: 'application/jsonl', authorization: `Bearer ${TOKEN}` });
  });

  it('ends in UNREACHABLE when the gateway goes silent mid-stream, and passes error codes through', async () => {
    const hung = new CountersignClient({ server: 'http://gw', token: TOKEN, timeoutMs: 20, fetch: async () => streamed(['{"a":1}\n'], JSONL, { hang: true }) });
    const got: Uint8Array[] = [];
    const err = (await (async () => {
      for await (const line of hung.exportLedger()) got.push(line);
    })().catch((e: unknown) => e)) as CountersignClientError;
    expect([err.code, got.length]).toEqual(['UNREACHABLE', 1]);

    const silentHeaders = new CountersignClient({ server: 'http://gw', token: TOKEN, timeoutMs: 20, fetch: () => new Promise(() => undefined) });
    await expect(collect(silentHeaders.exportLedger())).rejects.toMatchObject({ code: 'UNREACHABLE' });

    const forbidden = new CountersignClient({
      server: 'http://gw',
      token: TOKEN,
      fetch: async () => json(403, { error: { code: 'FORBIDDEN', message: 'an agent credential cannot `ledger_read`' } }),
    });
    await expect(collect(forbidden.exportLedger())).rejects.toMatchObject({ code: 'FORBIDDEN', status: 403 });
  });
});
