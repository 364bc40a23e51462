import { describe, expect, it } from 'vitest';
import { metricValue, parsePrometheusText } from './metrics.ts';

const SCRAPE = `# HELP target_info Target metadata
# TYPE target_info gauge
target_info{service_name="budget",telemetry_sdk_language="nodejs"} 1
# HELP writ_budget_refusals_total Reservations refused by a budget (BudgetRefused published)
# TYPE writ_budget_refusals_total counter
writ_budget_refusals_total{tenant="acme",scope="agent_day",kind="money",rule="cap",otel_scope_name="writ"} 2
writ_budget_refusals_total{tenant="acme",scope="run",kind="tool_calls",rule="cap",otel_scope_name="writ"} 1
writ_budget_refusals_total{tenant="a \\"quoted\\" one",scope="run",kind="money",rule="reads_only",otel_scope_name="writ"} 4 1700000000000
`;

describe('parsePrometheusText', () => {
  it('reads each sample with its labels and value, skipping comments', () => {
    const samples = parsePrometheusText(SCRAPE);
    expect(samples).toHaveLength(4);
    expect(samples[1]).toEqual({
      name: 'writ_budget_refusals_total',
      labels: { tenant: 'acme', scope: 'agent_day', kind: 'money', rule: 'cap', otel_scope_name: 'writ' },
      value: 2,
    });
    expect(samples[3]?.labels['tenant']).toBe('a "quoted" one');
    expect(samples[3]?.value).toBe(4);
  });

  it('sums the series whose labels include the ones asked for; 0 for none', () => {
    const samples = parsePrometheusText(SCRAPE);
    expect(metricValue(samples, 'writ_budget_refusals_total', { tenant: 'acme' })).toBe(3);
    expect(metricValue(samples, 'writ_budget_refusals_total', { tenant: 'acme', scope: 'run' })).toBe(1);
    expect(metricValue(samples, 'writ_budget_refusals_total', { tenant: 'globex' })).toBe(0);
    expect(metricValue(samples, 'writ_budget_refusals')).toBe(0);
  });

  it('refuses a line that is no sample', () => {
    expect(() => parsePrometheusText('writ_x_total{tenant="acme"}')).toThrow(/not a Prometheus sample/);
  });
});
