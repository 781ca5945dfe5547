import type { KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import {
  budgetStanding,
  decodeEntry,
  nearExhaustion,
  NOTIFICATION_EVENTS,
  openRequests,
  pastOverrides,
  requestExpired,
  type LedgerEntry,
  type LoadedPolicy,
  type SealedEntry,
  type TransactionalLedgerStore,
  type PolicyBundle,
} from '@countersign/core';

type Notifications = NonNullable<PolicyBundle['notifications']>;
type Webhook = Notifications['webhooks'][number];
type SlackDestination = NonNullable<Notifications['slack']>[number];
import type { CredentialStore } from '../auth/credential-store.js';
import { createGuard } from '../auth/hook.js';
import type { Operation } from '../auth/credentials.js';
import { isOperation } from '../auth/credentials.js';
import { WebhookNotifier, type LedgerEvent, type WebhookDelivery, type WebhookTarget } from '../notify/webhook.js';
import { SlackNotifier, type SlackRequest, type SlackTarget } from '../notify/slack.js';
import { registerSlackInteractions } from './slack-interactions.js';
import type { Observability } from '../observability/index.js';
import { GatewayError } from '../errors.js';
import { readPolicyFile } from '../policy-file.js';
import { Gateway } from '../service/gateway.js';
import { ApiError, buildApp, httpsOptions, type RouteSpec, type TlsMaterial } from './app.js';
import { ChangeFeed } from './change-feed.js';
import { activePolicy, servedPolicy, type GatewayPort, type ServedPolicy, type ServerContext } from './context.js';
import { forbiddenRefusal } from './forbidden.js';
import { bundleRoutes } from './routes/bundles.js';
import { executionRoutes } from './routes/executions.js';
import { haltRoutes } from './routes/halts.js';
import { holdRoutes } from './routes/holds.js';
import { ledgerRoutes } from './routes/ledger.js';
import { operationRoutes } from './routes/operations.js';
import { overrideRoutes } from './routes/overrides.js';
import { proposalRoutes } from './routes/proposals.js';
import { requestRoutes } from './routes/requests.js';
import { releaseRoutes } from './routes/releases.js';
import { registerConsole, type ConsoleOptions } from '../console/routes.js';
import { passkeyRoutes } from './routes/passkeys.js';
import { ShadowCounter } from './shadow.js';
import { rollbackPlan } from './views.js';
import { rollbackRoutes } from './routes/rollbacks.js';
import { tokenRoutes } from './routes/tokens.js';

export interface GatewayServerOptions {
  /**
   * The first bundle of an empty ledger; on a ledger with an active bundle it
   * must name that bundle (POLICY_MISMATCH otherwise). Omitted: the bundle the
   * ledger holds is served.
   */
  readonly policyPath?: string;
  readonly store: TransactionalLedgerStore;
  /** Bearer credentials (`countersign token issue`); usually the `credentials` table of the same database. */
  readonly credentials: CredentialStore;
  readonly key: KeyObject;
  /** Origin line of every checkpoint; names this ledger. */
  readonly origin: string;
  readonly logLevel?: string;
  readonly bodyLimitBytes?: number;
  /** Epoch milliseconds. */
  readonly clock?: () => number;
  readonly checkpoints?: { readonly every?: number; readonly intervalMs?: number };
  /** How often open approval requests past their window are closed (`request.expired`). */
  readonly expireIntervalMs?: number;
  /**
   * How often long polls and event streams catch up on what other replicas
   * wrote. Only meaningful with several replicas on one PostgreSQL; by default
   * on for PostgreSQL and off for SQLite, whose single process sees every change.
   */
  readonly replicaRefreshMs?: number | null;
  /** Environment where webhook secrets are looked up; `process.env` by default. */
  readonly webhookEnv?: Readonly<Record<string, string | undefined>>;
  /**
   * Notification destinations from the gateway's configuration (issue 16),
   * beside the policy's own: deliveries allow and block nothing, so the
   * operator adds them without a release. An id the bundle in force also
   * declares is refused at start; under a later bundle that declares it, the
   * policy's destination stands and the configuration's is left out.
   */
  readonly notifications?: { readonly webhooks?: readonly Webhook[]; readonly slack?: readonly SlackDestination[] };
  /**
   * Metrics and spans (observability/index.ts). THE ONE PLUG-IN POINT: the
   * store and the Gateway are wrapped here, and `GET /metrics` is mounted.
   */
  readonly observability?: Observability;
  /** HTTPS: certificate chain and key, PEM, and the client CA if any. `reloadTls` swaps them for new connections. */
  readonly tls?: TlsMaterial;
  /**
   * Surfaces whose tokens count only over a connection with a client
   * certificate that chains to `tls.clientCa` and names the token's principal
   * (auth/client-cert.ts): executors, whose stolen token alone must not run a
   * grant. Needs `tls.clientCa`; every surface must be declared by the bundle in force.
   */
  readonly clientCertSurfaces?: readonly string[];
  /** When set, `GET /metrics` needs it as a bearer token (compared in constant time). */
  readonly metricsToken?: string;
  /** The approver console at /console (issue 14): its surface, public URL and sign-in. Absent: no console. */
  readonly console?: ConsoleOptions;
}

export interface GatewayServer {
  readonly app: FastifyInstance;
  /** The bundle served at start: the ledger's active bundle. */
  readonly policy: Pick<LoadedPolicy, 'bundle' | 'bundleId'>;
  readonly gateway: Gateway;
  /** New TLS connections use this certificate and key; open ones keep theirs (HTTPS only). */
  reloadTls(tls: TlsMaterial): void;
  /** Stop accepting requests, answer waiters, drain in-flight requests, flush the ledger (final checkpoint), close the stores. */
  close(): Promise<void>;
}

export const DEFAULT_EXPIRE_INTERVAL_MS = 5_000;

/**
 * Assemble the gateway: the durable `Gateway` (its command sequencer is the
 * one writer of the ledger, ADR 002), signed checkpoints, credentials, the
 * HTTP API. The bundle at `policyPath` is made the active one (recorded as
 * `bundle.activated` when the ledger says another is active).
 */
export async function startGateway(options: GatewayServerOptions): Promise<GatewayServer> {
  const clock = options.clock ?? (() => Date.now());
  const clientCertSurfaces = new Set(options.clientCertSurfaces ?? []);
  if (clientCertSurfaces.size > 0 && options.tls?.clientCa === undefined) throw new GatewayError('USAGE', 'client certificates for surfaces need TLS with a client CA (`--tls-client-ca`)');
  if (clientCertSurfaces.size === 0 && options.tls?.clientCa !== undefined) throw new GatewayError('USAGE', 'a client CA without surfaces checks nobody; name them with `--tls-client-cert-surfaces`');
  const observability = options.observability;
  const given = options.policyPath === undefined ? null : servedPolicy(readPolicyFile(options.policyPath));
  const store = observability ? observability.instrumentStore(options.store) : options.store;

  // a late logger: the app (and its pino) is built after the context that reports into it
  let log: FastifyInstance['log'] | null = null;
  // One checkpointer (ADR 002, issue 12): the Gateway's command sequencer signs checkpoints over the
  // entries it commits and those its follower applies, every `every` entries or `intervalMs`, and on close.
  let feedRef: ChangeFeed | null = null;
  let shadowRef: ShadowCounter | null = null;
  let notifyRef: ((entries: readonly SealedEntry[]) => void) | null = null;
  const gateway = await Gateway.open({
    store,
    ...(given === null ? {} : { policy: given.compiled }),
    key: options.key,
    origin: options.origin,
    clock,
    checkpoints: options.checkpoints ?? {},
    observer: {
      checkpoint: (event) => observability?.sequencerObserver.checkpoint?.(event),
      // a checkpoint that could not be stored, or a follower read that failed: the entries stay durable and the
      // next interval (or notification) tries again, but an operator must hear of it
      error: (err) => {
        observability?.sequencerObserver.error?.(err);
        log?.warn({ err }, 'checkpointing failed (storing the signed note) or following the ledger failed; the next interval tries again');
      },
      committed: (entries) => {
        // decoded only while a release is open: the hot path pays nothing otherwise
        if (shadowRef?.watching()) shadowRef.observe(entries.map((e) => decodeEntry(e.bytes)));
        // this replica's own commits only: each replica notifies what it wrote, so nothing is sent twice
        notifyRef?.(entries);
      },
    },
    // the follower: another replica's entries wake this one's long polls and event streams at once
    onFollowed: (entries) => {
      shadowRef?.observe(entries);
      feedRef?.changed();
    },
  });
  const port: GatewayPort = observability ? observability.instrumentGateway(gateway) : gateway;
  const policies = new Map<string, ServedPolicy>(given === null ? [] : [[given.compiled.bundleId, given]]);

  const checkpoints = { prove: (seq: number) => gateway.prove(seq), flush: () => gateway.checkpoint(), probe: () => gateway.probeKey() };

  // the follower applies other replicas' entries as they are notified; this slow read-only catch-up
  // while anyone waits only covers a notification lost with its connection
  const refreshMs = options.replicaRefreshMs === undefined ? (store.kind === 'postgres' ? 1_000 : null) : options.replicaRefreshMs;
  const feed = new ChangeFeed({
    ...(refreshMs === null ? {} : { refresh: () => port.sync(), refreshMs }),
    onError: (err) => {
      observability?.sequencerObserver.error?.(err);
      log?.warn({ err }, 'catching up with other replicas failed');
    },
  });
  feedRef = feed;
  if (observability) shadowRef = new ShadowCounter(observability.registry, () => gateway.state);

  /** The policy's destinations and the configuration's, the policy's first; the configuration's never replace one of the same id. */
  const destinations = new Map<string, { readonly webhooks: readonly Webhook[]; readonly slack: readonly SlackDestination[] }>();
  const destinationsOf = (served: ServedPolicy): { readonly webhooks: readonly Webhook[]; readonly slack: readonly SlackDestination[] } => {
    const known = destinations.get(served.compiled.bundleId);
    if (known !== undefined) return known;
    const own = served.loaded.bundle.notifications;
    const webhookIds = new Set((own?.webhooks ?? []).map((w) => w.id));
    const slackIds = new Set((own?.slack ?? []).map((t) => t.id));
    const merged = {
      webhooks: [...(own?.webhooks ?? []), ...(options.notifications?.webhooks ?? []).filter((w) => !webhookIds.has(w.id))],
      slack: [...(own?.slack ?? []), ...(options.notifications?.slack ?? []).filter((t) => !slackIds.has(t.id))],
    };
    destinations.set(served.compiled.bundleId, merged);
    return merged;
  };
  const notifiers = new Map<string, WebhookNotifier>();
  const notifierFor = (served: ServedPolicy): WebhookNotifier => {
    let notifier = notifiers.get(served.compiled.bundleId);
    if (!notifier) {
      const webhooks: WebhookTarget[] = destinationsOf(served).webhooks.map((w) => ({
        id: w.id,
        url: w.url,
        secret_env: w.secret_env,
        risks: [...w.risks],
        ...(w.events === undefined ? {} : { events: [...w.events] }),
        ...(w.environments === undefined ? {} : { environments: [...w.environments] }),
      }));
      notifier = new WebhookNotifier({
        webhooks,
        clock,
        ...(options.webhookEnv ? { env: options.webhookEnv } : {}),
        // every attempt and skip is a ledger entry (notification.delivered / .failed) and a log line; never a secret
        onDelivery: async (delivery: WebhookDelivery) => {
          log?.info({ webhook_delivery: delivery }, delivery.ok ? 'webhook delivered' : 'webhook delivery failed');
          await gateway.recordDelivery(delivery).catch((err: unknown) => log?.warn({ err }, 'recording a webhook delivery failed'));
        },
      });
      notifiers.set(served.compiled.bundleId, notifier);
    }
    return notifier;
  };

  const ctx: ServerContext = {
    gateway: port,
    reader: gateway,
    store,
    key: options.key,
    origin: options.origin,
    clock,
    feed,
    checkpoints,
    policies,
    requestsOpened(ids) {
      const served = activePolicy(ctx);
      if (served === null || ids.length === 0) return;
      const notifier = notifierFor(served);
      const state = gateway.state;
      for (const id of ids) {
        const request = state.requests.get(id);
        if (!request || request.status !== 'open') continue;
        const step = state.steps.get(request.step);
        const artifact = step?.artifact ? state.artifacts.get(step.artifact) : undefined;
        notifier.approvalRequested({
          request_id: request.id,
          action: request.action,
          target: request.target,
          environment: request.environment,
          risk: request.risk,
          expected_consequence: step?.expected_consequence ?? null,
          rollback_plan: artifact ? `${artifact.action} on ${artifact.target} (${artifact.id})` : null,
          step_digest: request.digest,
          // the request's page in the console, where the approver decides it
          link: linkTo(request.id),
        });
        const view = slackRequest(request.id);
        if (view !== null) {
          slackFor(served).requestOpened(view, (t) => (t.risks ?? []).length === 0 || t.risks!.includes(request.risk) ? (t.environments ?? []).length === 0 || t.environments!.includes(request.environment) : false);
        }
      }
    },
  };

  const slackNotifiers = new Map<string, SlackNotifier>();
  const slackFor = (served: ServedPolicy): SlackNotifier => {
    let notifier = slackNotifiers.get(served.compiled.bundleId);
    if (!notifier) {
      const env = options.webhookEnv ?? process.env;
      const targets: SlackTarget[] = destinationsOf(served).slack.map((t) => ({ ...t }));
      notifier = new SlackNotifier({
        targets,
        env,
        ...(env['COUNTERSIGN_SLACK_API_URL'] ? { apiUrl: env['COUNTERSIGN_SLACK_API_URL'] } : {}),
        onDelivery: async (delivery) => {
          log?.info({ slack_delivery: delivery }, delivery.ok ? 'slack message sent' : 'slack message failed');
          await gateway.recordDelivery(delivery).catch((err: unknown) => log?.warn({ err }, 'recording a slack delivery failed'));
        },
      });
      slackNotifiers.set(served.compiled.bundleId, notifier);
    }
    return notifier;
  };
  /** What a Slack message shows of a request, as the state has it now; null for an unknown request. */
  const slackRequest = (requestId: string): SlackRequest | null => {
    const state = gateway.state;
    const request = state.requests.get(requestId);
    const served = activePolicy(ctx);
    if (request === undefined || served === null) return null;
    const step = state.steps.get(request.step);
    const slackDeclared = served.surfaces.has('slack');
    return {
      id: request.id,
      action: request.action,
      target: request.target,
      environment: request.environment,
      risk: request.risk,
      expected_consequence: step?.expected_consequence ?? null,
      rollback: rollbackPlan(state, step) ?? 'none registered',
      asked_by: `${request.agent} on behalf of ${request.on_behalf_of}, from ${request.surface}`,
      required: `${request.requirements.quorum.map((q) => `${q.count} of ${q.roles.join(' or ')}`).join(', and ')}; through ${request.requirements.surfaces.join(' or ')}`,
      digest: request.digest,
      link: linkTo(request.id),
      interactive: slackDeclared && request.requirements.surfaces.includes('slack') && request.requirements.attestation === 'any',
    };
  };
  const slackDecided = new Set(['request.approved', 'request.denied', 'request.expired', 'request.voided']);

  const linkTo = (requestId: string): string | null =>
    options.console === undefined ? null : `${options.console.publicUrl().replace(/\/+$/, '')}/console/requests/${encodeURIComponent(requestId)}`;
  const ledgerEvents = new Set<string>(NOTIFICATION_EVENTS.filter((e) => e !== 'approval.requested'));
  /** The request an entry concerns: named, or through its step or its execution's step. */
  const requestOf = (subjects: Readonly<Record<string, string>>, payload: Record<string, unknown>): string | null => {
    const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    const state = gateway.state;
    const named = subjects['request'] ?? text(payload['request']);
    if (named !== undefined) return named;
    const execution = text(payload['execution']) ?? subjects['execution'];
    const step = text(payload['step']) ?? subjects['step'] ?? (execution === undefined ? undefined : (state.executions.get(execution)?.step ?? undefined));
    return step === undefined ? null : (state.steps.get(step)?.request ?? null);
  };
  /**
   * `budget.near_exhaustion` (issue 16) for each override budget a grant
   * leaves with one override or none before an extra signer is required:
   * derived from the `override.granted` entry, counted as gate O8 counts, in
   * the window that ends at the grant. It carries that entry's seq.
   */
  const budgetEvents = (entry: LedgerEntry, served: ServedPolicy): LedgerEvent[] => {
    const payload = entry.payload as Record<string, unknown>;
    const environments = Array.isArray(payload['environments']) ? payload['environments'] : [];
    const past = pastOverrides(gateway.state);
    return (served.loaded.bundle.overrides?.budgets ?? [])
      .filter((budget) => environments.includes(budget.environment))
      .map((budget) => budgetStanding(budget, past, Date.parse(entry.at)))
      .filter(nearExhaustion)
      .map((standing) => ({
        event: 'budget.near_exhaustion',
        seq: entry.seq,
        at: entry.at,
        actor: entry.actor,
        request_id: null,
        environment: standing.environment,
        risk: null,
        link: null,
        subjects: entry.subjects,
        payload: { ...standing, override: payload['override'] ?? null, lease: payload['lease'] ?? null },
      }));
  };
  notifyRef = (entries) => {
    const served = activePolicy(ctx);
    if (served === null) return;
    const notifications = destinationsOf(served);
    // the hot path pays nothing unless Slack is set up or a webhook subscribed to more than opened requests
    const slack = (notifications?.slack ?? []).length > 0 ? slackFor(served) : null;
    const webhooks = (notifications?.webhooks ?? []).some((w) => w.events?.some((e) => ledgerEvents.has(e))) ? notifierFor(served) : null;
    if (slack === null && webhooks === null) return;
    for (const sealed of entries) {
      const entry = decodeEntry(sealed.bytes);
      // Slack messages this replica posted show the decision
      const named = entry.subjects['request'];
      if (slack !== null && slackDecided.has(entry.type) && named !== undefined) {
        slack.requestDecided(named, `${entry.type.slice('request.'.length)}${entry.actor === null ? '' : ` by ${entry.actor}`} at ${entry.at}`);
      }
      if (webhooks === null) continue;
      if (entry.type === 'override.granted') for (const event of budgetEvents(entry, served)) webhooks.notify(event);
      if (!ledgerEvents.has(entry.type)) continue;
      const payload = entry.payload as Record<string, unknown>;
      const requestId = requestOf(entry.subjects, payload);
      const record = requestId === null ? undefined : gateway.state.requests.get(requestId);
      webhooks.notify({
        event: entry.type,
        seq: entry.seq,
        at: entry.at,
        actor: entry.actor,
        request_id: requestId,
        environment: typeof payload['environment'] === 'string' ? payload['environment'] : (record?.environment ?? null),
        risk: typeof payload['risk'] === 'string' ? payload['risk'] : (record?.risk ?? null),
        link: requestId === null ? null : linkTo(requestId),
        subjects: entry.subjects,
        payload,
      });
    }
  };

  if (clientCertSurfaces.size > 0) {
    // a misspelt surface would leave the real one without the check: refuse to start instead
    const declared = activePolicy(ctx)?.surfaces ?? new Set<string>();
    const unknown = [...clientCertSurfaces].filter((s) => !declared.has(s));
    if (unknown.length > 0) {
      await gateway.close();
      throw new GatewayError('USAGE', `client certificate surfaces not declared by the policy in force: ${unknown.map((s) => `\`${s}\``).join(', ')}`);
    }
  }
  {
    // a destination in both the policy and the configuration: which one was meant is unclear, so say so at once
    const own = activePolicy(ctx)?.loaded.bundle.notifications;
    const clash = [
      ...(options.notifications?.webhooks ?? []).filter((w) => (own?.webhooks ?? []).some((p) => p.id === w.id)).map((w) => `webhook \`${w.id}\``),
      ...(options.notifications?.slack ?? []).filter((t) => (own?.slack ?? []).some((p) => p.id === t.id)).map((t) => `slack destination \`${t.id}\``),
    ];
    if (clash.length > 0) {
      await gateway.close();
      throw new GatewayError('USAGE', `${clash.join(', ')} declared by both the policy and the configuration: rename one`);
    }
  }
  const guard = createGuard({
    credentials: options.credentials,
    clock,
    authority: () => {
      const served = activePolicy(ctx);
      // a bundle activated by another replica and unknown here: nobody is authorized until restart (fail closed)
      if (served === null) return { roster: { get: () => undefined }, surfaces: new Set<string>() };
      return { roster: served.roster, surfaces: served.surfaces };
    },
    ...(clientCertSurfaces.size === 0 ? {} : { clientCertSurfaces }),
    // DESIGN invariant 7: a refusal that cannot be recorded is not answered as one (503 instead)
    onForbidden: async (identity, operation, error, rule) => {
      try {
        await port.recordRefusal({ principal: identity.principal, surface: identity.surface, credential: identity.credentialId }, forbiddenRefusal(operation, error.code, rule));
      } catch (err) {
        observability?.sequencerObserver.error?.(err);
        log?.error({ err }, 'recording a refusal failed; answered 503 instead');
        throw new ApiError('STORE_UNAVAILABLE', 'the refusal could not be recorded; try again');
      }
      feed.changed();
    },
  });

  const routes: RouteSpec[] = [
    ...operationRoutes(ctx, { ...(observability ? { registry: observability.registry } : {}), ...(options.metricsToken === undefined ? {} : { metricsToken: options.metricsToken }) }),
    ...proposalRoutes(ctx),
    ...requestRoutes(ctx),
    ...executionRoutes(ctx),
    ...holdRoutes(ctx),
    ...overrideRoutes(ctx),
    ...rollbackRoutes(ctx),
    ...haltRoutes(ctx),
    ...bundleRoutes(ctx),
    ...releaseRoutes(ctx),
    ...ledgerRoutes(ctx),
    ...tokenRoutes(ctx, options.credentials, (event) => gateway.recordCredential(event)),
    ...passkeyRoutes(ctx, options.console),
  ];

  const app = buildApp({
    routes,
    guard: async (request, operation) => {
      if (!isOperation(operation)) throw new ApiError('FORBIDDEN', `operation \`${operation}\` is not known`);
      await guard(request, operation satisfies Operation);
    },
    ...(options.logLevel ? { logLevel: options.logLevel } : {}),
    ...(options.bodyLimitBytes ? { bodyLimitBytes: options.bodyLimitBytes } : {}),
    ...(options.tls === undefined ? {} : { tls: options.tls }),
  });
  log = app.log;
  registerSlackInteractions(app, ctx, {
    slack: () => {
      const served = activePolicy(ctx);
      return served === null ? null : slackFor(served);
    },
    request: slackRequest,
    env: options.webhookEnv ?? process.env,
  });
  if (options.console !== undefined) registerConsole(app, ctx, options.credentials, options.console, (event) => gateway.recordSession(event));

  const expireEvery = options.expireIntervalMs ?? DEFAULT_EXPIRE_INTERVAL_MS;
  let expiring = false;
  const expireTimer = setInterval(() => {
    if (expiring || !somethingExpired(gateway, clock())) return;
    expiring = true;
    port
      .expire()
      .then((result) => {
        if (result.ok && result.expired_requests.length > 0) feed.changed();
      })
      .catch((err: unknown) => log?.warn({ err }, 'expiring requests failed'))
      .finally(() => (expiring = false));
  }, expireEvery);
  expireTimer.unref();

  let closing: Promise<void> | null = null;
  return {
    app,
    get policy() {
      const served = activePolicy(ctx);
      if (served === null) throw new GatewayError('BUNDLE_NOT_LOADED', 'the active bundle is not loaded');
      return served.loaded;
    },
    gateway,
    reloadTls(tls) {
      const server = app.server as unknown as { setSecureContext?: (options: ReturnType<typeof httpsOptions>) => void };
      if (options.tls === undefined || server.setSecureContext === undefined) throw new GatewayError('USAGE', 'this gateway serves plain HTTP: there is no certificate to reload');
      // whether handshakes ask for a client certificate is fixed at start; only the CAs they chain to change
      if ((tls.clientCa === undefined) !== (options.tls.clientCa === undefined)) throw new GatewayError('USAGE', 'a reload keeps or omits the client CA as the gateway started');
      const { cert, key, ca } = httpsOptions(tls);
      server.setSecureContext({ cert, key, ...(ca === undefined ? {} : { ca }) });
    },
    close() {
      closing ??= (async () => {
        clearInterval(expireTimer);
        // long polls answer now with what they know; event streams end
        feed.close();
        await app.close();
        await Promise.all([...notifiers.values()].map((n) => n.close()));
        await Promise.all([...slackNotifiers.values()].map((n) => n.idle()));
        // ADR 002: every acknowledged entry is durable already; the Gateway's final checkpoint signs them all
        await gateway.close();
        await options.credentials.close();
        await options.store.close();
        await observability?.shutdown();
      })();
      return closing;
    },
  };
}

/** Whether an open request's window has passed, by the core's own rule: only then is `expire` worth a write transaction. */
function somethingExpired(gateway: Gateway, now: number): boolean {
  for (const request of openRequests(gateway.state)) if (requestExpired(request, now)) return true;
  return false;
}
