import { ROOT_CONTEXT, TraceFlags, createTraceState, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { eventTraceOf, extractTraceContext, normalizeHeaders, traceHeaders } from './headers.ts';

const spanContext = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  traceFlags: TraceFlags.SAMPLED,
};

describe('trace context in Kafka headers', () => {
  it('writes W3C traceparent for a context with a span and reads it back', () => {
    const headers = traceHeaders(trace.setSpanContext(ROOT_CONTEXT, spanContext));
    expect(headers).toEqual({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
    const extracted = trace.getSpanContext(extractTraceContext(headers));
    expect(extracted).toMatchObject({ ...spanContext, isRemote: true });
  });

  it('writes nothing without a span, and reads nothing from headers without one', () => {
    expect(traceHeaders(ROOT_CONTEXT)).toEqual({});
    expect(trace.getSpanContext(extractTraceContext({ 'event-type': 'X' }))).toBeUndefined();
  });
});

describe("an event's meta.trace", () => {
  it("is the span's W3C context, tracestate included, as its message's headers carry it", () => {
    const span = trace.wrapSpanContext({ ...spanContext, traceState: createTraceState('vendor=a1') });
    expect(eventTraceOf(span)).toEqual({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'vendor=a1' });
    expect(eventTraceOf(trace.wrapSpanContext(spanContext))).toEqual({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: null,
    });
  });

  it('is null for a span without a valid trace', () => {
    expect(eventTraceOf(trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: TraceFlags.NONE }))).toBeNull();
  });
});

describe('normalizeHeaders', () => {
  it('turns Buffers and repeated headers into one string each', () => {
    expect(normalizeHeaders({ a: Buffer.from('x'), b: 'y', c: [Buffer.from('1'), '2'], d: undefined })).toEqual({ a: 'x', b: 'y', c: '2' });
    expect(normalizeHeaders(undefined)).toEqual({});
  });
});
