import { ROOT_CONTEXT, context as otelContext, defaultTextMapGetter, defaultTextMapSetter, trace } from '@opentelemetry/api';
import type { Context, Span } from '@opentelemetry/api';
import type { TraceContext } from '@writ/contracts';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { KafkaJS } from '@confluentinc/kafka-javascript';

/** Kafka header names Writ writes. Stable: consumers, the ledger and operators read them. */
export const HEADERS = {
  eventType: 'event-type',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  dlqReason: 'writ-dlq-reason',
  dlqCode: 'writ-dlq-code',
  dlqSourceTopic: 'writ-dlq-source-topic',
  dlqSourcePartition: 'writ-dlq-source-partition',
  dlqSourceOffset: 'writ-dlq-source-offset',
  dlqGroup: 'writ-dlq-group',
  dlqTimestamp: 'writ-dlq-timestamp',
  dlqAttempts: 'writ-dlq-attempts',
} as const;

const propagator = new W3CTraceContextPropagator();

/** W3C trace context of `ctx` (default: the active context) as `traceparent`/`tracestate` headers. */
export function traceHeaders(ctx: Context = otelContext.active()): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagator.inject(ctx, carrier, defaultTextMapSetter);
  return carrier;
}

/**
 * The trace context an event's `meta.trace` carries: the W3C context of `span` (its traceparent
 * and tracestate, as the headers of the same message carry them); null for a span that is not
 * recording a valid trace.
 */
export function eventTraceOf(span: Span): TraceContext | null {
  const headers = traceHeaders(trace.setSpan(ROOT_CONTEXT, span));
  const traceparent = headers[HEADERS.traceparent];
  return traceparent === undefined ? null : { traceparent, tracestate: headers[HEADERS.tracestate] ?? null };
}

/** Adds the trace context of `ctx` to an existing set of headers. */
export function injectTraceHeaders(ctx: Context, headers: Record<string, string>): void {
  propagator.inject(ctx, headers, defaultTextMapSetter);
}

/** The OpenTelemetry context carried by a message's headers (ROOT_CONTEXT when there is none). */
export function extractTraceContext(headers: Readonly<Record<string, string>>, base: Context = ROOT_CONTEXT): Context {
  return propagator.extract(base, headers, defaultTextMapGetter);
}

/** Kafka headers (Buffer, string or repeated) as one string per name; the last value wins. */
export function normalizeHeaders(headers: KafkaJS.IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  if (headers === undefined) return result;
  for (const [name, raw] of Object.entries(headers)) {
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (value === undefined) continue;
    result[name] = typeof value === 'string' ? value : value.toString('utf8');
  }
  return result;
}
