import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { Turns } from './turns.js';

/**
 * Approval notifications: when a request needs approvers, POST a signed JSON
 * event to each webhook the policy names (`notifications.webhooks[]`).
 *
 * Delivery is advisory. It never blocks, allows or denies anything: the
 * caller fires and forgets, every outcome (sent, refused, unreachable,
 * skipped) is handed to `onDelivery` for the ledger, and no error ever
 * propagates to the caller. See docs/webhooks.md for the receiver's side.
 *
 * Signature (the scheme Stripe uses, so receivers have tooling for it):
 *   Countersign-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, `${t}.${body}`)>
 * over the exact body bytes sent. The timestamp is inside the MAC, so a
 * receiver that refuses old timestamps also refuses replays. Each retry is
 * signed afresh with its own timestamp; the body and `Countersign-Delivery`
 * id stay the same, so a receiver can deduplicate.
 */

/** A webhook as the policy declares it (core `Webhook`). */
export interface WebhookTarget {
  readonly id: string;
  readonly url: string;
  /** Environment variable holding the HMAC secret; the secret never sits in a bundle. */
  readonly secret_env: string;
  /** Risk classes this webhook wants; empty means every risk (an event without a risk always passes). */
  readonly risks: readonly string[];
  /** Events this webhook wants; absent means `approval.requested` only. */
  readonly events?: readonly string[];
  /** Environments this webhook wants; empty or absent means every one (an event without one always passes). */
  readonly environments?: readonly string[];
}

/**
 * Any other state change an operator acts on (issue 16), named after the
 * ledger entry that records it: the entry's seq, time, actor, subjects and
 * payload as the ledger holds them, with the request it concerns and, when
 * known, its environment, risk and console link.
 */
export interface LedgerEvent {
  readonly event: string;
  readonly seq: number;
  readonly at: string;
  readonly actor: string | null;
  readonly request_id: string | null;
  readonly environment: string | null;
  readonly risk: string | null;
  readonly link: string | null;
  readonly subjects: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
}

export interface ApprovalRequested {
  readonly request_id: string;
  readonly action: string;
  readonly target: string;
  readonly environment: string;
  readonly risk: string;
  readonly expected_consequence: string | null;
  readonly rollback_plan: string | null;
  readonly step_digest: string;
  /** Where an approver reviews the request (the approver console), or null. */
  readonly link: string | null;
}

export type ApprovalRequestedEvent = { readonly event: 'approval.requested' } & ApprovalRequested;

/** Why an attempt did not deliver. */
export type DeliveryError =
  /** The secret's environment variable is unset or empty: skipped, never sent unsigned. */
  | 'SECRET_MISSING'
  /** No HTTP answer: connection refused, DNS, TLS. */
  | 'UNREACHABLE'
  /** No answer within the attempt's timeout. */
  | 'TIMEOUT'
  /** An answer other than 2xx (redirects included: a signed event is never forwarded elsewhere). */
  | 'REJECTED'
  /** The gateway shut down before the next retry was due. */
  | 'CANCELLED';

export interface WebhookDelivery {
  readonly webhook: string;
  readonly event: string;
  readonly request_id: string | null;
  readonly delivery_id: string;
  /** 1-based; 0 for a webhook skipped before any attempt. */
  readonly attempt: number;
  readonly ok: boolean;
  /** True on the last report for this webhook and event: delivered, given up, or skipped. */
  readonly final: boolean;
  readonly status?: number;
  readonly error?: DeliveryError;
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface WebhookNotifierOptions {
  readonly webhooks: readonly WebhookTarget[];
  /** Where `secret_env` is looked up; `process.env` by default. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly fetch?: FetchLike;
  /** Injected for tests; must resolve early when `signal` aborts. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Epoch ms, for the signature timestamp. */
  readonly clock?: () => number;
  /** In [0, 1), for jitter. */
  readonly random?: () => number;
  /** Attempts per webhook and event, first included. Default 5. */
  readonly maxAttempts?: number;
  /** Backoff before attempt n+1 is `min(maxDelayMs, baseDelayMs * 2^(n-1))`, jittered to between half and all of it. */
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Per attempt. Default 10 s. */
  readonly timeoutMs?: number;
  /**
   * Deliveries under way to one webhook at a time, retries and their waits
   * included; the rest wait their turn in order. A bundle activation can open
   * thousands of requests in one commit: without a bound each would be a
   * POST at once. Default 8.
   */
  readonly maxConcurrent?: number;
  /** Every attempt and skip, so the gateway can record delivery in the ledger. Its errors are swallowed. */
  readonly onDelivery?: (delivery: WebhookDelivery) => void | Promise<void>;
}

export const SIGNATURE_HEADER = 'countersign-signature';
const DEFAULTS = { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 30_000, timeoutMs: 10_000, maxConcurrent: 8 } as const;

/** `t=<unix>,v1=<hex>` for `body` at `unixSeconds`. */
export function signWebhook(body: string, secret: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * The receiver's check, for Node receivers and our tests: parse the header,
 * refuse a timestamp further than `toleranceS` from `nowS` (replays), and
 * compare every `v1` against the expected MAC in constant time (several
 * `v1` values may appear while a secret is rotated).
 */
export function verifyWebhookSignature(header: string | undefined, body: string, secret: string, nowS: number, toleranceS = 300): boolean {
  if (header === undefined) return false;
  let t: number | null = null;
  const macs: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2) as [string, string | undefined];
    if (key === 't' && value !== undefined && /^\d{1,12}$/.test(value)) t = Number(value);
    if (key === 'v1' && value !== undefined && /^[0-9a-f]{64}$/.test(value)) macs.push(value);
  }
  if (t === null || macs.length === 0 || Math.abs(nowS - t) > toleranceS) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex'));
  return macs.some((mac) => timingSafeEqual(Buffer.from(mac), expected));
}

const retryable = (status: number): boolean => status === 408 || status === 429 || status >= 500;

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export class WebhookNotifier {
  private readonly options: WebhookNotifierOptions;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly closing = new AbortController();
  private readonly turns: Turns;

  constructor(options: WebhookNotifierOptions) {
    this.options = options;
    this.turns = new Turns(options.maxConcurrent ?? DEFAULTS.maxConcurrent);
  }

  /**
   * Fire and forget: schedules delivery to every webhook whose `risks` match
   * and returns at once. Never throws, whatever the webhooks or `onDelivery` do.
   */
  approvalRequested(request: ApprovalRequested): void {
    this.notify({ event: 'approval.requested', ...request });
  }

  /** The same for any event: each webhook subscribed to it (events, risks, environments) gets it. */
  notify(event: ApprovalRequestedEvent | LedgerEvent): void {
    if (this.closing.signal.aborted) return;
    for (const webhook of this.options.webhooks) {
      if (!(webhook.events ?? ['approval.requested']).includes(event.event)) continue;
      if (event.risk !== null && webhook.risks.length > 0 && !webhook.risks.includes(event.risk)) continue;
      if (event.environment !== null && (webhook.environments?.length ?? 0) > 0 && !webhook.environments!.includes(event.environment)) continue;
      const delivery = this.inTurn(webhook, event).catch(() => undefined);
      this.inFlight.add(delivery);
      void delivery.finally(() => this.inFlight.delete(delivery));
    }
  }

  /** Resolves when every delivery scheduled so far has finished (delivered, given up or skipped). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Stop: no new deliveries, no further retries; in-flight attempts finish. For SIGTERM. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.idle();
  }

  /** `deliver`, once fewer than `maxConcurrent` deliveries to this webhook are under way; cancelled if the notifier closed meanwhile. */
  private inTurn(webhook: WebhookTarget, event: ApprovalRequestedEvent | LedgerEvent): Promise<void> {
    return this.turns.run(webhook.id, async () => {
      if (!this.closing.signal.aborted) return this.deliver(webhook, event);
      await this.report({ webhook: webhook.id, event: event.event, request_id: event.request_id, delivery_id: randomUUID(), attempt: 0, ok: false, final: true, error: 'CANCELLED' });
    });
  }

  private async deliver(webhook: WebhookTarget, event: ApprovalRequestedEvent | LedgerEvent): Promise<void> {
    const o = this.options;
    const base = { webhook: webhook.id, event: event.event, request_id: event.request_id, delivery_id: randomUUID() };
    const secret = (o.env ?? process.env)[webhook.secret_env];
    if (secret === undefined || secret === '') {
      await this.report({ ...base, attempt: 0, ok: false, final: true, error: 'SECRET_MISSING' });
      return;
    }
    const body = JSON.stringify(event);
    const maxAttempts = Math.max(1, Math.trunc(o.maxAttempts ?? DEFAULTS.maxAttempts));
    const fetch = o.fetch ?? ((input: string, init: RequestInit) => globalThis.fetch(input, init));
    const clock = o.clock ?? (() => Date.now());
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= maxAttempts;
      let outcome: { ok: boolean; status?: number; error?: DeliveryError; retry: boolean };
      try {
        const response = await fetch(webhook.url, {
          method: 'POST',
          redirect: 'manual',
          signal: AbortSignal.timeout(o.timeoutMs ?? DEFAULTS.timeoutMs),
          headers: {
            'content-type': 'application/json',
            'user-agent': 'countersign-webhook/1',
            'countersign-event': event.event,
            'countersign-delivery': base.delivery_id,
            [SIGNATURE_HEADER]: signWebhook(body, secret, Math.floor(clock() / 1_000)),
          },
          body,
        });
        // the answer's body is not read beyond this: receivers are not trusted to be small
        await response.body?.cancel().catch(() => undefined);
        outcome = response.ok
          ? { ok: true, status: response.status, retry: false }
          : { ok: false, status: response.status, error: 'REJECTED', retry: retryable(response.status) };
      } catch (err) {
        const timeout = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
        outcome = { ok: false, error: timeout ? 'TIMEOUT' : 'UNREACHABLE', retry: true };
      }
      const final = outcome.ok || !outcome.retry || last || this.closing.signal.aborted;
      const { retry: _retry, ...reported } = outcome;
      await this.report({ ...base, attempt, final, ...reported });
      if (final) return;
      await (o.sleep ?? abortableSleep)(this.backoff(attempt), this.closing.signal);
      if (this.closing.signal.aborted) {
        await this.report({ ...base, attempt, ok: false, final: true, error: 'CANCELLED' });
        return;
      }
    }
  }

  /** Exponential, capped, with "equal jitter": between half and all of the step, so retries of many webhooks spread out. */
  private backoff(attempt: number): number {
    const o = this.options;
    const step = Math.min(o.maxDelayMs ?? DEFAULTS.maxDelayMs, (o.baseDelayMs ?? DEFAULTS.baseDelayMs) * 2 ** (attempt - 1));
    const random = o.random ?? Math.random;
    return Math.round(step / 2 + random() * (step / 2));
  }

  private async report(delivery: WebhookDelivery): Promise<void> {
    try {
      await this.options.onDelivery?.(delivery);
    } catch {
      // recording is the gateway's concern; a failure there must not change delivery or reach the caller
    }
  }
}
