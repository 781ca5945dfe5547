import { LineSplitter, type ApprovalStatement, type Decision, type OverrideBody, type OverrideSignature, type ProposalInput, type ProposalStep, type Trace } from '@countersign/core';
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
  /** `proposeAndExecute`: the execution started for an allowed step, or null. */
  readonly execution?: string | null;
  /** `proposeAndExecute`: why an allowed step was not executed (`HALT_ACTIVE`), or null. */
  readonly refused?: string | null;
  /** Named in answers that mix steps of several proposals (re-decisions after a bundle activation). */
  readonly action?: string;
  readonly environment?: string;
  readonly target?: string;
}

export interface ProposalResult extends Json {
  /** The one-call path with `resume`: an earlier proposal's request, found by the step's digest; nothing was proposed anew. */
  readonly resumed?: boolean;
  readonly proposal: string;
  readonly steps: readonly StepResult[];
}

/** An approval request; `grant` is the compact JWS once it is approved. */
export interface RequestView extends Json {
  readonly id: string;
  readonly status: RequestState;
  /** The step's digest under `bundle_id`: recompute it from the step to know the request is for it. */
  readonly digest: string;
  readonly bundle_id: string | null;
  readonly action: string;
  readonly environment: string;
  readonly target: string;
  readonly params: { readonly [key: string]: unknown };
  readonly risk: string;
  readonly agent: string;
  readonly on_behalf_of: string;
  readonly expires_at: string;
  readonly grant: string | null;
  /** Approved, but the grant waits for a rollback artifact registered for the step. */
  readonly awaiting_rollback: boolean;
}

export interface ExecutionResult extends Json {
  readonly execution: string;
}

export interface OutcomeResult extends Json {
  readonly execution: string;
  readonly outcome: ExecutionOutcome;
}

/** A dry run (`decide`): each step as core's `decide()` judged it under the active bundle and open holds. */
export interface DecisionsResult extends Json {
  readonly bundle_id: string;
  readonly decisions: readonly Decision[];
}

/** The active bundle, summarized. */
export interface PolicySummary extends Json {
  readonly bundle_id: string;
  readonly name: string;
  readonly environments: readonly string[];
  readonly surfaces: readonly string[];
  readonly actions: readonly { readonly id: string; readonly class: string }[];
}

/** What activating a bundle did: requests voided and re-decided, grants and leases revoked. */
export interface BundleActivation extends Json {
  readonly bundle_id: string;
  readonly previous_bundle_id: string | null;
  readonly voided_requests: readonly string[];
  readonly revoked_grants: readonly string[];
  readonly revoked_leases: readonly string[];
  /** The voided requests' steps decided again; grants here go to their agents through `status`, so they are null. */
  readonly redecided: readonly StepResult[];
}

/** A governed policy release as the gateway shows it (GET /v1/releases/{id}). */
export interface Release extends Json {
  readonly id: string;
  readonly candidate: string;
  readonly name: string;
  readonly previous_bundle_id: string | null;
  readonly status: 'open' | 'activated' | 'denied' | 'expired' | 'superseded';
  readonly golden: { readonly cases: number; readonly failed: number; readonly failures: readonly string[]; readonly coverage_percent: number; readonly digest: string } | null;
  /** `through_seq`: the last ledger entry the replay diff read; null for releases recorded before it was. */
  readonly diff: { readonly replayed: number; readonly changed: number; readonly static_changes: number; readonly digest: string; readonly through_seq: number | null };
  readonly release_digest: string;
  readonly requirements: { readonly quorum: readonly { readonly roles: readonly string[]; readonly count: number }[]; readonly surfaces: readonly string[]; readonly attestation: 'key' | 'any' };
  readonly signatures: readonly { readonly approver: string; readonly decision: 'approve' | 'deny'; readonly surface: string; readonly attestation: 'key' | 'gateway'; readonly signed_at: string }[];
  /** What a signer signs: an approval statement with these fields, plus decision, approver, surface, reason and signed_at. */
  readonly statement: { readonly request: string; readonly step_digest: string; readonly bundle_id: string | null };
}

/** A signed checkpoint: a C2SP signed note over the first `tree_size` entries. */
export interface Checkpoint extends Json {
  readonly tree_size: number;
  readonly note: string;
}

export interface LedgerHead extends Json {
  readonly size: number;
  readonly checkpoint: Checkpoint | null;
}

/** RFC 9162 inclusion proof of one entry, the JSON of `countersign ledger prove`. */
export interface InclusionProof extends Json {
  readonly seq: number;
  readonly entry: string;
  readonly leaf_hash: string;
  readonly leaf_index: number;
  readonly tree_size: number;
  readonly path: readonly string[];
  readonly root: string;
  readonly checkpoint: string;
}

export interface Health extends Json {
  readonly status: 'ok';
}

export interface Readiness extends Json {
  readonly status: 'ready';
  readonly ledger_size: number;
  readonly bundle_id: string;
}

/** A token as administration shows it: never its secret. */
export interface TokenRecord extends Json {
  readonly id: string;
  readonly principal: string;
  readonly surface: string;
  readonly created_at: string;
  readonly expires_at: string | null;
  readonly revoked_at: string | null;
}

/** A registered passkey (issue 14): whose, its COSE algorithm, the console origin it signs for, and whether it was revoked. */
export interface PasskeyRecord extends Json {
  readonly credential_id: string;
  readonly principal: string;
  readonly algorithm: number;
  readonly origin: string;
  readonly registered_at: string;
  readonly revoked_at: string | null;
  readonly revoked_by: string | null;
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

/** Whether the caller may approve a request now; if not, the approval refusal codes that say why (e.g. `SELF_APPROVAL`). */
export interface Approvable extends Json {
  readonly by_you: boolean;
  readonly reasons: readonly string[];
}

/** A request as `listRequests` returns it: with the caller's `approvable` verdict. */
export interface ListedRequestView extends RequestView {
  readonly approvable: Approvable;
}

export interface RequestPage extends Json {
  readonly requests: readonly ListedRequestView[];
  readonly next_cursor: string | null;
}

export interface StreamOptions {
  /** Abort the stream; the iteration then throws the signal's reason. Breaking out of the loop also ends it. */
  readonly signal?: AbortSignal;
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
      const view = await this.call<RequestView>('wait', { id: requestId, wait: `${waitS}s` }, undefined, waitS * 1_000);
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

  /** Run one step an override lease lists (by step id), inside the lease's window, at most once. */
  executeWithLease(leaseId: string, stepId: string, presented?: PresentedStep): Promise<ExecutionResult> {
    return this.call('executeWithLease', { id: leaseId }, presented === undefined ? { step: stepId } : { step: stepId, presented });
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
  proposeRelease(policyYaml: string, golden: readonly { readonly name: string; readonly text: string }[] = []): Promise<Release & { readonly diff_report: string }> {
    return this.call('proposeRelease', {}, { policy: policyYaml, golden: golden.map((g) => ({ name: g.name, text: g.text })) });
  }

  /**
   * A release: candidate, golden result, diff summary, requirements,
   * signatures, the statement to sign, and `diff_report`, the replay diff as
   * `countersign policy diff` prints it, rebuilt from the ledger and checked
   * against the recorded digest (null when it cannot be rebuilt).
   */
  release(releaseId: string): Promise<Release & { readonly diff_report: string | null }> {
    return this.call('release', { id: releaseId });
  }

  /** The shadow run of a release: the decisions recorded while it was open, decided again under the candidate. */
  releaseShadow(releaseId: string): Promise<Json & { readonly release: string; readonly candidate: string; readonly window: { readonly from: string; readonly to: string | null }; readonly replay: Json }> {
    return this.call('releaseShadow', { id: releaseId });
  }

  /** Sign a release with a statement signed on the signer's machine; on quorum the candidate is activated. */
  signRelease(releaseId: string, body: { readonly statement: ApprovalStatement; readonly attestation: Json }): Promise<Release & { readonly quorum_met: boolean; readonly activated: BundleActivation | null }> {
    return this.call('signRelease', { id: releaseId }, body as unknown as Json);
  }

  /** Ledger size and the latest signed checkpoint (null before the first). */
  /** Issue a token for `principal` on `surface` (token administrators only, never for themselves); `token` is shown once. */
  issueToken(request: { readonly principal: string; readonly surface: string; readonly expires_in?: string }): Promise<TokenRecord & { readonly token: string }> {
    return this.call('issueToken', {}, request);
  }

  listTokens(filter: { readonly principal?: string } = {}): Promise<{ readonly tokens: readonly TokenRecord[] }> {
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
  passkeyRegistrationOptions(): Promise<Json> {
    return this.call('passkeyRegistrationOptions', {}, {});
  }

  /** Finish a registration with the authenticator's answer (its JSON form); recorded as `passkey.registered`. */
  registerPasskey(response: Json): Promise<PasskeyRecord> {
    return this.call('registerPasskey', {}, response);
  }

  /** The caller's passkeys, revoked ones too; a token administrator may name another principal. */
  listPasskeys(filter: { readonly principal?: string } = {}): Promise<{ readonly passkeys: readonly PasskeyRecord[] }> {
    return this.call('listPasskeys', { principal: filter.principal });
  }

  /** Revoke a passkey: its owner, or a token administrator. */
  revokePasskey(id: string): Promise<PasskeyRecord> {
    return this.call('revokePasskey', { id }, {});
  }

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

  /** The authority chain of a request, proposal, step, grant, override, lease, artifact or incident, rebuilt from the ledger. */
  trace(id: string): Promise<Trace> {
    return this.call('trace', { id });
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
    const headers: Record<string, string> = { accept: endpoint.accept ?? 'application/json' };
    // public routes get no token: it goes only where it is checked
    if (endpoint.operation !== null) headers['authorization'] = `Bearer ${this.token}`;
    if (hasBody) headers['content-type'] = 'application/json';
    return headers;
  }

  private async call<T>(name: EndpointName, params: Readonly<Record<string, string | number | undefined>> = {}, body?: unknown, extraTimeoutMs = 0): Promise<T> {
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
    return parsed as T;
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
      if (response.body === null || !type.toLowerCase().startsWith(endpoint.accept ?? 'application/json')) {
        await response.body?.cancel().catch(() => undefined);
        throw new CountersignClientError('BAD_RESPONSE', `the gateway answered ${response.status} without a \`${endpoint.accept}\` stream`, { status: response.status });
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
