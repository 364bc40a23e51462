// Writ's metrics as the Prometheus exporter renders them, collected in memory (no endpoint).
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { WRIT_METRIC } from './attributes.ts';
import { WRIT_METRICS, observeWritGauge, sampledEvery, scrapedNamesOf, writCounter, writHistogram } from './metrics.ts';
import type { WritMetricName } from './metrics.ts';

async function render(reader: PrometheusExporter): Promise<string> {
  const { resourceMetrics } = await reader.collect();
  return new PrometheusSerializer().serialize(resourceMetrics);
}

function registerProvider(): PrometheusExporter {
  const reader = new PrometheusExporter({ preventServerStart: true });
  expect(metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))).toBe(true);
  return reader;
}

afterEach(() => {
  metrics.disable();
});

describe("Writ's counters", () => {
  it('are scraped as writ_<name>_total, with their attributes as labels', async () => {
    const reader = registerProvider();
    writCounter(WRIT_METRIC.budgetThresholdsCrossed).add(1, { tenant: 'acme', scope: 'agent_day', kind: 'money', threshold_percent: '80' });
    writCounter(WRIT_METRIC.budgetRefusals).add(1, { tenant: 'acme', scope: 'run', kind: 'tool_calls', rule: 'cap' });
    writCounter(WRIT_METRIC.executorCostBreaches).add(1, { tenant: 'acme', tool: 'quotes.fetch', breach: 'over_max' });
    writCounter(WRIT_METRIC.executorCostBreachExcessMicros).add(400, { tenant: 'acme', tool: 'quotes.fetch', currency: 'USD' });
    writCounter(WRIT_METRIC.gatewaySafeModeTrips).add(1, { tenant: 'acme', subject: 'agent', trigger: 'error_rate' });
    const lines = (await render(reader)).split('\n').filter((line) => line.startsWith('writ_'));
    expect(lines).toEqual([
      'writ_budget_thresholds_crossed_total{tenant="acme",scope="agent_day",kind="money",threshold_percent="80",otel_scope_name="writ"} 1',
      'writ_budget_refusals_total{tenant="acme",scope="run",kind="tool_calls",rule="cap",otel_scope_name="writ"} 1',
      'writ_executor_cost_breaches_total{tenant="acme",tool="quotes.fetch",breach="over_max",otel_scope_name="writ"} 1',
      'writ_executor_cost_breach_excess_micros_total{tenant="acme",tool="quotes.fetch",currency="USD",otel_scope_name="writ"} 400',
      'writ_gateway_safe_mode_trips_total{tenant="acme",subject="agent",trigger="error_rate",otel_scope_name="writ"} 1',
    ]);
  });

  it('have a name that the exporter does not suffix twice, and a description each', () => {
    for (const [name, spec] of Object.entries(WRIT_METRICS)) {
      expect(name).toMatch(/^writ\.[a-z_]+\.[a-z_]+$/);
      expect(name).not.toMatch(/_total$|_bucket$|_sum$|_count$/);
      expect(spec.description.length).toBeGreaterThan(10);
    }
  });

  it('count on the meter provider registered when they are used, not the no-op one of before', async () => {
    const counter = writCounter(WRIT_METRIC.budgetRefusals);
    // Before any provider: a no-op, which must not stick.
    counter.add(5, { tenant: 'early', scope: 'run', kind: 'money', rule: 'cap' });
    const reader = registerProvider();
    counter.add(1, { tenant: 'early', scope: 'run', kind: 'money', rule: 'cap' });
    writCounter(WRIT_METRIC.budgetRefusals).add(1, { tenant: 'early', scope: 'run', kind: 'money', rule: 'cap' });
    expect(await render(reader)).toContain('writ_budget_refusals_total{tenant="early",scope="run",kind="money",rule="cap",otel_scope_name="writ"} 2\n');

    // A provider registered after that one (a test's own, say) gets the next counts.
    metrics.disable();
    const next = registerProvider();
    counter.add(3, { tenant: 'early', scope: 'run', kind: 'money', rule: 'cap' });
    expect(await render(next)).toContain('writ_budget_refusals_total{tenant="early",scope="run",kind="money",rule="cap",otel_scope_name="writ"} 3\n');
  });
});

describe("Writ's histograms and gauges", () => {
  it('render a histogram with its declared buckets, and gauges with what their callbacks observe when collected', async () => {
    const reader = registerProvider();
    const histogram = writHistogram(WRIT_METRIC.executorCallDurationSeconds);
    histogram.record(0.004, { tenant: 'acme', tool: 'quotes.fetch', outcome: 'succeeded' });
    histogram.record(0.3, { tenant: 'acme', tool: 'quotes.fetch', outcome: 'succeeded' });
    let pending = 2;
    const stop = observeWritGauge(WRIT_METRIC.gatewayApprovalsPending, (gauge) => gauge.observe(pending, { tenant: 'acme' }));
    observeWritGauge(WRIT_METRIC.consumerLag, () => {
      throw new Error('the broker is away');
    });
    const lines = (await render(reader)).split('\n').filter((line) => line.startsWith('writ_'));
    expect(lines).toContain(
      'writ_executor_call_duration_seconds_bucket{tenant="acme",tool="quotes.fetch",outcome="succeeded",otel_scope_name="writ",le="0.005"} 1',
    );
    expect(lines).toContain(
      'writ_executor_call_duration_seconds_bucket{tenant="acme",tool="quotes.fetch",outcome="succeeded",otel_scope_name="writ",le="0.25"} 1',
    );
    expect(lines).toContain(
      'writ_executor_call_duration_seconds_bucket{tenant="acme",tool="quotes.fetch",outcome="succeeded",otel_scope_name="writ",le="0.5"} 2',
    );
    expect(lines).toContain('writ_executor_call_duration_seconds_count{tenant="acme",tool="quotes.fetch",outcome="succeeded",otel_scope_name="writ"} 2');
    expect(lines).toContain('writ_gateway_approvals_pending{tenant="acme",otel_scope_name="writ"} 2');
    // A gauge whose callback failed reports nothing; the others are collected all the same.
    expect(lines.filter((line) => line.startsWith('writ_consumer_lag'))).toEqual([]);

    pending = 0;
    expect(await render(reader)).toContain('writ_gateway_approvals_pending{tenant="acme",otel_scope_name="writ"} 0\n');
    stop();
  });

  it('report a series the callback no longer reports at 0, not at its last value', async () => {
    const reader = registerProvider();
    let tenants = ['acme', 'globex'];
    observeWritGauge(WRIT_METRIC.gatewayReconciliationPending, (gauge) => {
      for (const tenant of tenants) gauge.observe(3, { tenant });
    });
    expect(await render(reader)).toContain('writ_gateway_reconciliation_pending{tenant="globex",otel_scope_name="writ"} 3\n');
    tenants = ['acme'];
    const text = await render(reader);
    expect(text).toContain('writ_gateway_reconciliation_pending{tenant="acme",otel_scope_name="writ"} 3\n');
    expect(text).toContain('writ_gateway_reconciliation_pending{tenant="globex",otel_scope_name="writ"} 0\n');
    expect(await render(reader)).toContain('writ_gateway_reconciliation_pending{tenant="globex",otel_scope_name="writ"} 0\n');
  });

  it('are scraped under the names scrapedNamesOf gives for their kind', async () => {
    const reader = registerProvider();
    writCounter(WRIT_METRIC.ledgerEntries).add(1, { tenant: 'acme' });
    writHistogram(WRIT_METRIC.executorCallDurationSeconds).record(1, { tenant: 'acme', tool: 't', outcome: 'failed' });
    observeWritGauge(WRIT_METRIC.ledgerProjectionLag, (gauge) => gauge.observe(3, {}));
    const names = new Set(
      (await render(reader))
        .split('\n')
        .filter((line) => line.startsWith('writ_'))
        .map((line) => line.replace(/[{ ].*$/, '')),
    );
    const expected: WritMetricName[] = [WRIT_METRIC.ledgerEntries, WRIT_METRIC.executorCallDurationSeconds, WRIT_METRIC.ledgerProjectionLag];
    expect(names).toEqual(new Set(expected.flatMap((name) => scrapedNamesOf(name))));
  });
});

describe('sampledEvery', () => {
  it('samples at most once per interval, shares a sample in flight, and gives the last one while a slow sample runs', async () => {
    let clock = 0;
    let calls = 0;
    let release: (() => void) | undefined;
    const read = sampledEvery(
      1_000,
      () => {
        calls += 1;
        const value = calls;
        return calls === 3 ? new Promise<number>((resolve) => (release = () => resolve(value))) : Promise.resolve(value);
      },
      20,
      () => clock,
    );
    expect(await Promise.all([read(), read()])).toEqual([1, 1]);
    clock = 999;
    expect(await read()).toBe(1);
    clock = 1_000;
    expect(await read()).toBe(2);
    expect(calls).toBe(2);
    // The third sample hangs: the reader waits 20 ms, then gets the last value.
    clock = 2_000;
    expect(await read()).toBe(2);
    release?.();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(await read()).toBe(3);
    expect(calls).toBe(3);
  });

  it('reports nothing after a failed sample, and samples again at the next interval', async () => {
    let clock = 0;
    let fail = true;
    const read = sampledEvery(
      1_000,
      () => (fail ? Promise.reject(new Error('away')) : Promise.resolve(7)),
      2_000,
      () => clock,
    );
    expect(await read()).toBeUndefined();
    fail = false;
    expect(await read()).toBeUndefined();
    clock = 1_000;
    expect(await read()).toBe(7);
  });
});
