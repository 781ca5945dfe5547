import { performance } from 'node:perf_hooks';
import { trace, type Tracer } from '@opentelemetry/api';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { decodeEntry, type AppendBuilder, type AppendOptions, type AppendWithResult, type EntryDraft, type LedgerStore, type TransactionalLedgerStore } from '@countersign/core';
import type { SequencerObserver } from '../ledger/observer.js';
import { startTracing, type TracingOptions, type TracingSetup } from './exporter.js';
import { LedgerMetrics, type StateSource } from './metrics.js';
import { tracedAppend, traceGateway } from './spans.js';

export { startTracing, otlpRequested, type TracingOptions, type TracingSetup } from './exporter.js';
export { APPEND_SPAN, ATTR, GATEWAY_SPANS, RESULT_OK } from './spans.js';
export type { StateSource } from './metrics.js';

export interface ObservabilityOptions {
  /** Defaults to a registry of its own, so two gateways in one process do not collide. */
  readonly registry?: Registry;
  /** Epoch milliseconds, for the checkpoint age. */
  readonly clock?: () => number;
  /** Also export prom-client's default `process_*` and `nodejs_*` metrics. Default true. */
  readonly defaultMetrics?: boolean;
  /** OTLP export configuration; `false` never starts an SDK. Default: read `OTEL_*` from the environment. */
  readonly tracing?: TracingOptions | false;
}

export interface Observability {
  /** Serve `await registry.metrics()` with `registry.contentType` at `GET /metrics`. */
  readonly registry: Registry;
  readonly tracer: Tracer;
  /**
   * The same gateway, its operations run inside `countersign.*` spans. Its
   * `state` (if it has one) becomes the source of the state gauges.
   */
  instrumentGateway<G extends object>(gateway: G): G;
  /**
   * The same store, its `appendWith` timed, traced
   * (`countersign.ledger.append`) and their committed entries counted. Pass
   * the instrumented store to `Gateway.open`: counters see only entries
   * written through it. Size and checkpoint gauges read this store on scrape.
   */
  instrumentStore<S extends LedgerStore>(store: S): S;
  /** Pass to `Gateway.open({ observer })` (or a tool's plain `Sequencer`). */
  readonly sequencerObserver: SequencerObserver;
  /** Set (or replace) where the state gauges read from; they are recomputed on every scrape. */
  refresh(source?: StateSource): void;
  /** Settles once OTLP export is running, or known not to be. */
  readonly tracing: Promise<TracingSetup>;
  /** Flush and stop span export, if any. */
  shutdown(): Promise<void>;
}

/**
 * Metrics (prom-client) and spans (`@opentelemetry/api`) for one gateway
 * process (issue 6 §4). Counters come from the entries the instrumented store
 * commits; state gauges from the gateway's state on scrape; nothing here ever
 * decides whether an entry is written.
 */
export function createObservability(options: ObservabilityOptions = {}): Observability {
  const registry = options.registry ?? new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const metrics = new LedgerMetrics({ registry, clock: options.clock ?? (() => Date.now()) });
  const tracer = trace.getTracer('countersign');
  const tracing = options.tracing === false ? Promise.resolve<TracingSetup>({ exporting: false, sdk: null, shutdown: async () => undefined }) : startTracing(options.tracing ?? {});

  const sequencerObserver: SequencerObserver = {
    append: (e) => metrics.sequencerAppendSeconds.observe({ outcome: e.ok ? 'ok' : 'error' }, e.latencyMs / 1_000),
    batch: (e) => {
      if (e.ok) metrics.batchEntries.observe(e.size);
    },
    checkpoint: (e) => metrics.checkpointWritten(e.treeSize),
    error: () => metrics.sequencerErrors.inc(),
  };

  return {
    registry,
    tracer,
    sequencerObserver,
    tracing,
    instrumentGateway<G extends object>(gateway: G): G {
      if ('state' in gateway) metrics.setStateSource(() => (gateway as { readonly state?: ReturnType<StateSource> }).state ?? null);
      return traceGateway(gateway, tracer);
    },
    instrumentStore<S extends LedgerStore>(store: S): S {
      metrics.setStore(store);
      return instrumentedStore(store, metrics, tracer);
    },
    refresh(source?: StateSource): void {
      if (source) metrics.setStateSource(source);
    },
    async shutdown(): Promise<void> {
      await (await tracing).shutdown();
    },
  };
}

function instrumentedStore<S extends LedgerStore>(store: S, metrics: LedgerMetrics, tracer: Tracer): S {
  const kind = store.kind;
  const appendWith = async (knownSize: number, build: AppendBuilder, options?: AppendOptions): Promise<AppendWithResult> => {
    let drafts: readonly EntryDraft[] = [];
    const capture: AppendBuilder = (caughtUp, head) => {
      const plan = build(caughtUp, head);
      drafts = plan.drafts;
      return plan;
    };
    const started = performance.now();
    let outcome = 'error';
    try {
      const result = await tracedAppend(
        tracer,
        kind,
        () => drafts.length,
        () => (store as unknown as TransactionalLedgerStore).appendWith(knownSize, capture, options),
        (r) => r.sealed[0]?.seq ?? null,
      );
      outcome = 'ok';
      // the drafts are the entries only if the store sealed every one of them; otherwise trust the bytes
      metrics.count(drafts.length === result.sealed.length ? drafts : result.sealed.map((e) => decodeEntry(e.bytes)));
      return result;
    } finally {
      metrics.appendSeconds.observe({ operation: 'append_with', outcome }, (performance.now() - started) / 1_000);
    }
  };

  const bound = new Map<string | symbol, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'appendWith') return typeof (target as Partial<TransactionalLedgerStore>).appendWith === 'function' ? appendWith : undefined;
      // adapters keep their connections in private fields: methods must run on the store itself
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      let method = bound.get(prop);
      if (method === undefined) {
        method = (value as (...args: unknown[]) => unknown).bind(target);
        bound.set(prop, method);
      }
      return method;
    },
  });
}
