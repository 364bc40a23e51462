import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { env, loadConfig } from '@writ/config';
import { JsonLinesSpanExporter } from './file-exporter.ts';

/** How long finished spans wait before they are appended to WRIT_TRACES_FILE. */
const FILE_EXPORT_DELAY_MS = 100;

export interface Telemetry {
  /** Where spans go, for the boot log. */
  readonly exporters: readonly string[];
  shutdown(): Promise<void>;
}

type Source = Readonly<Record<string, string | undefined>>;

/**
 * Starts OpenTelemetry tracing for one service. Call it before Nest (or anything traced) loads:
 * a service's `instrumentation.ts` does, imported first by its `main.ts`.
 * Exporters: OTLP over HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or ..._TRACES_ENDPOINT) is set, and
 * JSON lines appended to WRIT_TRACES_FILE when that is set. Without either, spans are still created
 * (trace context still travels in Kafka headers) but nothing is exported.
 */
export function startTelemetry(serviceName: string, source: Source = process.env): Telemetry {
  const config = loadConfig(
    {
      OTEL_EXPORTER_OTLP_ENDPOINT: env.optionalUrl(),
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: env.optionalUrl(),
      WRIT_TRACES_FILE: env.optionalString(),
    },
    source,
  );
  const processors: SpanProcessor[] = [];
  const exporters: string[] = [];
  const otlp = config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (otlp !== undefined) {
    processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter() }));
    exporters.push(`otlp ${otlp.origin}`);
  }
  if (config.WRIT_TRACES_FILE !== undefined) {
    // Batched: one append per 100 ms instead of a synchronous write per span on the hot path (the
    // writes were 5-12 % of each service's CPU under load). A SIGKILL loses the last 100 ms of spans.
    const exporter = new JsonLinesSpanExporter(config.WRIT_TRACES_FILE, serviceName);
    processors.push(new BatchSpanProcessor({ exporter, scheduledDelayMillis: FILE_EXPORT_DELAY_MS, maxExportBatchSize: 1_024, maxQueueSize: 16_384 }));
    exporters.push(`file ${config.WRIT_TRACES_FILE}`);
  }
  const sdk = new NodeSDK({ serviceName, spanProcessors: processors, instrumentations: [], autoDetectResources: false });
  sdk.start();
  return { exporters, shutdown: () => sdk.shutdown() };
}
