// The services' metrics in the real Prometheus, on a stack a suite runs anyway (no stack of its
// own: a few seconds more): Debian's Prometheus scrapes every service every second with Writ's
// alert rules loaded; a refund and a denied delete go through the gateway; the series they should
// move move, with the labels the dashboards and alerts group by; the gauges are there; every
// dashboard query runs, every rule evaluates, and every Writ series scraped is a declared one.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WRIT_METRICS, scrapedNamesOf } from '@writ/telemetry';
import type { WritMetricName } from '@writ/telemetry';
import { startPrometheus, waitFor } from '@writ/testing';
import type { RunningPrometheus } from '@writ/testing';
import { RULES_FILE, dashboardQueries } from '../observability/deploy-files.ts';
import { refundArgs } from './support.ts';
import type { E2eStack } from './support.ts';

const SERVICES = ['gateway', 'planner', 'policy', 'budget', 'executor', 'ledger'] as const;

/**
 * Prometheus starts once the suite's stack is up and scrapes it while the suite's other cases run
 * (it waits a few seconds before its first scrape: not on this case's time); stopped by its pid at the end.
 */
export function prometheusCases(stack: () => E2eStack): void {
  let prometheus: RunningPrometheus | undefined;
  let targets = 0;
  beforeAll(async () => {
    const e2e = stack();
    const scraped = SERVICES.flatMap((service) => e2e.stack.instances(service).map((p) => ({ service, url: p.metricsUrl ?? `no metrics URL for ${p.name}` })));
    targets = scraped.length;
    prometheus = await startPrometheus({
      targets: scraped,
      workDir: join(e2e.workDir, `prometheus-${randomUUID()}`),
      intervalSeconds: 1,
      ruleFiles: [RULES_FILE],
    });
  }, 60_000);
  afterAll(async () => {
    await prometheus?.stop();
  });

  describe('metrics in the real Prometheus', () => {
    it('scrapes every service while actions run: the series move as the actions did, every dashboard query and alert rule evaluates', async () => {
      const running = prometheus;
      if (running === undefined) throw new Error('prometheus did not start');
      await waitFor(async () => (await running.sum('sum(up{job="writ"})')) === targets || undefined, {
        timeoutMs: 20_000,
        what: `all ${targets} services scraped up`,
      });
      await checkActionsMoveTheSeries(stack(), running);
      await checkGauges(running);
      await checkDashboardsAndRules(running);
    });
  });
}

async function checkActionsMoveTheSeries(e2e: E2eStack, prometheus: RunningPrometheus): Promise<void> {
  const acme = 'tenant="acme"';
  const series = {
    completed: `writ_planner_actions_completed_total{${acme},agent="triage-bot",tool="refunds.issue",status="completed",reason_code="SUCCEEDED"}`,
    denied: `writ_planner_actions_completed_total{${acme},agent="triage-bot",tool="customers.delete",status="denied",reason_code="POLICY_DENIED"}`,
    allowed: `writ_policy_decisions_total{${acme},agent="triage-bot",tool="refunds.issue",decision="allow"}`,
    calls: `writ_executor_calls_total{${acme},tool="refunds.issue",outcome="succeeded"}`,
    latency: `writ_executor_call_duration_seconds_count{${acme},tool="refunds.issue",outcome="succeeded"}`,
    reservations: `writ_budget_reservations_total{${acme},agent="triage-bot",tool="refunds.issue"}`,
    spent: `writ_budget_spent_micros_total{${acme},agent="triage-bot",currency="USD"}`,
    entries: `writ_ledger_entries_total{${acme}}`,
  };
  const denials = `sum by (policy) (writ_policy_decisions_total{${acme},agent="triage-bot",tool="customers.delete",decision="deny"})`;
  const read = async (): Promise<Record<string, number>> =>
    Object.fromEntries(await Promise.all(Object.entries(series).map(async ([key, s]) => [key, await prometheus.sum(`sum(${s})`)] as const)));
  const denialsByPolicy = async (): Promise<Map<string, number>> => new Map((await prometheus.query(denials)).map((s) => [s.metric['policy'] ?? '', s.value]));
  // Read before the actions are proposed, from scrapes made after now: what the suite's earlier
  // cases counted (each awaited its outcomes), their last second included.
  const since = Date.now() / 1_000;
  await waitFor(async () => (await prometheus.sum('min(timestamp(up{job="writ"}))')) > since || undefined, {
    timeoutMs: 10_000,
    what: 'a scrape of every service after the earlier cases',
  });
  const before = await read();
  const deniedBefore = await denialsByPolicy();

  const { run_id: run } = await e2e.agent.openRun('e2e: metrics in Prometheus');
  const refund = await e2e.agent.propose(run, {
    tool: 'refunds.issue',
    arguments: refundArgs(1200),
    reason: 'a metered refund',
    idempotency_key: randomUUID(),
  });
  const deletion = await e2e.agent.propose(run, {
    tool: 'customers.delete',
    arguments: { customer_id: 'C-501', reason: 'asked to be forgotten' },
    reason: 'gdpr',
    idempotency_key: randomUUID(),
  });
  expect((await e2e.agent.outcome(refund.action_id, 30_000)).status).toBe('completed');
  const denied = await e2e.agent.outcome(deletion.action_id, 30_000);
  expect(denied.status).toBe('denied');
  // The decision is counted under the policies that determined it, as the outcome names them.
  const policy = [...(denied.determining_policies ?? [])].sort().join(',');
  expect(policy).toContain('customer-delete-forbidden');

  // Counted on publication, scraped within a second.
  let last: Record<string, number> = {};
  const after = await waitFor(
    async () => {
      const now = await read();
      last = now;
      const moved =
        Object.keys(series).every((key) => (now[key] ?? 0) > (before[key] ?? 0)) &&
        ((await denialsByPolicy()).get(policy) ?? 0) > (deniedBefore.get(policy) ?? 0);
      return moved ? now : undefined;
    },
    { timeoutMs: 20_000, what: () => `every series to move in Prometheus (before: ${JSON.stringify(before)}, last: ${JSON.stringify(last)})` },
  );
  // Once each: one action each, counted by the one process that published it.
  for (const key of ['completed', 'denied', 'allowed', 'calls', 'latency', 'reservations'] as const) expect(after[key], key).toBe((before[key] ?? 0) + 1);
  expect((await denialsByPolicy()).get(policy)).toBe((deniedBefore.get(policy) ?? 0) + 1);
  // The refund's cost (the tool reports 20,000 micros) is spent once; the ledger chained the run's events.
  expect(after['spent']).toBe((before['spent'] ?? 0) + 20_000);
  expect((after['entries'] ?? 0) - (before['entries'] ?? 0)).toBeGreaterThanOrEqual(6);
}

async function checkGauges(prometheus: RunningPrometheus): Promise<void> {
  // Every service reports its own consumer group's lag (sampled from the broker), the ledger its ClickHouse lag.
  await waitFor(
    async () => {
      const lagging = new Set((await prometheus.query('count by (service) (writ_consumer_lag)')).map((s) => s.metric['service']));
      return SERVICES.every((service) => lagging.has(service)) || undefined;
    },
    { timeoutMs: 20_000, what: 'writ_consumer_lag of every service' },
  );
  const groups = (await prometheus.query('max by (service, group) (writ_consumer_lag)')).map((s) => `${s.metric['service']}:${s.metric['group']}`);
  for (const service of SERVICES)
    expect(
      groups.some((g) => g.startsWith(`${service}:writ.${service}`)),
      `${service} in ${groups.join(' ')}`,
    ).toBe(true);
  expect(await prometheus.query('writ_ledger_projection_lag')).toHaveLength(1);
  // The accountant's standing of triage-bot's daily budget (the e2e stacks' caps: 1,000,000.00 USD), used by the
  // refunds (sampled every 2 s at most).
  const budget = 'tenant="acme",scope="agent_day",subject="triage-bot",kind="money"';
  let limits = '';
  const used = await waitFor(
    async () => {
      limits = JSON.stringify((await prometheus.query('writ_budget_limit')).map((s) => s.metric));
      return (await prometheus.sum(`sum(writ_budget_used{${budget}})`)) || undefined;
    },
    { timeoutMs: 15_000, what: () => `writ_budget_used of triage-bot's day (the budgets reported: ${limits})` },
  );
  expect(used).toBeGreaterThanOrEqual(20_000);
  expect((await prometheus.query(`writ_budget_limit{${budget}}`)).map((s) => s.value)).toEqual([1_000_000_000_000]);
  // The refund tool's breaker: closed, and only closed.
  const breaker = await prometheus.query('writ_executor_breaker_state{tool="refunds.issue"}');
  expect(Object.fromEntries(breaker.map((s) => [s.metric['state'], s.value]))).toEqual({ closed: 1, open: 0, half_open: 0 });
}

async function checkDashboardsAndRules(prometheus: RunningPrometheus): Promise<void> {
  // Every query of the dashboards parses and runs (a syntax error or a bad function is an error from Prometheus).
  for (const query of dashboardQueries()) {
    await expect(prometheus.query(query.promql), `${query.dashboard} / ${query.panel}: ${query.promql}`).resolves.toBeInstanceOf(Array);
  }
  // The panels of what this run did show something.
  for (const expr of [
    'sum by (status) (rate(writ_planner_actions_completed_total{tenant=~".*"}[30s]))',
    'histogram_quantile(0.95, sum by (tool, le) (rate(writ_executor_call_duration_seconds_bucket[30s])))',
  ]) {
    expect(dashboardQueries().some((q) => q.promql === expr)).toBe(true);
    expect((await prometheus.query(expr)).length, expr).toBeGreaterThan(0);
  }
  // Every rule evaluates on the real series without error (vector matching included).
  const rules = await waitFor(
    async () => {
      const loaded = await prometheus.rules();
      return loaded.length > 0 && loaded.every((rule) => rule.health !== 'unknown') ? loaded : undefined;
    },
    { timeoutMs: 10_000, what: 'the alert rules evaluated' },
  );
  expect(rules.filter((rule) => rule.health !== 'ok').map((rule) => `${rule.name}: ${rule.lastError ?? rule.health}`)).toEqual([]);
  expect(rules).toHaveLength(11);
  // Every Writ series Prometheus holds is one the telemetry library declares, under its kind's names.
  const declared = new Set(Object.keys(WRIT_METRICS).flatMap((name) => scrapedNamesOf(name as WritMetricName)));
  const scraped = (await prometheus.metricNames()).filter((name) => name.startsWith('writ_'));
  expect(scraped.filter((name) => !declared.has(name))).toEqual([]);
  expect(scraped.length).toBeGreaterThan(15);
}
