export { startTelemetry } from './start.ts';
export type { Telemetry } from './start.ts';
export { WRIT_ATTR } from './attributes.ts';
export { JsonLinesSpanExporter, toSpanRecord } from './file-exporter.ts';
export type { SpanRecord } from './file-exporter.ts';
