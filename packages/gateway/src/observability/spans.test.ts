import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  INVALID_SPAN_CONTEXT,
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { playGoverned } from '../../../../test/scenario/incident.js';
import { dispatch, gatewayKey, GATEWAY_ORIGIN, ManualClock, recordScript } from '../../../../test/helpers/gateway-replay.js';
import { counterIds } from '../../../core/src/state/machine.js';
import { Gateway } from '../service/gateway.js';
import { SqliteLedgerStore } from '../store/sqlite.js';
import { createObservability } from './index.js';
import { startTracing } from './exporter.js';
import { APPEND_SPAN, ATTR, RESULT_OK } from './spans.js';

/**
 * Spans of an instrumented Gateway, recorded by a minimal TracerProvider
 * written against the `@opentelemetry/api` interfaces (no SDK is installed,
 * and none is needed to run).
 */

interface Recorded {
  readonly name: string;
  readonly attributes: Record<string, AttributeValue | undefined>;
  status: SpanStatus | null;
  exceptions: number;
  ended: boolean;
}

class RecordingSpan implements Span {
  constructor(readonly record: Recorded) {}
  spanContext(): SpanContext {
    return INVALID_SPAN_CONTEXT;
  }
  setAttribute(key: string, value: AttributeValue): this {
    this.record.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.record.attributes, attributes);
    return this;
  }
  addEvent(): this {
    return this;
  }
  addLink(): this {
    return this;
  }
  addLinks(): this {
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.record.status = status;
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {
    this.record.ended = true;
  }
  isRecording(): boolean {
    return true;
  }
  recordException(): void {
    this.record.exceptions += 1;
  }
}

class RecordingTracer {
  readonly spans: Recorded[] = [];
  startSpan(name: string, options?: SpanOptions): Span {
    const record: Recorded = { name, attributes: { ...options?.attributes }, status: null, exceptions: 0, ended: false };
    this.spans.push(record);
    return new RecordingSpan(record);
  }
  startActiveSpan<F extends (span: Span) => unknown>(name: string, ...rest: [F] | [SpanOptions, F] | [SpanOptions, Context, F]): ReturnType<F> {
    const fn = rest[rest.length - 1] as F;
    const options = rest.length > 1 ? (rest[0] as SpanOptions) : undefined;
    return fn(this.startSpan(name, options)) as ReturnType<F>;
  }
}

const recorder = new RecordingTracer();
const provider: TracerProvider = { getTracer: () => recorder as unknown as Tracer };
const dir = mkdtempSync(join(tmpdir(), 'countersign-spans-'));

beforeAll(() => {
  trace.disable();
  expect(trace.setGlobalTracerProvider(provider)).toBe(true);
});
afterAll(() => {
  trace.disable();
  rmSync(dir, { recursive: true, force: true });
});

describe('spans of the governed incident', () => {
  it('trace each operation with its ids, bundle and result code, and each ledger append', async () => {
    const recorded = recordScript(playGoverned);
    const [first, ...rest] = recorded.commands;
    if (first?.command.kind !== 'bundle_activate') throw new Error('a script starts by activating its bundle');
    const clock = new ManualClock(first.now);
    const obs = createObservability({ defaultMetrics: false, tracing: false, clock: clock.read });
    const store = await SqliteLedgerStore.open(join(dir, 'governed.db'));
    const raw = await Gateway.open({ store: obs.instrumentStore(store), policy: first.command.policy, key: gatewayKey(), origin: GATEWAY_ORIGIN, clock: clock.read, ids: counterIds() });
    const gateway = obs.instrumentGateway(raw);
    // everything else is the gateway's own
    expect(gateway.state).toBe(raw.state);
    expect(gateway.bundleId).toBe(raw.bundleId);
    const bundle = raw.bundleId;
    recorder.spans.length = 0;

    const tokens = new Map<string, string>();
    for (const { command, now } of rest) {
      clock.now = now;
      const result = await dispatch(gateway, command, tokens);
      if (result.ok) for (const [jti, token] of Object.entries(result.tokens)) tokens.set(jti, token);
    }
    await gateway.close();
    await store.close();

    const operations = recorder.spans.filter((s) => s.name !== APPEND_SPAN);
    expect(operations).toHaveLength(rest.length);
    expect(recorder.spans.every((s) => s.ended)).toBe(true);
    for (const span of operations) expect(span.attributes[ATTR.bundle]).toBe(bundle);

    // 09:16 the two-step plan: one span, both steps' effects, the restart's request
    const plan = operations.find((s) => s.name === 'countersign.propose' && (s.attributes[ATTR.effects] as string[] | undefined)?.length === 2);
    expect(plan?.attributes).toMatchObject({
      [ATTR.principal]: 'payments-copilot',
      [ATTR.surface]: 'copilot-console',
      [ATTR.proposal]: expect.any(String),
      [ATTR.incident]: 'inc-payments-0912',
      [ATTR.effects]: ['require_approval', 'deny'],
      [ATTR.result]: RESULT_OK,
    });
    const request = plan?.attributes[ATTR.request] ?? (plan?.attributes[ATTR.requests] as string[] | undefined)?.[0];
    expect(request).toEqual(expect.any(String));

    // 09:17 the self-approval and the same-console override, refused with their codes
    const approvals = operations.filter((s) => s.name === 'countersign.approve');
    expect(approvals.map((s) => s.attributes[ATTR.result])).toEqual(['SELF_APPROVAL', RESULT_OK, RESULT_OK, RESULT_OK]);
    expect(approvals[0]?.attributes[ATTR.request]).toBe(request);
    expect(approvals[0]?.status).toBeNull();
    const submit = operations.find((s) => s.name === 'countersign.override.submit');
    expect(submit?.attributes[ATTR.result]).toBe('O1_IDENTITY_COLLISION');
    expect(submit?.attributes['countersign.override.id']).toEqual(expect.any(String));
    expect(operations.find((s) => s.name === 'countersign.hold.open')?.attributes['countersign.hold.id']).toEqual(expect.any(String));

    // 09:19 leo's approval meets the quorum: the span names the grant it issued
    const quorum = approvals[1];
    expect(quorum?.attributes[ATTR.request]).toBe(request);
    expect(quorum?.attributes[ATTR.grant]).toEqual(expect.any(String));

    // executions carry the grant they consumed, and its request and proposal, from the gateway's records
    const restartRun = operations.find((s) => s.name === 'countersign.execute' && s.attributes[ATTR.grant] === quorum?.attributes[ATTR.grant]);
    expect(restartRun?.attributes).toMatchObject({ [ATTR.request]: request, [ATTR.proposal]: plan?.attributes[ATTR.proposal], 'countersign.execution.id': expect.any(String) });
    expect(operations.filter((s) => s.name === 'countersign.outcome').length).toBeGreaterThan(0);

    // every committed batch is an append span with its entry count and first sequence number
    const appends = recorder.spans.filter((s) => s.name === APPEND_SPAN);
    expect(appends.length).toBeGreaterThan(0);
    expect(appends.every((s) => typeof s.attributes[ATTR.entries] === 'number' && s.attributes[ATTR.store] === 'sqlite')).toBe(true);
  });

  it('mark a call that throws as an error with its code', async () => {
    const obs = createObservability({ defaultMetrics: false, tracing: false });
    const failing = {
      async propose(): Promise<never> {
        throw Object.assign(new Error('the store is gone'), { code: 'STORE_UNAVAILABLE' });
      },
    };
    recorder.spans.length = 0;
    await expect(obs.instrumentGateway(failing).propose()).rejects.toThrow('the store is gone');
    expect(recorder.spans).toHaveLength(1);
    expect(recorder.spans[0]).toMatchObject({ name: 'countersign.propose', status: { code: 2, message: 'STORE_UNAVAILABLE' }, exceptions: 1, ended: true });
    expect(recorder.spans[0]?.attributes[ATTR.result]).toBe('STORE_UNAVAILABLE');
  });
});

describe('OTLP export', () => {
  it('stays off unless an endpoint is configured', async () => {
    const warnings: string[] = [];
    const setup = await startTracing({ env: {}, warn: (m) => warnings.push(m), load: () => Promise.reject(new Error('must not load')) });
    expect(setup.exporting).toBe(false);
    expect(warnings).toEqual([]);
  });

  it('warns once, naming the packages to install, when the SDK is missing, and runs on', async () => {
    const warnings: string[] = [];
    const loaded: string[] = [];
    const setup = await startTracing({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' },
      warn: (m) => warnings.push(m),
      load: (specifier) => {
        loaded.push(specifier);
        return import(specifier);
      },
    });
    expect(setup.exporting).toBe(false);
    expect(loaded).toContain('@opentelemetry/sdk-node');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('`@opentelemetry/sdk-node`');
    expect(warnings[0]).toContain('`@opentelemetry/exporter-trace-otlp-http`');
    await setup.shutdown();
  });

  it('starts the SDK when it is installed, with the service name from the environment', async () => {
    const started: string[] = [];
    class NodeSDK {
      constructor(readonly config: { serviceName?: string }) {}
      start(): void {
        started.push(this.config.serviceName ?? '');
      }
      async shutdown(): Promise<void> {
        started.push('shutdown');
      }
    }
    const setup = await startTracing({
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'payments-gateway' },
      load: async (specifier) => (specifier === '@opentelemetry/sdk-node' ? { NodeSDK } : Promise.reject(new Error('absent'))),
    });
    expect(setup).toMatchObject({ exporting: true, sdk: '@opentelemetry/sdk-node' });
    await setup.shutdown();
    expect(started).toEqual(['payments-gateway', 'shutdown']);
  });
});
