import { LineSplitter, type ProposalInput, type Trace } from '@countersign/core';
import type { z } from 'zod';
import {
  mediaType,
  type DeepReadonly,
  type ArtifactList,
  type BundleActivation,
  type Checkpoint,
  type DecisionsResult,
  type ExecutionOutcome,
  type ExecutionResult,
  type HaltList,
  type HaltRequest,
  type HaltResult,
  type Health,
  type HoldList,
  type HoldRequest,
  type HoldResult,
  type InclusionProof,
  type LeaseGranted,
  type LedgerHead,
  type OutcomeResult,
  type OverrideOpened,
  type OverrideRequest,
  type OverrideSignature,
  type OverrideView,
  type PasskeyCreationOptions,
  type PasskeyList,
  type PasskeyRegistration,
  type PasskeyView,
  type PolicySummary,
  type PresentedStep,
  type ProposalResult,
  type ProposedRelease,
  type Readiness,
  type ReleaseSignature,
  type ReleaseSigned,
  type ReleaseWithReport,
  type RequestPage,
  type RequestState,
  type RequestView,
  type RollbackRegistered,
  type RollbackRegistration,
  type RollbackRun,
  type ShadowRun,
  type SignedStatement,
  type TokenIssue,
  type TokenIssued,
  type TokenList,
  type TokenRecord,
  type ApprovalResult,
} from './contract/index.js';
import { endpointUrl, ENDPOINTS, type Endpoint, type EndpointName } from './endpoints.js';
import { CountersignClientError } from './errors.js';
import { parseServerSentEvents } from './sse.js';

/**
 * Fetch-based SDK for agents, executors and approver tools. No native
 * dependencies: any `fetch` (Node 20, browsers, Deno, a test double) works.
 *
 * The bearer token goes in `Authorization` and nowhere else: never in a URL,
 * never in an error message. The surface of every call is the token's; the
 * gateway ignores any surface a body claims.
 *
 * Bodies and answers are typed by the contract's schemas (ADR 005): what a
 * method returns is `z.output` of the answer schema the gateway validates its
 * own answer with.
 */

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

/** What `listRequests` narrows by; each given field must match exactly. */
export interface RequestFilter {
  readonly status?: RequestState | readonly RequestState[];
  readonly action?: string;
  readonly environment?: string;
  readonly target?: string;
  readonly digest?: string;
  readonly incident?: string;
  readonly risk?: string;
  /** `me`: only the requests the caller may approve now, by the gateway's own approval rules. */
  readonly approvable_by?: 'me';
  readonly cursor?: string;
  readonly limit?: number;
}

export interface StreamOptions {
  /** Abort the stream; the iteration then throws the signal's reason. Breaking out of the loop also ends it. */
  readonly signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * Added to a release's proposal and signatures: the proposal replays every
 * recorded decision under the candidate, and the signature that completes
 * the quorum activates it in one commit that grows with the live grants
 * (ADR 006). Timed out early, the CLI would say UNREACHABLE while the
 * gateway still records the activation.
 */
const RELEASE_EXTRA_TIMEOUT_MS = 10 * 60_000;
/** The gateway holds a long poll at most this long. */
const MAX_WAIT_S = 30;
/** A gateway that answers a long poll at once (or ignores `wait`) is polled no faster than this. */
const MIN_POLL_INTERVAL_MS = 1_000;
/** The gateway writes a keep-alive comment into an idle event stream this often. */
const EVENT_KEEP_ALIVE_MS = 15_000;

/** Nothing more will happen without someone acting: decided, and if approved, granted (the gateway's own test). */
function settled(view: RequestView): boolean {
  return view.status !== 'open' && !(view.status === 'approved' && view.awaiting_rollback === true);
}

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

  /**
   * The one-call path: propose, and have every step the policy allows
   * executed at once (no grant token, no second call). Each such step comes
   * back with its `execution` id: run it, then `reportOutcome`. Steps that
   * need approval come back with their `request`, as from `propose`.
   *
   * With `resume`, a one-step proposal whose step already has an open request
   * of this agent (or an approved one not yet executed) comes back with that
   * request (`resumed: true`) instead of opening another: a retried call
   * waits for the approval already asked for.
   */
  proposeAndExecute(proposal: ProposalInput, options: { readonly resume?: boolean } = {}): Promise<ProposalResult> {
    return this.call('proposeAndExecute', options.resume === true ? { resume: 'true' } : {}, proposal);
  }

  /** A proposal and what became of each of its steps. */
  proposal(proposalId: string): Promise<ProposalResult> {
    return this.call('proposal', { id: proposalId });
  }

  /** Dry run: decide each step under the active bundle and the open holds. Records nothing, grants nothing. */
  decide(proposal: ProposalInput): Promise<DecisionsResult> {
    return this.call('decide', {}, proposal);
  }

  /** One page of approval requests (`open` ones unless `status` says otherwise); pass `next_cursor` back as `cursor` for the next. */
  listRequests(filter: RequestFilter = {}): Promise<RequestPage> {
    const { status, ...rest } = filter;
    return this.call('listRequests', { ...rest, status: status === undefined || typeof status === 'string' ? status : status.join(',') });
  }

  /** The request's page in the approver console this gateway serves: where an approver decides it. */
  requestPage(requestId: string): string {
    return `${this.server.replace(/\/+$/, '')}/console/requests/${encodeURIComponent(requestId)}`;
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
      const view = await this.call('status', { id: requestId, wait: `${waitS}s` }, undefined, waitS * 1_000);
      if (view.status !== 'open') return view;
      if (this.now() >= deadline) {
        throw new CountersignClientError('WAIT_TIMEOUT', `request \`${requestId}\` is still open`, { details: { request: requestId } });
      }
      const elapsed = this.now() - started;
      if (elapsed < MIN_POLL_INTERVAL_MS) await this.sleep(Math.min(MIN_POLL_INTERVAL_MS - elapsed, Math.max(0, deadline - this.now())));
    }
  }

  /**
   * The request's view at once and on every change, over Server-Sent Events,
   * until it is settled (denied, expired, voided, or approved with its
   * grant). The gateway ends a stream after 10 minutes; this reconnects then,
   * and never yields the same view twice in a row. A stream silent for longer
   * than the timeout plus the gateway's 15 s keep-alive ends in UNREACHABLE.
   */
  async *watchRequest(requestId: string, options: StreamOptions = {}): AsyncGenerator<RequestView, void, undefined> {
    let last: string | null = null;
    for (;;) {
      const started = this.now();
      let latest: RequestView | null = null;
      const chunks = this.stream('events', { id: requestId }, { ...options, idleMs: this.timeoutMs + EVENT_KEEP_ALIVE_MS });
      for await (const event of parseServerSentEvents(chunks)) {
        if (event.event !== 'request') continue;
        latest = requestViewOf(event.data, requestId);
        if (event.data !== last) {
          last = event.data;
          yield latest;
        }
      }
      // the gateway sends the view as soon as a stream opens: an empty stream is not the documented answer
      if (latest === null) throw new CountersignClientError('BAD_RESPONSE', `the event stream of request \`${requestId}\` ended without the request`);
      if (settled(latest)) return;
      const elapsed = this.now() - started;
      if (elapsed < MIN_POLL_INTERVAL_MS) await this.sleep(MIN_POLL_INTERVAL_MS - elapsed);
      options.signal?.throwIfAborted();
    }
  }

  /** Approve with a signed statement: the request as it stands after, whether the quorum is met and what is still needed. */
  approve(requestId: string, signed: SignedStatement): Promise<ApprovalResult> {
    return this.call('approve', { id: requestId }, signed);
  }

  deny(requestId: string, signed: SignedStatement): Promise<ApprovalResult> {
    return this.call('deny', { id: requestId }, signed);
  }

  /** Consume a grant, once: the gateway re-checks holds, bundle, expiry and prerequisites now. */
  execute(grant: string, step?: PresentedStep): Promise<ExecutionResult> {
    return this.call('execute', {}, step === undefined ? { grant } : { grant, step });
  }

  /** Run one step an override lease lists (by step id), inside the lease's window, at most once. */
  executeWithLease(leaseId: string, stepId: string, presented?: PresentedStep): Promise<ExecutionResult> {
    return this.call('executeWithLease', { id: leaseId }, presented === undefined ? { step: stepId } : { step: stepId, presented });
  }

  reportOutcome(executionId: string, outcome: ExecutionOutcome, detail?: string): Promise<OutcomeResult> {
    return this.call('reportOutcome', { id: executionId }, detail === undefined ? { outcome } : { outcome, detail });
  }

  openHold(hold: HoldRequest): Promise<HoldResult> {
    return this.call('openHold', {}, hold);
  }

  addEvidence(holdId: string, evidence: { readonly evidence_hash: string }): Promise<HoldResult> {
    return this.call('addEvidence', { id: holdId }, evidence);
  }

  liftHold(holdId: string, body: { readonly reason?: string } = {}): Promise<HoldResult> {
    return this.call('liftHold', { id: holdId }, body);
  }

  /** Open an override request; the answer carries the body the two signers sign on their own machines. */
  requestOverride(request: OverrideRequest): Promise<OverrideOpened> {
    return this.call('requestOverride', {}, request);
  }

  submitOverride(overrideId: string, signatures: readonly DeepReadonly<z.input<typeof OverrideSignature>>[]): Promise<LeaseGranted> {
    return this.call('submitOverride', { id: overrideId }, { signatures });
  }

  registerRollback(artifact: RollbackRegistration): Promise<RollbackRegistered> {
    return this.call('registerRollback', {}, artifact);
  }

  rollback(artifactId: string, body: Record<string, never> = {}): Promise<RollbackRun> {
    return this.call('rollback', { id: artifactId }, body);
  }

  halt(halt: HaltRequest): Promise<HaltResult> {
    return this.call('halt', {}, halt);
  }

  liftHalt(haltId: string, body: { readonly reason?: string } = {}): Promise<HaltResult> {
    return this.call('liftHalt', { id: haltId }, body);
  }

  /** The open holds, the policy's trip gates, and whether the caller may open, extend and lift holds. */
  listHolds(): Promise<HoldList> {
    return this.call('listHolds');
  }

  /** The active halts, and whether the caller holds halt authority. */
  listHalts(): Promise<HaltList> {
    return this.call('listHalts');
  }

  /** The registered rollback artifacts, newest first, with whether the caller may run each. */
  listRollbacks(): Promise<ArtifactList> {
    return this.call('listRollbacks');
  }

  /** Overrides waiting for their signatures, each with its exact body and hash. */
  listOverrides(): Promise<{ overrides: OverrideView[] }> {
    return this.call('listOverrides');
  }

  /** One override as it stands: its body, hash, status, lease or denying gates, and the seats the caller may sign. */
  override(overrideId: string): Promise<OverrideView> {
    return this.call('override', { id: overrideId });
  }

  /** The active policy bundle: id, name, environments, surfaces, actions. */
  policy(): Promise<PolicySummary> {
    return this.call('policy');
  }

  /**
   * A lone activation: the gateway refuses it for anyone and records the
   * attempt (RELEASE_REQUIRED). Bundles change by `proposeRelease` and the
   * quorum's `signRelease` (DESIGN invariant 8).
   */
  activateBundle(policyYaml: string): Promise<BundleActivation> {
    return this.call('activateBundle', {}, { policy: policyYaml });
  }

  /** Propose a candidate bundle (YAML text) with its golden case files; nothing changes until the release quorum signs. */
  proposeRelease(policyYaml: string, golden: readonly { readonly name: string; readonly text: string }[] = []): Promise<ProposedRelease> {
    return this.call('proposeRelease', {}, { policy: policyYaml, golden: golden.map((g) => ({ name: g.name, text: g.text })) }, RELEASE_EXTRA_TIMEOUT_MS);
  }

  /**
   * A release: candidate, golden result, diff summary, requirements,
   * signatures, the statement to sign, and `diff_report`, the replay diff as
   * `countersign policy diff` prints it, rebuilt from the ledger and checked
   * against the recorded digest (null when it cannot be rebuilt).
   */
  release(releaseId: string): Promise<ReleaseWithReport> {
    return this.call('release', { id: releaseId });
  }

  /** The shadow run of a release: the decisions recorded while it was open, decided again under the candidate. */
  releaseShadow(releaseId: string): Promise<ShadowRun> {
    return this.call('releaseShadow', { id: releaseId });
  }

  /** Sign a release with a statement signed on the signer's machine; on quorum the candidate is activated. */
  signRelease(releaseId: string, body: ReleaseSignature): Promise<ReleaseSigned> {
    return this.call('signRelease', { id: releaseId }, body, RELEASE_EXTRA_TIMEOUT_MS);
  }

  /** Issue a token for `principal` on `surface` (token administrators only, never for themselves); `token` is shown once. */
  issueToken(request: TokenIssue): Promise<TokenIssued> {
    return this.call('issueToken', {}, request);
  }

  listTokens(filter: { readonly principal?: string } = {}): Promise<TokenList> {
    return this.call('listTokens', { principal: filter.principal });
  }

  revokeToken(id: string): Promise<TokenRecord> {
    return this.call('revokeToken', { id }, {});
  }

  /**
   * WebAuthn creation options for a passkey of the caller's own, from a
   * signed-in console session (a browser passes them to the authenticator,
   * e.g. with @simplewebauthn/browser's `startRegistration`).
   */
  passkeyRegistrationOptions(): Promise<PasskeyCreationOptions> {
    return this.call('passkeyRegistrationOptions', {}, {});
  }

  /** Finish a registration with the authenticator's answer (its JSON form); recorded as `passkey.registered`. */
  registerPasskey(response: PasskeyRegistration): Promise<PasskeyView> {
    return this.call('registerPasskey', {}, response);
  }

  /** The caller's passkeys, revoked ones too; a token administrator may name another principal. */
  listPasskeys(filter: { readonly principal?: string } = {}): Promise<PasskeyList> {
    return this.call('listPasskeys', { principal: filter.principal });
  }

  /** Revoke a passkey: its owner, or a token administrator. */
  revokePasskey(id: string): Promise<PasskeyView> {
    return this.call('revokePasskey', { id }, {});
  }

  /** Ledger size and the latest signed checkpoint (null before the first). */
  ledgerHead(): Promise<LedgerHead> {
    return this.call('ledgerHead');
  }

  /**
   * The whole ledger as JSON Lines, streamed: each item is one line's bytes
   * without its newline, exactly as sent (entry lines are the entries' stored
   * canonical bytes). Verify offline with core's `createExportVerifier`, one
   * `line()` per item, and the gateway's public key.
   */
  async *exportLedger(options: StreamOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const splitter = new LineSplitter();
    for await (const chunk of this.stream('exportLedger', {}, { ...options, idleMs: this.timeoutMs })) yield* splitter.push(chunk);
    yield* splitter.end();
  }

  /** The latest signed checkpoint (C2SP signed note). */
  checkpoint(): Promise<Checkpoint> {
    return this.call('checkpoint');
  }

  /** Inclusion proof of ledger entry `seq` against the latest checkpoint. */
  prove(seq: number): Promise<InclusionProof> {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new CountersignClientError('USAGE', `\`${seq}\` is not a ledger sequence number`);
    return this.call('prove', { seq });
  }

  /** The authority chain of a request, proposal, step, grant, override, lease, artifact or incident, rebuilt from the ledger: core's `Trace` (the contract checks its outline, core types its lines). */
  trace(id: string): Promise<Trace> {
    return this.call('trace', { id }) as Promise<unknown> as Promise<Trace>;
  }

  /** The process is up. Public: the token is not sent. */
  health(): Promise<Health> {
    return this.call('health');
  }

  /** Ready to serve (store answers, key signs, bundle loaded); NOT_READY (503) otherwise. Public: the token is not sent. */
  ready(): Promise<Readiness> {
    return this.call('ready');
  }

  private headers(endpoint: Endpoint, hasBody: boolean): Record<string, string> {
    const headers: Record<string, string> = { accept: mediaType(endpoint) };
    // public routes get no token: it goes only where it is checked
    if (endpoint.operation !== null) headers['authorization'] = `Bearer ${this.token}`;
    if (hasBody) headers['content-type'] = 'application/json';
    return headers;
  }

  /** One JSON call; its answer is typed by the endpoint's answer schema in the contract. */
  private async call<N extends EndpointName>(
    name: N,
    params: Readonly<Record<string, string | number | undefined>> = {},
    body?: unknown,
    extraTimeoutMs = 0,
  ): Promise<z.output<(typeof ENDPOINTS)[N]['response']>> {
    const endpoint: Endpoint = ENDPOINTS[name];
    const url = endpointUrl(this.server, name, params);
    const init: RequestInit = {
      method: endpoint.method,
      headers: this.headers(endpoint, body !== undefined),
      signal: AbortSignal.timeout(this.timeoutMs + extraTimeoutMs),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    };
    let response: Response;
    let text: string;
    try {
      response = await this.fetch(url, init);
      text = await response.text();
    } catch (err) {
      throw unreachable(endpoint, err);
    }
    const parsed = parseJson(text);
    if (!response.ok) throw failure(response.status, parsed);
    if (typeof parsed !== 'object' || parsed === null) {
      throw new CountersignClientError('BAD_RESPONSE', `the gateway answered ${response.status} without a JSON object`, { status: response.status });
    }
    return parsed as z.output<(typeof ENDPOINTS)[N]['response']>;
  }

  /**
   * A streamed answer's body, chunk by chunk. A watchdog aborts when nothing
   * arrives for `idleMs` (connecting included, the caller's own pauses
   * excluded): a silent stream is UNREACHABLE, never an endless wait.
   */
  private async *stream(
    name: EndpointName,
    params: Readonly<Record<string, string | number>>,
    options: StreamOptions & { readonly idleMs: number },
  ): AsyncGenerator<Uint8Array, void, undefined> {
    const endpoint: Endpoint = ENDPOINTS[name];
    const url = endpointUrl(this.server, name, params);
    const { signal } = options;
    signal?.throwIfAborted();
    const controller = new AbortController();
    let stalled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const pause = (): void => clearTimeout(timer);
    const arm = (): void => {
      pause();
      timer = setTimeout(() => {
        stalled = true;
        controller.abort();
      }, options.idleMs);
    };
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    // a fetch (or a test double) may not tie its body to the signal: every wait races the abort itself
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    const lost = (err: unknown): unknown => {
      if (signal?.aborted) return signal.reason;
      if (stalled) return new CountersignClientError('UNREACHABLE', `the gateway went silent on \`${endpoint.method} ${endpoint.path}\``);
      return unreachable(endpoint, err);
    };
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    try {
      arm();
      const init: RequestInit = { method: endpoint.method, headers: this.headers(endpoint, false), signal: controller.signal };
      const response = await Promise.race([this.fetch(url, init), aborted]).catch((err: unknown) => {
        throw lost(err);
      });
      if (!response.ok) {
        const text = await Promise.race([response.text(), aborted]).catch((err: unknown) => {
          throw lost(err);
        });
        throw failure(response.status, parseJson(text));
      }
      const type = response.headers.get('content-type') ?? '';
      if (response.body === null || !type.toLowerCase().startsWith(mediaType(endpoint))) {
        await response.body?.cancel().catch(() => undefined);
        throw new CountersignClientError('BAD_RESPONSE', `the gateway answered ${response.status} without a \`${mediaType(endpoint)}\` stream`, { status: response.status });
      }
      reader = response.body.getReader();
      for (;;) {
        arm();
        const chunk = await Promise.race([reader.read(), aborted]).catch((err: unknown) => {
          throw lost(err);
        });
        if (chunk.done) return;
        // the consumer's own time is not the gateway's silence
        pause();
        yield chunk.value;
      }
    } finally {
      pause();
      signal?.removeEventListener('abort', onAbort);
      // ends the connection when the consumer stops early, or the stream failed
      controller.abort();
      await reader?.cancel().catch(() => undefined);
    }
  }
}

function unreachable(endpoint: Endpoint, cause: unknown): CountersignClientError {
  // the cause is kept for debugging; the message names the endpoint, never the token
  return new CountersignClientError('UNREACHABLE', `the gateway did not answer \`${endpoint.method} ${endpoint.path}\``, { cause });
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A non-2xx answer as the typed error: the gateway's stable code when it sent one. */
function failure(status: number, parsed: unknown): CountersignClientError {
  const error = errorBody(parsed);
  if (error) return new CountersignClientError(error.code, error.message, { status, ...(error.details ? { details: error.details } : {}) });
  return new CountersignClientError('BAD_RESPONSE', `the gateway answered ${status} without an error body`, { status });
}

/** One `event: request` of the event stream: the request's view, or BAD_RESPONSE. */
function requestViewOf(data: string, requestId: string): RequestView {
  const view = parseJson(data) as Partial<RequestView> | undefined;
  if (typeof view !== 'object' || view === null || typeof view.status !== 'string' || view.id !== requestId) {
    throw new CountersignClientError('BAD_RESPONSE', `the event stream of request \`${requestId}\` carried something other than its view`);
  }
  return view as RequestView;
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
