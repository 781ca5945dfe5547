import type { ApprovalStatement, OverrideBody, OverrideSignature, ProposalInput, ProposalStep } from '@countersign/core';
import { endpointUrl, ENDPOINTS, type EndpointName } from './endpoints.js';
import { CountersignClientError } from './errors.js';

/**
 * Fetch-based SDK for agents, executors and approver tools. No native
 * dependencies: any `fetch` (Node 20, browsers, Deno, a test double) works.
 *
 * The bearer token goes in `Authorization` and nowhere else: never in a URL,
 * never in an error message. The surface of every call is the token's; the
 * gateway ignores any surface a body claims.
 */

type Json = { readonly [key: string]: unknown };

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface ClientOptions {
  /** Gateway base URL, e.g. `https://countersign.internal:8443`. */
  readonly server: string;
  /** Bearer token `cst_<id>_<secret>` (`countersign token issue`). */
  readonly token: string;
  readonly fetch?: FetchLike;
  /** Per request, in ms; long polls add their wait to it. Default 30 s. */
  readonly timeoutMs?: number;
  /** Injected for tests: epoch ms, and a sleep between polls when a gateway answers a long poll at once. */
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export type Effect = 'allow' | 'require_approval' | 'deny' | 'held';
export type RequestState = 'open' | 'approved' | 'denied' | 'expired' | 'voided';
export type ExecutionOutcome = 'succeeded' | 'failed' | 'ambiguous';

/** What became of one step of a proposal. `grant` is a compact JWS when the step was allowed outright. */
export interface StepResult extends Json {
  readonly step: string;
  readonly index: number;
  readonly effect: Effect;
  readonly reasons: readonly string[];
  readonly rule_ids: readonly string[];
  readonly digest: string | null;
  readonly request: string | null;
  readonly grant: string | null;
  /** Allowed, but the grant waits for a rollback artifact registered for this step. */
  readonly awaiting_rollback: boolean;
}

export interface ProposalResult extends Json {
  readonly proposal: string;
  readonly steps: readonly StepResult[];
}

/** An approval request; `grant` is the compact JWS once it is approved. */
export interface RequestView extends Json {
  readonly id: string;
  readonly status: RequestState;
  readonly digest: string;
  readonly action: string;
  readonly environment: string;
  readonly target: string;
  readonly expires_at: string;
  readonly grant: string | null;
}

export interface ExecutionResult extends Json {
  readonly execution: string;
}

export interface OutcomeResult extends Json {
  readonly execution: string;
  readonly outcome: ExecutionOutcome;
}

/** A statement and its attestation, as `countersign approve` builds them; the private key stays with the approver. */
export interface SignedStatement {
  readonly statement: ApprovalStatement;
  readonly attestation: { readonly kind: 'key'; readonly key_id: string; readonly signature: string };
}

/** The step as the executor will run it: the gateway compares it byte for byte with what was granted. */
export type PresentedStep = Pick<ProposalStep, 'action' | 'environment' | 'target'> & { readonly params?: ProposalStep['params'] };

const DEFAULT_TIMEOUT_MS = 30_000;
/** The gateway holds a long poll at most this long. */
const MAX_WAIT_S = 30;
/** A gateway that answers a long poll at once (or ignores `wait`) is polled no faster than this. */
const MIN_POLL_INTERVAL_MS = 1_000;

export class CountersignClient {
  private readonly server: string;
  private readonly token: string;
  private readonly fetch: FetchLike;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: ClientOptions) {
    let url: URL;
    try {
      url = new URL(options.server);
    } catch {
      throw new CountersignClientError('USAGE', `server \`${options.server}\` is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CountersignClientError('USAGE', `server \`${options.server}\` is not an http or https URL`);
    }
    if (options.token.trim() === '') throw new CountersignClientError('USAGE', 'a token is required');
    this.server = options.server;
    this.token = options.token;
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.now = options.now ?? (() => Date.now());
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Propose steps; each is decided on its own. The gateway records the token's surface, whatever `surface` says. */
  propose(proposal: ProposalInput): Promise<ProposalResult> {
    return this.call('propose', {}, proposal);
  }

  /** A proposal and what became of each of its steps. */
  proposal(proposalId: string): Promise<ProposalResult> {
    return this.call('proposal', { id: proposalId });
  }

  /** An approval request as it stands now. */
  status(requestId: string): Promise<RequestView> {
    return this.call('status', { id: requestId });
  }

  /**
   * Wait until the request leaves `open` (approved, denied, expired or
   * voided) with long polls of at most 30 s each; WAIT_TIMEOUT once
   * `timeoutMs` has passed with the request still open.
   */
  async waitForRequest(requestId: string, options: { readonly timeoutMs?: number } = {}): Promise<RequestView> {
    const deadline = this.now() + (options.timeoutMs ?? 5 * 60_000);
    for (;;) {
      const remaining = deadline - this.now();
      const waitS = Math.max(1, Math.min(MAX_WAIT_S, Math.ceil(remaining / 1_000)));
      const started = this.now();
      const view = await this.call<RequestView>('wait', { id: requestId, wait: `${waitS}s` }, undefined, waitS * 1_000);
      if (view.status !== 'open') return view;
      if (this.now() >= deadline) {
        throw new CountersignClientError('WAIT_TIMEOUT', `request \`${requestId}\` is still open`, { details: { request: requestId } });
      }
      const elapsed = this.now() - started;
      if (elapsed < MIN_POLL_INTERVAL_MS) await this.sleep(Math.min(MIN_POLL_INTERVAL_MS - elapsed, Math.max(0, deadline - this.now())));
    }
  }

  approve(requestId: string, signed: SignedStatement): Promise<RequestView> {
    return this.call('approve', { id: requestId }, signed);
  }

  deny(requestId: string, signed: SignedStatement): Promise<RequestView> {
    return this.call('deny', { id: requestId }, signed);
  }

  /** Consume a grant, once: the gateway re-checks holds, bundle, expiry and prerequisites now. */
  execute(grant: string, step?: PresentedStep): Promise<ExecutionResult> {
    return this.call('execute', {}, step === undefined ? { grant } : { grant, step });
  }

  reportOutcome(executionId: string, outcome: ExecutionOutcome, detail?: string): Promise<OutcomeResult> {
    return this.call('reportOutcome', { id: executionId }, detail === undefined ? { outcome } : { outcome, detail });
  }

  openHold(hold: Json): Promise<Json> {
    return this.call('openHold', {}, hold);
  }

  addEvidence(holdId: string, evidence: Json): Promise<Json> {
    return this.call('addEvidence', { id: holdId }, evidence);
  }

  liftHold(holdId: string, body: Json = {}): Promise<Json> {
    return this.call('liftHold', { id: holdId }, body);
  }

  /** Open an override request; the answer carries the body the two signers sign on their own machines. */
  requestOverride(request: Json): Promise<Json & { readonly id: string; readonly body?: OverrideBody }> {
    return this.call('requestOverride', {}, request);
  }

  submitOverride(overrideId: string, signatures: readonly OverrideSignature[]): Promise<Json> {
    return this.call('submitOverride', { id: overrideId }, { signatures });
  }

  registerRollback(artifact: Json): Promise<Json> {
    return this.call('registerRollback', {}, artifact);
  }

  rollback(artifactId: string, body: Json = {}): Promise<Json> {
    return this.call('rollback', { id: artifactId }, body);
  }

  halt(halt: Json): Promise<Json> {
    return this.call('halt', {}, halt);
  }

  liftHalt(haltId: string, body: Json = {}): Promise<Json> {
    return this.call('liftHalt', { id: haltId }, body);
  }

  /** The latest signed checkpoint (C2SP signed note). */
  checkpoint(): Promise<Json> {
    return this.call('checkpoint');
  }

  /** Inclusion proof of ledger entry `seq` against the latest checkpoint. */
  prove(seq: number): Promise<Json> {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new CountersignClientError('USAGE', `\`${seq}\` is not a ledger sequence number`);
    return this.call('prove', { seq });
  }

  private async call<T>(name: EndpointName, params: Readonly<Record<string, string | number>> = {}, body?: unknown, extraTimeoutMs = 0): Promise<T> {
    const { method } = ENDPOINTS[name];
    const url = endpointUrl(this.server, name, params);
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const init: RequestInit = {
      method,
      headers,
      signal: AbortSignal.timeout(this.timeoutMs + extraTimeoutMs),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    };
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(url, init);
      text = await response.text();
    } catch (err) {
      // the cause is kept for debugging; the message names the endpoint, never the token
      throw new CountersignClientError('UNREACHABLE', `the gateway did not answer \`${method} ${ENDPOINTS[name].path}\``, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = errorBody(parsed);
      if (error) {
        throw new CountersignClientError(error.code, error.message, { status: response.status, ...(error.details ? { details: error.details } : {}) });
      }
      throw new CountersignClientError('BAD_RESPONSE', `the gateway answered ${response.status} without an error body`, { status: response.status });
    }
    if (typeof parsed !== 'object' || parsed === null) {
      throw new CountersignClientError('BAD_RESPONSE', `the gateway answered ${response.status} without a JSON object`, { status: response.status });
    }
    return parsed as T;
  }
}

function errorBody(value: unknown): { code: string; message: string; details?: Record<string, unknown> } | null {
  if (typeof value !== 'object' || value === null) return null;
  const error = (value as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return null;
  const { code, message, details } = error as { code?: unknown; message?: unknown; details?: unknown };
  if (typeof code !== 'string' || typeof message !== 'string') return null;
  return typeof details === 'object' && details !== null && !Array.isArray(details)
    ? { code, message, details: details as Record<string, unknown> }
    : { code, message };
}
