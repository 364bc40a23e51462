export { DEFAULT_METRICS_HOST, METRICS_PATH, otlpMetricsUrl, startTelemetry, telemetryConfig } from './start.ts';
export type { Telemetry, TelemetryConfig } from './start.ts';
export { WRIT_ATTR, WRIT_METRIC, WRIT_METRIC_ATTR } from './attributes.ts';
export { WRIT_METRICS, WRIT_METER_NAME, observeWritGauge, sampledEvery, scrapedNamesOf, writCounter, writHistogram, writMeter } from './metrics.ts';
export type {
  WritCounter,
  WritCounterName,
  WritGaugeName,
  WritGaugeObserver,
  WritHistogram,
  WritHistogramName,
  WritMetricAttributes,
  WritMetricName,
} from './metrics.ts';
export { JsonLinesSpanExporter, toSpanRecord } from './file-exporter.ts';
export type { SpanRecord } from './file-exporter.ts';
