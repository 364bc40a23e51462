import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { IMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { env, loadConfig } from '@writ/config';
import type { ConfigOf } from '@writ/config';
import { describeError } from '@writ/errors';
import { JsonLinesSpanExporter } from './file-exporter.ts';

/** How long finished spans wait before they are appended to WRIT_TRACES_FILE. */
const FILE_EXPORT_DELAY_MS = 100;

/** Where the Prometheus endpoint listens unless WRIT_METRICS_HOST says otherwise: loopback only. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';
/** The path of the Prometheus endpoint. */
export const METRICS_PATH = '/metrics';

export interface Telemetry {
  /** Where spans and metrics go, for the boot log (`traces otlp <origin>`, `metrics prometheus <url>`, ...). */
  readonly exporters: readonly string[];
  /**
   * Resolves once the Prometheus endpoint listens (at once without one); rejects, naming
   * WRIT_METRICS_PORT, when it cannot (the port is taken, say).
   */
  readonly ready: Promise<void>;
  shutdown(): Promise<void>;
}

type Source = Readonly<Record<string, string | undefined>>;

const TELEMETRY_CONFIG = {
  OTEL_EXPORTER_OTLP_ENDPOINT: env.optionalUrl(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: env.optionalUrl(),
  OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: env.optionalUrl(),
  /** How often metrics are pushed over OTLP (the OpenTelemetry variable, in ms). */
  OTEL_METRIC_EXPORT_INTERVAL: env.int({ default: 60_000, min: 1_000, max: 86_400_000 }),
  WRIT_TRACES_FILE: env.optionalString(),
  WRIT_METRICS_PORT: env.optionalPort(),
  WRIT_METRICS_HOST: env.string({ default: DEFAULT_METRICS_HOST }),
};

export type TelemetryConfig = ConfigOf<typeof TELEMETRY_CONFIG>;

/** The variables startTelemetry reads, validated at once: a bad one throws CONFIG_INVALID naming it and its rule. */
export function telemetryConfig(source: Source = process.env): TelemetryConfig {
  return loadConfig(TELEMETRY_CONFIG, source);
}

/**
 * Where OTLP metrics go: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT as it is, else `v1/metrics` under
 * OTEL_EXPORTER_OTLP_ENDPOINT (as the OpenTelemetry specification reads the two); undefined: none.
 */
export function otlpMetricsUrl(config: Pick<TelemetryConfig, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'>): URL | undefined {
  if (config.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT !== undefined) return config.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT;
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (base === undefined) return undefined;
  return new URL('v1/metrics', base.href.endsWith('/') ? base : new URL(`${base.href}/`));
}

/**
 * Starts OpenTelemetry for one service: tracing, and metrics when asked for. Call it before Nest
 * (or anything traced) loads: a service's `instrumentation.ts` does, imported first by its `main.ts`.
 *
 * Traces: OTLP over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set, and JSON
 * lines appended to WRIT_TRACES_FILE when that is set. Without either, spans are still created
 * (trace context still travels in Kafka headers) but nothing is exported.
 *
 * Metrics (the meter `writ`, metrics.ts): a Prometheus endpoint, `GET /metrics` on
 * WRIT_METRICS_HOST (default 127.0.0.1):WRIT_METRICS_PORT, when the port is set; pushed over
 * OTLP/HTTP every OTEL_METRIC_EXPORT_INTERVAL ms when OTEL_EXPORTER_OTLP_ENDPOINT (or
 * ..._METRICS_ENDPOINT) is set. Without either there is no meter provider: counters are no-ops.
 */
export function startTelemetry(serviceName: string, source: Source = process.env): Telemetry {
  const config = telemetryConfig(source);
  const processors: SpanProcessor[] = [];
  const exporters: string[] = [];
  const otlp = config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (otlp !== undefined) {
    processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter() }));
    exporters.push(`traces otlp ${otlp.origin}`);
  }
  if (config.WRIT_TRACES_FILE !== undefined) {
    // Batched: one append per 100 ms instead of a synchronous write per span on the hot path (the
    // writes were 5-12 % of each service's CPU under load). A SIGKILL loses the last 100 ms of spans.
    const exporter = new JsonLinesSpanExporter(config.WRIT_TRACES_FILE, serviceName);
    processors.push(new BatchSpanProcessor({ exporter, scheduledDelayMillis: FILE_EXPORT_DELAY_MS, maxExportBatchSize: 1_024, maxQueueSize: 16_384 }));
    exporters.push(`traces file ${config.WRIT_TRACES_FILE}`);
  }

  // Always an explicit list: left out, the SDK would read OTEL_METRICS_EXPORTER and push to
  // localhost:4318 by default.
  const readers: IMetricReader[] = [];
  let ready: Promise<void> = Promise.resolve();
  if (config.WRIT_METRICS_PORT !== undefined) {
    const host = config.WRIT_METRICS_HOST;
    const port = config.WRIT_METRICS_PORT;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}${METRICS_PATH}`;
    const prometheus = new PrometheusExporter({ host, port, endpoint: METRICS_PATH, preventServerStart: true });
    readers.push(prometheus);
    ready = prometheus.startServer().catch((error: unknown) => {
      throw new Error(`cannot serve metrics on ${url} (WRIT_METRICS_HOST, WRIT_METRICS_PORT): ${describeError(error)}`);
    });
    // Reported by whoever awaits `ready`; never an unhandled rejection meanwhile.
    ready.catch(() => undefined);
    exporters.push(`metrics prometheus ${url}`);
  }
  const otlpMetrics = otlpMetricsUrl(config);
  if (otlpMetrics !== undefined) {
    const interval = config.OTEL_METRIC_EXPORT_INTERVAL;
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: otlpMetrics.href }),
        exportIntervalMillis: interval,
        exportTimeoutMillis: Math.min(30_000, interval),
      }),
    );
    exporters.push(`metrics otlp ${otlpMetrics.origin}`);
  }

  const sdk = new NodeSDK({ serviceName, spanProcessors: processors, metricReaders: readers, instrumentations: [], autoDetectResources: false });
  sdk.start();
  return { exporters, ready, shutdown: () => sdk.shutdown() };
}
