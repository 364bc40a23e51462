import { appendFileSync } from 'node:fs';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';

/** One finished span as a JSON line: what tests and a person reading a file need, nothing more. */
export interface SpanRecord {
  readonly service: string;
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly kind: number;
  readonly startMs: number;
  readonly durationMs: number;
  readonly status: number;
  readonly attributes: Readonly<Record<string, unknown>>;
}

const toMs = ([seconds, nanos]: readonly [number, number]) => seconds * 1000 + nanos / 1e6;

export function toSpanRecord(service: string, span: ReadableSpan): SpanRecord {
  const context = span.spanContext();
  return {
    service,
    name: span.name,
    traceId: context.traceId,
    spanId: context.spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    kind: span.kind,
    startMs: toMs(span.startTime),
    durationMs: toMs(span.duration),
    status: span.status.code,
    attributes: { ...span.attributes },
  };
}

/**
 * Appends spans as JSON lines to a file (WRIT_TRACES_FILE). Several services may share the file:
 * each line is one small append. For local runs and end-to-end tests; production uses OTLP.
 */
export class JsonLinesSpanExporter implements SpanExporter {
  constructor(
    private readonly path: string,
    private readonly service: string,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    try {
      const lines = spans.map((span) => `${JSON.stringify(toSpanRecord(this.service, span))}\n`).join('');
      appendFileSync(this.path, lines);
      done({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
    }
  }

  async shutdown(): Promise<void> {}
}
