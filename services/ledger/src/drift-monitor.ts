// The ledger's drift check (docs/analytics.md, "Drift"): every WRIT_LEDGER_DRIFT_INTERVAL_MS it
// reads from ClickHouse how each agent's live actions with each tool ended today and yesterday (UTC:
// yesterday's last actions may have ended after the previous check) and over the baseline days
// before each, scores them (@writ/ledger-core drift.ts), and announces each drift once per tenant,
// agent, tool and day: a DriftDetected on writ.ledger.v1 (the ledger's own topic; the projection
// writes it to drift_alerts) and the counter writ.ledger.drift_detected. Its event id is derived
// from the four, so announcing one again after a restart leaves one row; the drifts already in
// drift_alerts are not announced again.
import { EventProducer, writEvent } from '@writ/bus';
import type { BusLogger } from '@writ/bus';
import type { ClickHouseClient } from '@writ/clickhouse';
import { newMetadata } from '@writ/contracts';
import type { DriftDetected } from '@writ/contracts';
import type { TenantFilter } from '@writ/config';
import { describeError } from '@writ/errors';
import { driftDetectedEvent, driftKey, driftRunId, utcDay } from '@writ/ledger-core';
import type { DriftRule } from '@writ/ledger-core';
import { WRIT_METRIC, writCounter } from '@writ/telemetry';
import { findDrifts } from './drift-query.ts';

export interface DriftMonitorOptions {
  readonly clickhouse: ClickHouseClient;
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** `ledger@<version>`. */
  readonly producer: string;
  /** The tenants this ledger serves (WRIT_LEDGER_TENANTS): only theirs are checked. */
  readonly tenants: TenantFilter;
  readonly rule: DriftRule;
  /** Between the end of one check and the start of the next. */
  readonly intervalMs: number;
  readonly logger: BusLogger;
  /** The clock (tests pass their own day). */
  readonly now?: () => number;
}

export class DriftMonitor {
  readonly #options: DriftMonitorOptions;
  readonly #now: () => number;
  readonly #producer: EventProducer;
  /** Drifts announced (driftKey → day), of the days still checked. */
  readonly #announced = new Map<string, string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = false;

  constructor(options: DriftMonitorOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#producer = new EventProducer({ brokers: options.brokers, clientId: options.clientId, logger: options.logger });
  }

  async start(): Promise<void> {
    await this.#producer.connect();
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
    await this.#producer.disconnect();
  }

  /** One check of today and yesterday (UTC); the drifts it announced. */
  async check(): Promise<DriftDetected[]> {
    const now = this.#now();
    const days = [utcDay(now, 1), utcDay(now)];
    await this.#recall(days);
    const announced: DriftDetected[] = [];
    for (const day of days) {
      for (const score of await findDrifts(this.#options.clickhouse, day, this.#options.rule, this.#options.tenants)) {
        const key = driftKey(score);
        if (this.#announced.has(key)) continue;
        const meta = newMetadata({ tenant_id: score.tenant_id, run_id: driftRunId(score), producer: this.#options.producer, occurred_at: now });
        const event = driftDetectedEvent(score, this.#options.rule, meta);
        await this.#producer.send([writEvent('DriftDetected', event)]);
        // Counted once on the log; a failed send is tried again at the next check.
        this.#announced.set(key, day);
        writCounter(WRIT_METRIC.ledgerDriftDetected).add(1, { tenant: event.meta.tenant_id, agent: event.agent_id, tool: event.tool });
        this.#options.logger.warn('drift detected', {
          tenant: event.meta.tenant_id,
          agent: event.agent_id,
          tool: event.tool,
          day: event.day,
          score: event.score,
          threshold: event.threshold,
          actions: event.actions,
          baseline_actions: event.baseline_actions,
        });
        announced.push(event);
      }
    }
    return announced;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.check()
        .catch((error: unknown) => this.#options.logger.error('drift check failed; trying again at the next one', { error: describeError(error) }))
        .finally(() => this.#schedule());
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  /** The drifts of `days` already in drift_alerts (announced before a restart, or by the previous check); older keys are dropped. */
  async #recall(days: readonly string[]): Promise<void> {
    for (const [key, day] of this.#announced) if (!days.includes(day)) this.#announced.delete(key);
    const result = await this.#options.clickhouse.query({
      // A Date is YYYY-MM-DD in JSON, as `days` are.
      query: 'SELECT DISTINCT tenant_id, agent_id, tool, day FROM drift_alerts WHERE day IN {days:Array(Date)}',
      query_params: { days },
      format: 'JSONEachRow',
    });
    for (const row of await result.json<{ tenant_id: string; agent_id: string; tool: string; day: string }>()) this.#announced.set(driftKey(row), row.day);
  }
}
