import { SpanKind, SpanStatusCode, type Attributes, type Span, type Tracer } from '@opentelemetry/api';

/**
 * OpenTelemetry spans around the gateway's operations and ledger appends,
 * through `@opentelemetry/api` only: without an SDK registered every call
 * below is a no-op, so tracing costs nothing unless it is configured.
 *
 * Attribute names live under `countersign.`; there is no semantic convention
 * for authority workflows. Ids are taken from what the gateway returned, or
 * from the gateway's own state, rather than from the caller's input wherever
 * the gateway has them; an id that only the input names (the request of a
 * refused approval) is cut to a bounded length, since it is attacker-controlled.
 */

/** Gateway methods traced, and their span names. */
export const GATEWAY_SPANS: Readonly<Record<string, string>> = {
  propose: 'countersign.propose',
  approve: 'countersign.approve',
  deny: 'countersign.deny',
  execute: 'countersign.execute',
  executeWithLease: 'countersign.execute_lease',
  reportOutcome: 'countersign.outcome',
  openHold: 'countersign.hold.open',
  addEvidence: 'countersign.hold.evidence',
  liftHold: 'countersign.hold.lift',
  requestOverride: 'countersign.override.request',
  submitOverride: 'countersign.override.submit',
  registerRollback: 'countersign.rollback.register',
  runRollback: 'countersign.rollback.run',
  halt: 'countersign.halt',
  liftHalt: 'countersign.halt.lift',
  activateBundle: 'countersign.bundle.activate',
  expire: 'countersign.expire',
};

export const APPEND_SPAN = 'countersign.ledger.append';

export const ATTR = {
  principal: 'countersign.principal',
  surface: 'countersign.surface',
  proposal: 'countersign.proposal.id',
  request: 'countersign.request.id',
  requests: 'countersign.request.ids',
  grant: 'countersign.grant.id',
  grants: 'countersign.grant.ids',
  effects: 'countersign.step.effects',
  incident: 'countersign.incident.id',
  bundle: 'countersign.bundle.id',
  result: 'countersign.result.code',
  codes: 'countersign.result.codes',
  entries: 'countersign.ledger.entries',
  store: 'countersign.ledger.store',
  seq: 'countersign.ledger.seq',
} as const;

/** Subject ids a call may name or return: attribute `countersign.<key>.id`. */
const ID_KEYS = ['proposal', 'request', 'grant', 'execution', 'hold', 'override', 'lease', 'artifact', 'halt', 'step', 'bundle_id'] as const;

/** Result code of a successful call; refusals carry their own. */
export const RESULT_OK = 'OK';

const MAX_INPUT_ID = 128;

/** The read-only view of the gateway the span attributes come from. */
interface GatewayView {
  readonly bundleId?: string | null;
  readonly state?: {
    readonly executions: ReadonlyMap<string, { readonly grant: string | null; readonly lease: string | null; readonly step: string | null }>;
    readonly grants: ReadonlyMap<string, { readonly request: string | null; readonly proposal: string; readonly incident: string | null }>;
  };
}

/**
 * A view of `gateway` whose traced methods run inside a span; every other
 * property is the gateway's own.
 */
export function traceGateway<G extends object>(gateway: G, tracer: Tracer): G {
  const wrappers = new Map<string | symbol, unknown>();
  return new Proxy(gateway, {
    get(target, prop) {
      // the gateway's getters read private fields: they must see the gateway itself as `this`
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      let wrapped = wrappers.get(prop);
      if (wrapped === undefined) {
        const name = typeof prop === 'string' ? GATEWAY_SPANS[prop] : undefined;
        const method = value as (...args: unknown[]) => unknown;
        wrapped = name === undefined ? method.bind(target) : traced(target as GatewayView, method, name, prop as string, tracer);
        wrappers.set(prop, wrapped);
      }
      return wrapped;
    },
  });
}

function traced(gateway: GatewayView, method: (...args: unknown[]) => unknown, name: string, operation: string, tracer: Tracer) {
  return (...args: unknown[]): Promise<unknown> =>
    tracer.startActiveSpan(name, { kind: SpanKind.INTERNAL, attributes: inputAttributes(operation, args) }, async (span) => {
      try {
        const result = await method.apply(gateway, args);
        if (span.isRecording()) span.setAttributes(resultAttributes(gateway, operation, result));
        return result;
      } catch (err) {
        failed(span, err);
        throw err;
      } finally {
        span.end();
      }
    });
}

/** Wrap a store's writes in `countersign.ledger.append` spans. */
export async function tracedAppend<T>(tracer: Tracer, store: string, count: () => number, write: () => Promise<T>, sealedFirst: (result: T) => number | null): Promise<T> {
  return tracer.startActiveSpan(APPEND_SPAN, { kind: SpanKind.INTERNAL, attributes: { [ATTR.store]: store } }, async (span) => {
    try {
      const result = await write();
      if (span.isRecording()) {
        span.setAttribute(ATTR.entries, count());
        const seq = sealedFirst(result);
        if (seq !== null) span.setAttribute(ATTR.seq, seq);
      }
      return result;
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

function failed(span: Span, err: unknown): void {
  const code = codeOf(err);
  span.setAttribute(ATTR.result, code);
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: code });
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'INTERNAL';
}

function inputAttributes(operation: string, args: readonly unknown[]): Attributes {
  const attributes: Attributes = {};
  const caller = args[0] as { principal?: unknown; surface?: unknown } | undefined;
  // the caller is what the credential says: trusted
  if (typeof caller?.principal === 'string') attributes[ATTR.principal] = caller.principal;
  if (typeof caller?.surface === 'string') attributes[ATTR.surface] = caller.surface;
  const input = args[1] as Record<string, unknown> | undefined;
  if (input === undefined || input === null || typeof input !== 'object') return attributes;
  if (operation === 'approve' || operation === 'deny') {
    const request = (input['statement'] as { request?: unknown } | undefined)?.request;
    if (typeof request === 'string') attributes[ATTR.request] = bounded(request);
    return attributes;
  }
  if (operation === 'propose') {
    const incident = input['incident'];
    if (typeof incident === 'string') attributes[ATTR.incident] = bounded(incident);
    return attributes;
  }
  for (const key of ID_KEYS) {
    const value = input[key];
    if (typeof value === 'string') attributes[idAttribute(key)] = bounded(value);
  }
  return attributes;
}

function resultAttributes(gateway: GatewayView, operation: string, result: unknown): Attributes {
  const attributes: Attributes = {};
  const bundle = gateway.bundleId;
  if (typeof bundle === 'string') attributes[ATTR.bundle] = bundle;
  const r = result as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object') return attributes;
  if (r['ok'] !== true) {
    attributes[ATTR.result] = typeof r['code'] === 'string' ? r['code'] : 'REFUSED';
    const codes = r['codes'];
    if (Array.isArray(codes) && codes.length > 1) attributes[ATTR.codes] = codes.filter((c): c is string => typeof c === 'string');
    return attributes;
  }
  attributes[ATTR.result] = RESULT_OK;
  for (const key of ID_KEYS) {
    const value = r[key];
    if (typeof value === 'string') attributes[idAttribute(key)] = value;
  }
  const grant = r['grant'] as { jti?: unknown } | null | undefined;
  if (typeof grant?.jti === 'string') attributes[ATTR.grant] = grant.jti;
  if (operation === 'propose' && Array.isArray(r['steps'])) {
    const steps = r['steps'] as readonly { effect?: unknown; request?: unknown; grant?: { jti?: unknown } | null }[];
    attributes[ATTR.effects] = steps.map((s) => String(s.effect));
    const requests = steps.flatMap((s) => (typeof s.request === 'string' ? [s.request] : []));
    const grants = steps.flatMap((s) => (typeof s.grant?.jti === 'string' ? [s.grant.jti] : []));
    if (requests.length > 0) attributes[ATTR.requests] = requests;
    if (grants.length > 0) attributes[ATTR.grants] = grants;
    if (requests.length === 1) attributes[ATTR.request] = requests[0]!;
    if (grants.length === 1) attributes[ATTR.grant] = grants[0]!;
  }
  if (typeof r['execution'] === 'string') {
    // which grant an execution consumed is the gateway's record, not the token's word
    const execution = gateway.state?.executions.get(r['execution']);
    const jti = execution?.grant ?? null;
    if (jti !== null) {
      attributes[ATTR.grant] = jti;
      const record = gateway.state?.grants.get(jti);
      if (record) {
        attributes[ATTR.proposal] = record.proposal;
        if (record.request !== null) attributes[ATTR.request] = record.request;
        if (record.incident !== null) attributes[ATTR.incident] = record.incident;
      }
    }
    if (execution?.lease) attributes[idAttribute('lease')] = execution.lease;
  }
  return attributes;
}

function idAttribute(key: (typeof ID_KEYS)[number]): string {
  return key === 'bundle_id' ? ATTR.bundle : `countersign.${key}.id`;
}

function bounded(value: string): string {
  return value.length > MAX_INPUT_ID ? value.slice(0, MAX_INPUT_ID) : value;
}
