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
    await client.proposal('p 1/..');
    await client.status('req-1');
    await client.approve('req-1', signed);
    await client.deny('req-1', { ...signed, statement: { ...signed.statement, decision: 'deny' } });
    await client.execute('jws.jws.jws', { action: 'a.b', environment: 'prod', target: 't', params: {} });
    await client.reportOutcome('exe-1', 'succeeded', 'done');
    await client.openHold({ trip_gate: 'K1' });
    await client.addEvidence('h1', { evidence_hash: 'sha256:00' });
    await client.liftHold('h1');
    await client.requestOverride({ hold: 'h1' });
    await client.submitOverride('ov1', []);
    await client.registerRollback({ step: 's1' });
    await client.rollback('art1');
    await client.halt({ scope: { kind: 'all' } });
    await client.liftHalt('halt1');
    await client.checkpoint();
    await client.prove(42);

    expect(seen.map((r) => `${r.method} ${r.url.replace('http://127.0.0.1:8080', '')}`)).toEqual([
      'POST /v1/proposals',
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
    ]);
    for (const r of seen) {
      expect(r.headers['authorization']).toBe(`Bearer ${TOKEN}`);
      expect(r.url).not.toContain(TOKEN);
      expect(r.headers['content-type']).toBe(r.method === 'POST' ? 'application/json' : undefined);
    }
    expect(seen[0]?.body).toEqual(proposal);
    expect(seen[3]?.body).toEqual(signed);
    expect(seen[5]?.body).toEqual({ grant: 'jws.jws.jws', step: { action: 'a.b', environment: 'prod', target: 't', params: {} } });
    expect(seen[6]?.body).toEqual({ outcome: 'succeeded', detail: 'done' });
    expect(seen[11]?.body).toEqual({ signatures: [] });
    // every endpoint of the table is exercised above (wait in the next test)
    expect(Object.keys(ENDPOINTS).length).toBe(seen.length + 1);
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
