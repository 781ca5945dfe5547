import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { newEd25519KeyPair, stepDigest } from '@countersign/core';
import { CountersignClient, type FetchLike } from '../client.js';
import type { ToolGuard } from './tool-guard.js';

/**
 * One suite, every framework adapter (as `store.contract.ts` is for stores):
 * each adapter's test drives its framework's own agent loop with the
 * framework's scripted model, which calls the wrapped tool once and then
 * answers, against a scripted gateway.
 */

/** The tool every harness wraps: a restart of a worker pool, as in examples/payments/policy.yaml. */
export interface RestartInput {
  readonly pool: string;
  readonly strategy: 'rolling' | 'immediate';
}

export interface AgentRun {
  /** The tool's result as the model read it on its next turn (text). */
  readonly seen: string;
}

export interface AdapterHarness {
  /**
   * Wrap `restart` as the framework's tool with the adapter under test, and run
   * the framework's agent loop with a scripted model that calls it once with
   * `call` and then ends its turn.
   */
  run(scenario: { readonly guard: ToolGuard<RestartInput, string>; readonly restart: (input: RestartInput) => Promise<string>; readonly call: RestartInput }): Promise<AgentRun>;
}

const BUNDLE = 'sha256-bundle-1';
const NOW = Date.parse('2026-05-15T09:20:00Z');
const keys = newEd25519KeyPair();
export const header = { agent: 'payments-copilot', on_behalf_of: 'olivia', surface: 'copilot-console' } as const;

export const stepFor = (input: RestartInput) => ({ action: 'workers.restart_pool', environment: 'prod', target: input.pool, params: { strategy: input.strategy } });

function grantFor(s: ReturnType<typeof stepFor>) {
  return new SignJWT({
    jti: 'grt-1',
    iat: NOW / 1000,
    exp: NOW / 1000 + 600,
    step_digest: stepDigest(s, BUNDLE),
    environment: s.environment,
    target: s.target,
    bundle_id: BUNDLE,
    request_id: 'req-1',
  })
    .setProtectedHeader({ alg: 'EdDSA' })
    .sign(keys.privateKey);
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });
const decided = (effect: string, extra: Record<string, unknown> = {}) => ({
  proposal: 'prp-1',
  bundle_id: BUNDLE,
  steps: [{ step: 'prp-1.0', index: 0, effect, reasons: [], rule_ids: [], digest: null, request: null, grant: null, awaiting_rollback: false, ...extra }],
});

/** A scripted gateway: route by `METHOD path` to an answer; records every call. */
export function gatewayDouble(routes: Record<string, (body: unknown) => Response | Promise<Response>>) {
  const calls: { route: string; body: unknown }[] = [];
  const fetch: FetchLike = async (url, init) => {
    const route = `${init.method} ${new URL(url).pathname}`;
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : undefined;
    calls.push({ route, body });
    const answer = routes[route];
    return answer ? answer(body) : json(404, { error: { code: 'NOT_FOUND', message: 'no route' } });
  };
  const client = new CountersignClient({ server: 'http://gw', token: 'cst_aaaaaaaaaaaaaaaa_x', fetch, now: () => NOW, sleep: async () => undefined });
  return { client, calls, routes: () => calls.map((c) => c.route) };
}

/** The gateway's answers when the policy allows the step `input` maps to: recorded at once, outcome accepted. */
export function allowing(input: RestartInput): Record<string, () => Response> {
  return {
    'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: 'exe-1', digest: stepDigest(stepFor(input), BUNDLE) })),
    'POST /v1/executions/exe-1/outcome': () => json(200, { execution: 'exe-1', outcome: 'succeeded' }),
  };
}

/** The gateway's answer when the policy denies every step. */
export function denying(): Record<string, () => Response> {
  return { 'POST /v1/proposals/execute': () => json(201, decided('deny', { reasons: ['PREREQUISITE_MISSING'] })) };
}

/** A restart that records each run. */
function restarts(fail?: Error) {
  const runs: RestartInput[] = [];
  const restart = async (input: RestartInput): Promise<string> => {
    runs.push(input);
    if (fail !== undefined) throw fail;
    return `restarted ${input.pool} (${input.strategy})`;
  };
  return { runs, restart };
}

export function runAdapterContract(framework: string, harness: AdapterHarness): void {
  const call: RestartInput = { pool: 'payments-worker', strategy: 'rolling' };

  describe(`${framework} adapter`, () => {
    it('runs an allowed tool once, after the one-call proposal, and reports it succeeded', async () => {
      const gw = gatewayDouble({
        'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: 'exe-1', digest: stepDigest(stepFor(call), BUNDLE) })),
        'POST /v1/executions/exe-1/outcome': () => json(200, { execution: 'exe-1', outcome: 'succeeded' }),
      });
      const tool = restarts();
      const { seen } = await harness.run({ guard: { gateway: gw.client, header, step: stepFor }, restart: tool.restart, call });
      expect(tool.runs).toEqual([call]);
      expect(gw.routes()).toEqual(['POST /v1/proposals/execute', 'POST /v1/executions/exe-1/outcome']);
      expect(gw.calls[1]?.body).toEqual({ outcome: 'succeeded' });
      expect(seen).toContain('restarted payments-worker (rolling)');
    });

    it('proposes the step mapped from the arguments the model gave', async () => {
      const other: RestartInput = { pool: 'payments-worker-2', strategy: 'immediate' };
      const gw = gatewayDouble({
        'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: 'exe-1', digest: stepDigest(stepFor(other), BUNDLE) })),
        'POST /v1/executions/exe-1/outcome': () => json(200, { execution: 'exe-1', outcome: 'succeeded' }),
      });
      const tool = restarts();
      await harness.run({ guard: { gateway: gw.client, header, step: stepFor }, restart: tool.restart, call: other });
      expect(gw.calls[0]?.body).toEqual({
        ...header,
        steps: [{ action: 'workers.restart_pool', environment: 'prod', target: 'payments-worker-2', params: { strategy: 'immediate' } }],
      });
      expect(tool.runs).toEqual([other]);
    });

    it('waits for approval, consumes the grant, then runs the tool', async () => {
      const grant = await grantFor(stepFor(call));
      let polls = 0;
      const gw = gatewayDouble({
        'POST /v1/proposals/execute': () => json(201, decided('require_approval', { request: 'req-1' })),
        'GET /v1/requests/req-1': () => json(200, { id: 'req-1', status: ++polls < 2 ? 'open' : 'approved', grant: polls < 2 ? null : grant }),
        'POST /v1/executions': () => json(201, { execution: 'exe-1' }),
        'POST /v1/executions/exe-1/outcome': () => json(200, { execution: 'exe-1', outcome: 'succeeded' }),
      });
      const tool = restarts();
      const pending: unknown[] = [];
      const ranWhenPending: number[] = [];
      const { seen } = await harness.run({
        guard: { gateway: gw.client, header, step: stepFor, onPending: (p) => (pending.push(p), ranWhenPending.push(tool.runs.length)) },
        restart: tool.restart,
        call,
      });
      expect(pending).toEqual([{ request: 'req-1', link: 'http://gw/console/requests/req-1' }]);
      expect(ranWhenPending).toEqual([0]);
      expect(gw.routes()).toEqual(['POST /v1/proposals/execute', 'GET /v1/requests/req-1', 'GET /v1/requests/req-1', 'POST /v1/executions', 'POST /v1/executions/exe-1/outcome']);
      expect(gw.calls[3]?.body).toEqual({ grant, step: stepFor(call) });
      expect(tool.runs).toEqual([call]);
      expect(seen).toContain('restarted payments-worker (rolling)');
    });

    it('never runs a denied tool, and the model reads the refusal and its reasons', async () => {
      const gw = gatewayDouble({
        'POST /v1/proposals/execute': () => json(201, decided('deny', { reasons: ['PREREQUISITE_MISSING'] })),
      });
      const tool = restarts();
      const { seen } = await harness.run({ guard: { gateway: gw.client, header, step: stepFor }, restart: tool.restart, call });
      expect(tool.runs).toEqual([]);
      expect(gw.routes()).toEqual(['POST /v1/proposals/execute']);
      expect(seen).toContain('NOT_GRANTED');
      expect(seen).toContain('PREREQUISITE_MISSING');
      expect(seen).not.toContain('restarted');
    });

    it('never runs the tool when approvers deny the request', async () => {
      const gw = gatewayDouble({
        'POST /v1/proposals/execute': () => json(201, decided('require_approval', { request: 'req-1' })),
        'GET /v1/requests/req-1': () => json(200, { id: 'req-1', status: 'denied', grant: null }),
      });
      const tool = restarts();
      const { seen } = await harness.run({ guard: { gateway: gw.client, header, step: stepFor }, restart: tool.restart, call });
      expect(tool.runs).toEqual([]);
      expect(gw.routes()).toEqual(['POST /v1/proposals/execute', 'GET /v1/requests/req-1']);
      expect(seen).toContain('NOT_GRANTED');
      expect(seen).toContain('req-1');
    });

    it('reports a tool that threw as failed, with the error name only', async () => {
      const gw = gatewayDouble({
        'POST /v1/proposals/execute': () => json(201, decided('allow', { execution: 'exe-1', digest: stepDigest(stepFor(call), BUNDLE) })),
        'POST /v1/executions/exe-1/outcome': () => json(200, { execution: 'exe-1', outcome: 'failed' }),
      });
      const tool = restarts(new RangeError('pool busy'));
      const { seen } = await harness.run({ guard: { gateway: gw.client, header, step: stepFor }, restart: tool.restart, call });
      expect(tool.runs).toEqual([call]);
      expect(gw.calls.at(-1)?.body).toEqual({ outcome: 'failed', detail: 'RangeError' });
      expect(seen).toContain('pool busy');
      expect(seen).not.toContain('NOT_GRANTED');
    });
  });
}
