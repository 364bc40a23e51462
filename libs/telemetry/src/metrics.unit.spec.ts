// Writ's counters as the Prometheus exporter renders them, collected in memory (no endpoint).
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { WRIT_METRIC } from './attributes.ts';
import { WRIT_COUNTERS, writCounter } from './metrics.ts';

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
    for (const [name, spec] of Object.entries(WRIT_COUNTERS)) {
      expect(name).toMatch(/^writ\.[a-z_]+\.[a-z_]+$/);
      expect(name).not.toMatch(/_total$/);
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
