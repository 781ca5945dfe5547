import type { KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { newEd25519KeyPair, stepDigest } from '@countersign/core';
import { CountersignClient, type FetchLike } from './client.js';
import { guardTool, type GuardedStep } from './guard.js';

const gateway = newEd25519KeyPair();
const stranger = newEd25519KeyPair();
const BUNDLE = 'sha256-bundle-1';
const NOW = Date.parse('2026-05-15T09:20:00Z');

const step: GuardedStep = {
  agent: 'payments-copilot',
  on_behalf_of: 'olivia',
  surface: 'copilot-console',
  action: 'workers.restart_pool',
  environment: 'prod',
  target: 'payments-worker',
  params: { strategy: 'rolling' },
  expected_consequence: 'workers restart one by one',
};

function grantFor(s: { action: string; environment: string; target: string; params: Record<string, unknown> }, key: KeyObject = gateway.privateKey) {
  return new SignJWT({
    jti: 'grt-1',
    iat: NOW / 1000,
    exp: NOW / 1000 + 600,
    step_digest: stepDigest(s as Parameters<typeof stepDigest>[0], BUNDLE),
    environment: s.environment,
    target: s.target,
    bundle_id: BUNDLE,
    request_id: null,
  })
    .setProtectedHeader({ alg: 'EdDSA' })
    .sign(key);
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });
const decided = (effect: string, extra: Record<string, unknown> = {}) => ({
  proposal: 'prp-1',
  bundle_id: BUNDLE,
  steps: [{ step: 'prp-1.0', index: 0, effect, reasons: [], rule_ids: [], digest: null, request: null, grant: null, awaiting_rollback: false, ...extra }],
});

/** A scripted gateway: route by `METHOD path` to an answer; records every call. */
function gatewayDouble(routes: Record<string, (body: unknown) => Response | Promise<Response>>) {
  const calls: { route: string; body: unknown }[] = [];
  const urls: string[] = [];
  const fetch: FetchLike = async (url, init) => {
    urls.push(url);
    const route = `${init.method} ${new URL(url).pathname}`;
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    calls.push({ route, body });
    const answer = routes[route];
    return answer ? answer(body) : json(404, { error: { code: 'NOT_FOUND', message: 'no route' } });
  };
  const client = new CountersignClient({ server: 'http://gw', token: 'cst_aaaaaaaaaaaaaaaa_x', fetch, now: () => NOW, sleep: async () => undefined });
  return { client, calls, urls, routes: () => calls.map((c) => c.route) };
}

const presented = { action: step.action, environment: step.environment, target: step.target, params: step.params! };

describe('guardTool', () => {
  it('runs the tool once the allowed step is recorded as executed in one call, then reports success', async () => {
    const gw = gatewayDouble({
      'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: 'exe-1', digest: stepDigest(presented, BUNDLE) })),
      'POST /v1/executions/exe-1/outcome': () => json(200, { execution: 'exe-1', outcome: 'succeeded' }),
    });
    let ran = 0;
    const result = await guardTool(gw.client, step, () => ++ran);
    expect([result, ran]).toEqual([1, 1]);
    expect(gw.routes()).toEqual(['POST /v1/proposals/execute', 'POST /v1/executions/exe-1/outcome']);
    expect(gw.urls[0]).toBe('http://gw/v1/proposals/execute?resume=true');
    expect(gw.calls[0]?.body).toEqual({
      agent: 'payments-copilot',
      on_behalf_of: 'olivia',
      surface: 'copilot-console',
      steps: [{ ...presented, expected_consequence: 'workers restart one by one' }],
    });
    expect(gw.calls[1]?.body).toEqual({ outcome: 'succeeded' });
  });

  it('never runs the tool when the execution recorded is for another step, and says so on it', async () => {
    const gw = gatewayDouble({
      'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: 'exe-1', digest: stepDigest({ ...presented, target: 'payments-db' }, BUNDLE) })),
      'POST /v1/executions/exe-1/outcome': () => json(200, { execution: 'exe-1', outcome: 'failed' }),
    });
    let ran = false;
    await expect(guardTool(gw.client, step, () => (ran = true))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(ran).toBe(false);
    expect(gw.calls.at(-1)?.body).toMatchObject({ outcome: 'failed' });
  });

  it('judges a result the tool returned, and opens no second request when told not to resume', async () => {
    const gw = gatewayDouble({
      'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: 'exe-1', digest: stepDigest(presented, BUNDLE) })),
      'POST /v1/executions/exe-1/outcome': () => json(200, { execution: 'exe-1', outcome: 'failed' }),
    });
    expect(await guardTool(gw.client, step, () => ({ isError: true }), { resume: false, judge: (r) => (r.isError ? 'failed' : 'succeeded') })).toEqual({ isError: true });
    expect(gw.urls[0]).toBe('http://gw/v1/proposals/execute');
    expect(gw.calls.at(-1)?.body).toEqual({ outcome: 'failed' });
  });

  it('waits for approval, then runs with the grant the approved request carries', async () => {
    const grant = await grantFor(presented);
    let polls = 0;
    const gw = gatewayDouble({
      'POST /v1/proposals/execute': () => json(201, decided('require_approval', { request: 'req-1' })),
      'GET /v1/requests/req-1': () => json(200, { id: 'req-1', status: ++polls < 2 ? 'open' : 'approved', grant: polls < 2 ? null : grant }),
      'POST /v1/executions': () => json(201, { execution: 'exe-1' }),
      'POST /v1/executions/exe-1/outcome': () => json(200, { execution: 'exe-1', outcome: 'succeeded' }),
    });
    const pending: unknown[] = [];
    expect(await guardTool(gw.client, step, () => 'restarted', { onPending: (p) => pending.push(p) })).toBe('restarted');
    expect(gw.routes()).toEqual(['POST /v1/proposals/execute', 'GET /v1/requests/req-1', 'GET /v1/requests/req-1', 'POST /v1/executions', 'POST /v1/executions/exe-1/outcome']);
    expect(pending).toEqual([{ request: 'req-1', link: 'http://gw/console/requests/req-1' }]);
    expect(gw.calls[3]?.body).toEqual({ grant, step: presented });
  });

  it('fails closed: denied, held, denied request, awaiting rollback, unreachable or refused consumption never run the tool', async () => {
    const grant = await grantFor(presented);
    const cases: [string, Record<string, (body: unknown) => Response | Promise<Response>>, string][] = [
      ['deny', { 'POST /v1/proposals/execute': () => json(201, decided('deny', { reasons: ['PREREQUISITE_MISSING'] })) }, 'NOT_GRANTED'],
      ['held', { 'POST /v1/proposals/execute': () => json(201, decided('held', { reasons: ['HOLD_ACTIVE'] })) }, 'NOT_GRANTED'],
      ['allowed, awaiting its rollback', { 'POST /v1/proposals/execute': () => json(201, decided('allow', { awaiting_rollback: true })) }, 'NOT_GRANTED'],
      ['allowed, refused at execution by a halt', { 'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: null, refused: 'HALT_ACTIVE' })) }, 'NOT_GRANTED'],
      [
        'request denied',
        {
          'POST /v1/proposals/execute': () => json(201, decided('require_approval', { request: 'req-1' })),
          'GET /v1/requests/req-1': () => json(200, { id: 'req-1', status: 'denied', grant: null }),
        },
        'NOT_GRANTED',
      ],
      [
        'approved without a grant',
        {
          'POST /v1/proposals/execute': () => json(201, decided('require_approval', { request: 'req-1' })),
          'GET /v1/requests/req-1': () => json(200, { id: 'req-1', status: 'approved', grant: null }),
        },
        'NOT_GRANTED',
      ],
      ['agent token refused', { 'POST /v1/proposals/execute': () => json(403, { error: { code: 'FORBIDDEN', message: 'no' } }) }, 'FORBIDDEN'],
      [
        'grant already used',
        {
          'POST /v1/proposals/execute': () => json(201, decided('require_approval', { request: 'req-1' })),
          'GET /v1/requests/req-1': () => json(200, { id: 'req-1', status: 'approved', grant }),
          'POST /v1/executions': () => json(409, { error: { code: 'GRANT_USED', message: 'the grant was already consumed' } }),
        },
        'GRANT_USED',
      ],
      [
        'unreachable at consumption',
        {
          'POST /v1/proposals/execute': () => json(201, decided('require_approval', { request: 'req-1' })),
          'GET /v1/requests/req-1': () => json(200, { id: 'req-1', status: 'approved', grant }),
          'POST /v1/executions': () => Promise.reject(new TypeError('fetch failed')),
        },
        'UNREACHABLE',
      ],
    ];
    for (const [name, routes, code] of cases) {
      const gw = gatewayDouble(routes);
      let ran = false;
      await expect(
        guardTool(gw.client, step, () => {
          ran = true;
        }),
        name,
      ).rejects.toMatchObject({ code });
      expect(ran, name).toBe(false);
      expect(gw.routes(), name).not.toContain('POST /v1/executions/exe-1/outcome');
    }
  });

  it('refuses a grant for another step or by another key before consuming it', async () => {
    const widened = await grantFor({ ...presented, target: 'payments/shard-7' });
    const forged = await grantFor(presented, stranger.privateKey);
    for (const [grant, publicKey, code] of [
      [widened, undefined, 'DIGEST_MISMATCH'],
      [widened, gateway.publicKey, 'DIGEST_MISMATCH'],
      [forged, gateway.publicKey, 'BAD_SIGNATURE'],
      ['garbage', undefined, 'GRANT_INVALID'],
    ] as const) {
      const gw = gatewayDouble({
        'POST /v1/proposals/execute': () => json(201, decided('require_approval', { request: 'req-1' })),
        'GET /v1/requests/req-1': () => json(200, { id: 'req-1', status: 'approved', grant }),
      });
      let ran = false;
      const run = guardTool(gw.client, step, () => (ran = true), publicKey === undefined ? {} : { publicKey, now: () => NOW });
      await expect(run).rejects.toMatchObject({ code });
      expect(ran).toBe(false);
      expect(gw.routes()).toEqual(['POST /v1/proposals/execute', 'GET /v1/requests/req-1']);
    }
  });

  it('reports a failing tool as failed (or ambiguous) and rethrows its error', async () => {
    const gw = gatewayDouble({
      'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: 'exe-1', digest: stepDigest(presented, BUNDLE) })),
      'POST /v1/executions/exe-1/outcome': () => json(200, { execution: 'exe-1', outcome: 'failed' }),
    });
    const boom = new RangeError('secret=hunter2');
    await expect(guardTool(gw.client, step, () => Promise.reject(boom))).rejects.toBe(boom);
    expect(gw.calls.at(-1)?.body).toEqual({ outcome: 'failed', detail: 'RangeError' });
    await expect(guardTool(gw.client, step, () => Promise.reject(boom), { classify: () => 'ambiguous' })).rejects.toBe(boom);
    expect(gw.calls.at(-1)?.body).toEqual({ outcome: 'ambiguous', detail: 'RangeError' });
  });

  it('keeps the tool result when reporting the outcome fails, and says so', async () => {
    const gw = gatewayDouble({
      'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: 'exe-1', digest: stepDigest(presented, BUNDLE) })),
      'POST /v1/executions/exe-1/outcome': () => Promise.reject(new TypeError('fetch failed')),
    });
    const errors: unknown[] = [];
    expect(await guardTool(gw.client, step, () => 'done', { onReportError: (e) => errors.push(e) })).toBe('done');
    expect(errors).toEqual([expect.objectContaining({ code: 'UNREACHABLE' })]);
  });

  it('in the background, returns the result before the outcome is answered, and hands over the report to await', async () => {
    let answer: (value: Response) => void = () => undefined;
    const gw = gatewayDouble({
      'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: 'exe-1', digest: stepDigest(presented, BUNDLE) })),
      'POST /v1/executions/exe-1/outcome': () => new Promise<Response>((resolve) => (answer = resolve)),
    });
    const reports: Promise<void>[] = [];
    expect(await guardTool(gw.client, step, () => 'done', { background: (p) => reports.push(p) })).toBe('done');
    // the result came back while the outcome was still unanswered
    expect(reports).toHaveLength(1);
    expect(gw.calls.at(-1)?.body).toEqual({ outcome: 'succeeded' });
    let settled = false;
    void reports[0]!.then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    answer(json(200, { execution: 'exe-1', outcome: 'succeeded' }));
    await reports[0];
    expect(settled).toBe(true);
  });

  it('in the background, a failed report (even with a throwing onReportError) never rejects', async () => {
    const gw = gatewayDouble({
      'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: 'exe-1', digest: stepDigest(presented, BUNDLE) })),
      'POST /v1/executions/exe-1/outcome': () => Promise.reject(new TypeError('fetch failed')),
    });
    const reports: Promise<void>[] = [];
    const boom = new RangeError('tool failed');
    const run = guardTool(gw.client, step, () => Promise.reject(boom), {
      background: (p) => reports.push(p),
      onReportError: () => {
        throw new Error('the logger broke');
      },
    });
    await expect(run).rejects.toBe(boom);
    await expect(reports[0]).resolves.toBeUndefined();
  });
});
