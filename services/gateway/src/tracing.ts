import { SpanKind, SpanStatusCode, context as otelContext, trace } from '@opentelemetry/api';
import type { Attributes, Span } from '@opentelemetry/api';
import { extractTraceContext, traceHeaders } from '@writ/bus';
import type { TraceContext } from '@writ/contracts';
import { describeError } from '@writ/errors';

const tracer = trace.getTracer('writ-gateway');

type IncomingHeaders = Readonly<Record<string, string | string[] | undefined>>;

function header(headers: IncomingHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Runs one request step in a span named after it (`gateway.propose`...), continuing the caller's
 * W3C trace when the request carries `traceparent`. `fn` gets the span and the trace context to
 * put in the emitted event's meta, so the whole action is one trace.
 */
export async function inSpan<T>(
  name: string,
  headers: IncomingHeaders,
  attributes: Attributes,
  fn: (span: Span, trace: TraceContext | null) => Promise<T>,
): Promise<T> {
  const incoming: Record<string, string> = {};
  for (const key of ['traceparent', 'tracestate']) {
    const value = header(headers, key);
    if (value !== undefined) incoming[key] = value;
  }
  const parent = extractTraceContext(incoming);
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  const active = trace.setSpan(parent, span);
  const carried = traceHeaders(active);
  const meta: TraceContext | null =
    carried['traceparent'] === undefined ? null : { traceparent: carried['traceparent'], tracestate: carried['tracestate'] ?? null };
  try {
    return await otelContext.with(active, () => fn(span, meta));
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: describeError(error) });
    throw error;
  } finally {
    span.end();
  }
}
