import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhookSignature, WebhookNotifier, type ApprovalRequested, type WebhookDelivery } from './webhook.js';

const SECRET = 'whsec_test_0123456789abcdef';
const env = { PAGER_SECRET: SECRET, SLACK_SECRET: SECRET };

const request: ApprovalRequested = {
  request_id: 'req-1',
  action: 'workers.restart_pool',
  target: 'payments-worker',
  environment: 'prod',
  risk: 'high',
  expected_consequence: 'workers restart one by one',
  rollback_plan: null,
  step_digest: `sha256:${'ab'.repeat(32)}`,
  link: 'https://countersign.internal/console/requests/req-1',
};

interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  signatureValid: boolean;
}

/**
 * A receiver written the way docs/webhooks.md tells one to be, independently
 * of the module under test: HMAC-SHA256 over `${t}.${body}`, compared in
 * constant time. It fails the first attempt of every delivery with a 503.
 */
let server: Server;
let base = '';
const received: Received[] = [];
const seenDeliveries = new Set<string>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const header = String(req.headers['countersign-signature'] ?? '');
      const t = /(?:^|,)t=(\d+)/.exec(header)?.[1] ?? '';
      const v1 = /(?:^|,)v1=([0-9a-f]{64})/.exec(header)?.[1] ?? '';
      const expected = createHmac('sha256', SECRET).update(`${t}.${body}`).digest();
      const signatureValid = v1.length === 64 && timingSafeEqual(Buffer.from(v1, 'hex'), expected) && Math.abs(Date.now() / 1000 - Number(t)) < 300;
      received.push({ path: req.url ?? '', headers: req.headers, body, signatureValid });
      const delivery = String(req.headers['countersign-delivery']);
      if (req.url === '/gone') {
        res.writeHead(410).end();
      } else if (!seenDeliveries.has(delivery)) {
        seenDeliveries.add(delivery);
        res.writeHead(503).end('try later');
      } else {
        res.writeHead(signatureValid ? 204 : 401).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const quickSleep = async () => undefined;

describe('webhook notifications', () => {
  it('posts the signed event, retries after a failed first attempt and reports every attempt', async () => {
    received.length = 0;
    const deliveries: WebhookDelivery[] = [];
    const notifier = new WebhookNotifier({
      webhooks: [{ id: 'pager', url: `${base}/hooks/pager`, secret_env: 'PAGER_SECRET', risks: [] }],
      env,
      sleep: quickSleep,
      onDelivery: (d) => void deliveries.push(d),
    });
    expect(notifier.approvalRequested(request)).toBeUndefined();
    await notifier.idle();

    expect(received.map((r) => [r.path, r.signatureValid])).toEqual([
      ['/hooks/pager', true],
      ['/hooks/pager', true],
    ]);
    const [first, second] = received as [Received, Received];
    expect(JSON.parse(second.body)).toEqual({ event: 'approval.requested', ...request });
    expect(second.headers['content-type']).toBe('application/json');
    expect(second.headers['countersign-event']).toBe('approval.requested');
    // retries carry the same body and delivery id, so a receiver can deduplicate
    expect(second.body).toBe(first.body);
    expect(second.headers['countersign-delivery']).toBe(first.headers['countersign-delivery']);
    expect(deliveries.map((d) => [d.webhook, d.attempt, d.ok, d.status, d.error, d.final])).toEqual([
      ['pager', 1, false, 503, 'REJECTED', false],
      ['pager', 2, true, 204, undefined, true],
    ]);
    expect(deliveries[0]?.request_id).toBe('req-1');
  });

  it('skips and reports a webhook whose secret is missing, never sending it unsigned, and filters by risk', async () => {
    received.length = 0;
    const deliveries: WebhookDelivery[] = [];
    const notifier = new WebhookNotifier({
      webhooks: [
        { id: 'nosecret', url: `${base}/hooks/nosecret`, secret_env: 'UNSET_SECRET', risks: [] },
        { id: 'empty', url: `${base}/hooks/empty`, secret_env: 'EMPTY_SECRET', risks: [] },
        { id: 'critical-only', url: `${base}/hooks/critical`, secret_env: 'PAGER_SECRET', risks: ['critical'] },
        { id: 'high', url: `${base}/hooks/high`, secret_env: 'SLACK_SECRET', risks: ['high', 'critical'] },
      ],
      env: { ...env, EMPTY_SECRET: '' },
      sleep: quickSleep,
      onDelivery: (d) => void deliveries.push(d),
    });
    notifier.approvalRequested(request);
    await notifier.idle();
    expect(received.map((r) => r.path)).toEqual(['/hooks/high', '/hooks/high']);
    expect(deliveries.filter((d) => d.final).map((d) => [d.webhook, d.attempt, d.ok, d.error]).sort()).toEqual([
      ['empty', 0, false, 'SECRET_MISSING'],
      ['high', 2, true, undefined],
      ['nosecret', 0, false, 'SECRET_MISSING'],
    ]);
  });

  it('gives up after bounded attempts with exponential, jittered, capped backoff, and never throws', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const sleeps: number[] = [];
    const deliveries: WebhookDelivery[] = [];
    const notifier = new WebhookNotifier({
      webhooks: [{ id: 'dead', url: `http://127.0.0.1:${deadPort}/x`, secret_env: 'PAGER_SECRET', risks: [] }],
      env,
      maxAttempts: 5,
      baseDelayMs: 1_000,
      maxDelayMs: 5_000,
      random: () => 0.5,
      sleep: async (ms) => void sleeps.push(ms),
      onDelivery: (d) => {
        deliveries.push(d);
        throw new Error('the ledger is down too');
      },
    });
    expect(() => notifier.approvalRequested(request)).not.toThrow();
    await notifier.idle();
    // steps 1s, 2s, 4s, 5s (capped), each jittered to 3/4 with random() = 0.5
    expect(sleeps).toEqual([750, 1_500, 3_000, 3_750]);
    expect(deliveries.map((d) => [d.attempt, d.ok, d.error, d.final])).toEqual([
      [1, false, 'UNREACHABLE', false],
      [2, false, 'UNREACHABLE', false],
      [3, false, 'UNREACHABLE', false],
      [4, false, 'UNREACHABLE', false],
      [5, false, 'UNREACHABLE', true],
    ]);
  });

  it('does not retry a permanent refusal, and stops retrying on close', async () => {
    received.length = 0;
    const deliveries: WebhookDelivery[] = [];
    const gone = new WebhookNotifier({
      webhooks: [{ id: 'gone', url: `${base}/gone`, secret_env: 'PAGER_SECRET', risks: [] }],
      env,
      sleep: quickSleep,
      onDelivery: (d) => void deliveries.push(d),
    });
    gone.approvalRequested(request);
    await gone.idle();
    expect(deliveries.map((d) => [d.attempt, d.status, d.error, d.final])).toEqual([[1, 410, 'REJECTED', true]]);

    deliveries.length = 0;
    let closing: Promise<void> | undefined;
    const stopping = new WebhookNotifier({
      webhooks: [{ id: 'retry', url: `${base}/hooks/retry`, secret_env: 'PAGER_SECRET', risks: [] }],
      env,
      sleep: async (_ms, signal) => {
        closing = stopping.close();
        expect(signal.aborted).toBe(true);
      },
      onDelivery: (d) => void deliveries.push(d),
    });
    stopping.approvalRequested(request);
    await stopping.idle();
    await closing;
    expect(deliveries.map((d) => [d.attempt, d.error, d.final])).toEqual([
      [1, 'REJECTED', false],
      [1, 'CANCELLED', true],
    ]);
    stopping.approvalRequested(request);
    await stopping.idle();
    expect(deliveries).toHaveLength(2);
  });
});

describe('webhook delivery in turn', () => {
  const pager = { id: 'pager', url: 'http://127.0.0.1:9/hook', secret_env: 'PAGER_SECRET', risks: [] };

  it('has at most maxConcurrent deliveries under way to one webhook; the rest wait their turn, and every one is delivered', async () => {
    let underWay = 0;
    let most = 0;
    const fetch = async (): Promise<Response> => {
      most = Math.max(most, ++underWay);
      await new Promise((resolve) => setTimeout(resolve, 2));
      underWay -= 1;
      return new Response(null, { status: 204 });
    };
    const deliveries: WebhookDelivery[] = [];
    // another webhook has its own turn: it is not held behind the first one's queue
    const other = { ...pager, id: 'other' };
    const notifier = new WebhookNotifier({ webhooks: [pager, other], env, fetch, maxConcurrent: 3, onDelivery: (d) => void deliveries.push(d) });
    for (let i = 0; i < 40; i++) notifier.approvalRequested({ ...request, request_id: `req-${i}` });
    await notifier.idle();
    expect(most).toBe(6);
    for (const id of ['pager', 'other']) {
      const ok = deliveries.filter((d) => d.webhook === id && d.ok);
      expect(new Set(ok.map((d) => d.request_id)).size).toBe(40);
    }
  });

  it('cancels the deliveries still waiting their turn when it closes, and records each', async () => {
    let answer: () => void = () => undefined;
    const fetch = (): Promise<Response> => new Promise((resolve) => (answer = () => resolve(new Response(null, { status: 204 }))));
    const deliveries: WebhookDelivery[] = [];
    const notifier = new WebhookNotifier({ webhooks: [pager], env, fetch, maxConcurrent: 1, onDelivery: (d) => void deliveries.push(d) });
    for (let i = 0; i < 3; i++) notifier.approvalRequested({ ...request, request_id: `req-${i}` });
    const closed = notifier.close();
    answer();
    await closed;
    expect(deliveries.map((d) => [d.request_id, d.ok, d.error ?? null])).toEqual([
      ['req-0', true, null],
      ['req-1', false, 'CANCELLED'],
      ['req-2', false, 'CANCELLED'],
    ]);
  });
});

describe('webhook signatures', () => {
  it('verify for the right secret, body and time only', () => {
    const body = JSON.stringify({ event: 'approval.requested', ...request });
    const now = 1_778_836_800;
    const header = signWebhook(body, SECRET, now);
    expect(header).toMatch(/^t=1778836800,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(header, body, SECRET, now + 10)).toBe(true);
    expect(verifyWebhookSignature(`${header},v1=${'0'.repeat(64)}`, body, SECRET, now)).toBe(true);
    expect(verifyWebhookSignature(header, body.replace('prod', 'dev'), SECRET, now)).toBe(false);
    expect(verifyWebhookSignature(header, body, 'another-secret', now)).toBe(false);
    expect(verifyWebhookSignature(header, body, SECRET, now + 301)).toBe(false);
    expect(verifyWebhookSignature(header.replace(/t=\d+/, `t=${now + 5}`), body, SECRET, now)).toBe(false);
    expect(verifyWebhookSignature(undefined, body, SECRET, now)).toBe(false);
    expect(verifyWebhookSignature('v1=abc', body, SECRET, now)).toBe(false);
  });
});
