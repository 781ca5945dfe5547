/**
 * Optional OTLP export of the gateway's spans. The gateway depends only on
 * `@opentelemetry/api`; an SDK is the deployer's choice. When
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
 * set, the SDK is loaded on demand and configured by the standard `OTEL_*`
 * environment variables (OpenTelemetry specification, "Environment Variable
 * Specification"); if it is not installed the gateway says so once and runs
 * without exporting.
 */

export interface TracingSetup {
  /** True when spans leave the process. */
  readonly exporting: boolean;
  /** Which SDK package was loaded, if any. */
  readonly sdk: string | null;
  /** Flush and stop the exporter; a no-op when not exporting. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly serviceName?: string;
  /** Where the one warning goes when the SDK is missing. */
  readonly warn?: (message: string) => void;
  /** Module loader; injected by tests. */
  readonly load?: (specifier: string) => Promise<unknown>;
}

export const SDK_PACKAGES = ['@opentelemetry/sdk-node'] as const;
export const TRACE_SDK_PACKAGES = ['@opentelemetry/sdk-trace-node', '@opentelemetry/exporter-trace-otlp-http'] as const;

const NOT_EXPORTING: TracingSetup = { exporting: false, sdk: null, shutdown: async () => undefined };

/** True when the environment asks for OTLP export. */
export function otlpRequested(env: Readonly<Record<string, string | undefined>>): boolean {
  if (env['OTEL_SDK_DISABLED']?.trim().toLowerCase() === 'true') return false;
  if (env['OTEL_TRACES_EXPORTER']?.trim().toLowerCase() === 'none') return false;
  return Boolean(env['OTEL_EXPORTER_OTLP_ENDPOINT']?.trim() || env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']?.trim());
}

interface NodeSdkModule {
  NodeSDK: new (config: { serviceName?: string }) => { start(): void; shutdown(): Promise<void> };
}

interface TraceNodeModule {
  NodeTracerProvider: new (config?: { spanProcessors?: unknown[] }) => {
    register(): void;
    shutdown(): Promise<void>;
  };
  BatchSpanProcessor: new (exporter: unknown) => unknown;
}

interface OtlpHttpModule {
  OTLPTraceExporter: new () => unknown;
}

/**
 * Start exporting spans over OTLP if the environment asks for it. Never
 * throws: tracing is observability, and a missing or broken SDK must not keep
 * the gateway from serving.
 */
export async function startTracing(options: TracingOptions = {}): Promise<TracingSetup> {
  const env = options.env ?? process.env;
  if (!otlpRequested(env)) return NOT_EXPORTING;
  const load = options.load ?? ((specifier: string) => import(specifier));
  const warn = options.warn ?? ((message: string) => process.stderr.write(`warning: ${message}\n`));
  const serviceName = env['OTEL_SERVICE_NAME'] ?? options.serviceName ?? 'countersign-gateway';

  const nodeSdk = (await optional(load, SDK_PACKAGES[0])) as NodeSdkModule | null;
  if (nodeSdk?.NodeSDK) {
    try {
      const sdk = new nodeSdk.NodeSDK({ serviceName });
      sdk.start();
      return { exporting: true, sdk: SDK_PACKAGES[0], shutdown: () => sdk.shutdown() };
    } catch (err) {
      warn(`the OpenTelemetry SDK did not start (${messageOf(err)}): spans are not exported`);
      return NOT_EXPORTING;
    }
  }

  const traceNode = (await optional(load, TRACE_SDK_PACKAGES[0])) as TraceNodeModule | null;
  const otlp = (await optional(load, TRACE_SDK_PACKAGES[1])) as OtlpHttpModule | null;
  if (traceNode?.NodeTracerProvider && traceNode.BatchSpanProcessor && otlp?.OTLPTraceExporter) {
    try {
      const processor = new traceNode.BatchSpanProcessor(new otlp.OTLPTraceExporter());
      const provider = new traceNode.NodeTracerProvider({ spanProcessors: [processor] });
      provider.register();
      return { exporting: true, sdk: TRACE_SDK_PACKAGES[0], shutdown: () => provider.shutdown() };
    } catch (err) {
      warn(`the OpenTelemetry trace SDK did not start (${messageOf(err)}): spans are not exported`);
      return NOT_EXPORTING;
    }
  }

  warn(
    `OTEL_EXPORTER_OTLP_ENDPOINT is set but no OpenTelemetry SDK is installed: ` +
      `install \`${SDK_PACKAGES[0]}\` (or \`${TRACE_SDK_PACKAGES.join('` and `')}\`) to export spans; continuing without exporting`,
  );
  return NOT_EXPORTING;
}

async function optional(load: (specifier: string) => Promise<unknown>, specifier: string): Promise<unknown> {
  try {
    return await load(specifier);
  } catch {
    return null;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
