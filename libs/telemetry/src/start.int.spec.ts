import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, metricValue, scrapeMetrics } from '@writ/testing';
import { WRIT_METRIC } from './attributes.ts';
import type { SpanRecord } from './file-exporter.ts';
import { writCounter } from './metrics.ts';
import { startTelemetry } from './start.ts';
import type { Telemetry } from './start.ts';

const started: Telemetry[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((t) => t.shutdown()));
  // Each case registers its own providers.
  for (const api of [trace, metrics, propagation, context]) api.disable();
});

function start(source: Record<string, string>): Telemetry {
  const telemetry = startTelemetry('test-service', source);
  started.push(telemetry);
  return telemetry;
}

describe('startTelemetry', () => {
  it('exports parent and child spans of one trace to the traces file, and propagates W3C context', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'writ-traces-')), 'spans.jsonl');
    const telemetry = startTelemetry('test-service', { WRIT_TRACES_FILE: file });
    expect(telemetry.exporters).toEqual([`traces file ${file}`]);

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

  it('serves the counters on /metrics of WRIT_METRICS_PORT, counting from when the provider is registered', async () => {
    const port = await freePort();
    const attributes = { tenant: 'acme', scope: 'agent_day', kind: 'money', rule: 'cap' };
    // Before startTelemetry there is no provider: a no-op that must not stick to the counter.
    const counter = writCounter(WRIT_METRIC.budgetRefusals);
    counter.add(7, attributes);
    const telemetry = start({ WRIT_METRICS_PORT: String(port) });
    const url = `http://127.0.0.1:${port}/metrics`;
    expect(telemetry.exporters).toEqual([`metrics prometheus ${url}`]);
    await telemetry.ready;
    counter.add(1, attributes);
    writCounter(WRIT_METRIC.budgetRefusals).add(1, { ...attributes, rule: 'reads_only' });

    const samples = await scrapeMetrics(url);
    expect(samples).toContainEqual({ name: 'writ_budget_refusals_total', labels: { ...attributes, otel_scope_name: 'writ' }, value: 1 });
    expect(metricValue(samples, 'writ_budget_refusals_total', { tenant: 'acme' })).toBe(2);
    expect(samples.find((s) => s.name === 'target_info')?.labels['service_name']).toBe('test-service');
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });

  it('says it cannot serve metrics on a port already taken, naming the variable', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const telemetry = start({ WRIT_METRICS_PORT: String(port) });
      await expect(telemetry.ready).rejects.toThrow(
        new RegExp(`cannot serve metrics on http://127\\.0\\.0\\.1:${port}/metrics \\(WRIT_METRICS_HOST, WRIT_METRICS_PORT\\): .*EADDRINUSE`),
      );
    } finally {
      server.close();
    }
  });

  it('pushes the counters over OTLP/HTTP to v1/metrics under OTEL_EXPORTER_OTLP_ENDPOINT (flushed at shutdown)', async () => {
    const received: { path: string; type: string; body: Buffer }[] = [];
    const collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    try {
      const origin = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
      const telemetry = startTelemetry('test-service', { OTEL_EXPORTER_OTLP_ENDPOINT: `${origin}/otlp` });
      expect(telemetry.exporters).toEqual([`traces otlp ${origin}`, `metrics otlp ${origin}`]);
      writCounter(WRIT_METRIC.gatewaySafeModeTrips).add(1, { tenant: 'acme', subject: 'agent', trigger: 'error_rate' });
      await telemetry.shutdown();
      const pushed = received.filter((r) => r.path === '/otlp/v1/metrics');
      expect(pushed).toHaveLength(1);
      expect(pushed[0]?.type).toBe('application/x-protobuf');
      expect(pushed[0]?.body.includes('writ.gateway.safe_mode_trips')).toBe(true);
      expect(pushed[0]?.body.includes('error_rate')).toBe(true);
    } finally {
      collector.close();
    }
  });
});
