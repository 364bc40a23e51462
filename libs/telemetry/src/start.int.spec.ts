import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, propagation, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import type { SpanRecord } from './file-exporter.ts';
import { startTelemetry } from './start.ts';

describe('startTelemetry', () => {
  it('exports parent and child spans of one trace to the traces file, and propagates W3C context', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'writ-traces-')), 'spans.jsonl');
    const telemetry = startTelemetry('test-service', { WRIT_TRACES_FILE: file });
    expect(telemetry.exporters).toEqual([`file ${file}`]);

    const tracer = trace.getTracer('test');
    const carrier: Record<string, string> = {};
    tracer.startActiveSpan('parent', (parent) => {
      tracer.startActiveSpan('child', (child) => {
        child.setAttribute('writ.tool', 'refund');
        propagation.inject(context.active(), carrier);
        child.end();
      });
      parent.end();
    });
    await telemetry.shutdown();

    const spans = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as SpanRecord);
    const parent = spans.find((s) => s.name === 'parent');
    const child = spans.find((s) => s.name === 'child');
    expect(parent?.service).toBe('test-service');
    expect(child?.traceId).toBe(parent?.traceId);
    expect(child?.parentSpanId).toBe(parent?.spanId);
    expect(child?.attributes).toEqual({ 'writ.tool': 'refund' });
    expect(carrier['traceparent']).toBe(`00-${child?.traceId}-${child?.spanId}-01`);
  });

  it('rejects a malformed OTLP endpoint naming the variable', () => {
    expect(() => startTelemetry('x', { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT must be a URL/);
  });
});
