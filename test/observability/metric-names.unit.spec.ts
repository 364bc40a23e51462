// The dashboards, the alert rules and the README name only metrics the services publish: every
// `writ_...` series they mention is one of the declarations in @writ/telemetry (with the suffix
// the Prometheus exporter gives its kind), and every declared metric is in the README's table.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WRIT_METRICS, scrapedNamesOf } from '@writ/telemetry';
import type { WritMetricName } from '@writ/telemetry';
import { ROOT, dashboardQueries, observabilityFiles, writMetricNamesIn } from './deploy-files.ts';

const declared = new Map(Object.keys(WRIT_METRICS).flatMap((name) => scrapedNamesOf(name as WritMetricName).map((series) => [series, name] as const)));

describe('metric names in deploy/prometheus and deploy/grafana', () => {
  it('are series the services publish, declared in @writ/telemetry', () => {
    const files = observabilityFiles();
    expect([...files.keys()].sort()).toEqual(
      expect.arrayContaining([
        'deploy/grafana/dashboards/writ-operations.json',
        'deploy/grafana/dashboards/writ-overview.json',
        'deploy/prometheus/prometheus.yml',
        'deploy/prometheus/rules/writ.rules.test.yml',
        'deploy/prometheus/rules/writ.rules.yml',
      ]),
    );
    const unknown = [...files].flatMap(([path, text]) =>
      writMetricNamesIn(text)
        .filter((name) => !declared.has(name))
        .map((name) => `${path}: ${name}`),
    );
    expect(unknown).toEqual([]);
  });

  it('cover the issue: every dashboard query names a Writ metric, and the dashboards show what the issue asks for', () => {
    const queries = dashboardQueries();
    expect(new Set(queries.map((q) => q.dashboard))).toEqual(new Set(['writ-overview', 'writ-operations']));
    for (const query of queries) {
      if (query.expr !== 'up{job="writ"}') expect(writMetricNamesIn(query.expr), `${query.dashboard} / ${query.panel}`).not.toEqual([]);
    }
    const used = new Set(queries.flatMap((q) => writMetricNamesIn(q.expr)).map((series) => declared.get(series)));
    // What the dashboards are for (issue 10): actions, decisions, spend against budget, approvals; lag, errors, breakers, latency.
    const shown = [
      'writ.planner.actions_completed',
      'writ.planner.loop_detections',
      'writ.policy.decisions',
      'writ.budget.spent_micros',
      'writ.budget.used',
      'writ.budget.limit',
      'writ.budget.refusals',
      'writ.gateway.approvals_pending',
      'writ.gateway.approval_oldest_age_seconds',
      'writ.consumer.lag',
      'writ.ledger.projection_lag',
      'writ.executor.calls',
      'writ.executor.errors',
      'writ.executor.retries',
      'writ.executor.call_duration_seconds',
      'writ.executor.breaker_state',
    ];
    expect(shown.filter((name) => !used.has(name as WritMetricName))).toEqual([]);
  });

  it('are each recognised with its kind only: a counter only as _total, a histogram only as _bucket, _sum and _count', () => {
    expect(scrapedNamesOf('writ.planner.actions_completed')).toEqual(['writ_planner_actions_completed_total']);
    expect(scrapedNamesOf('writ.executor.call_duration_seconds')).toEqual([
      'writ_executor_call_duration_seconds_bucket',
      'writ_executor_call_duration_seconds_sum',
      'writ_executor_call_duration_seconds_count',
    ]);
    expect(scrapedNamesOf('writ.consumer.lag')).toEqual(['writ_consumer_lag']);
    expect(declared.has('writ_planner_actions_completed')).toBe(false);
    expect(declared.has('writ_executor_call_duration_seconds')).toBe(false);
  });
});

describe("the README's Metrics table", () => {
  it('lists every metric, as scraped', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Metrics'), readme.indexOf('\n## ', readme.indexOf('## Metrics') + 1));
    const listed = new Set(writMetricNamesIn(section));
    const missing = Object.keys(WRIT_METRICS).filter((name) => !scrapedNamesOf(name as WritMetricName).some((series) => listed.has(series)));
    expect(missing).toEqual([]);
    expect([...listed].filter((name) => !declared.has(name))).toEqual([]);
  });
});
