// Projects the committed chain (writ.ledger.v1, read_committed) into ClickHouse in batches: one
// poll, one insert per table, then the position. The drift alerts the ledger publishes on the same
// topic (DriftDetected, not chained) go to drift_alerts. At-least-once, made idempotent by the tables
// (ReplacingMergeTree keyed per event) and by skipping decisions, shadow results, settlements and
// endings already present (projection-writer.ts), so the rollup views count each once. Kafka stays the authority; this is a projection.
import { TOPICS, decodeEvent } from '@writ/contracts';
import type { BusLogger } from '@writ/bus';
import type { ClickHouseClient } from '@writ/clickhouse';
import type { TenantFilter } from '@writ/config';
import { driftAlertRow, projectRecords, referencesOf } from '@writ/ledger-core';
import type { ActionRow, ChainRecord, DriftAlertRow, ProjectionMemory, Redactor } from '@writ/ledger-core';
import type { CommittedRecord } from './committed-reader.ts';
import { writeDriftAlerts, writeProjection } from './projection-writer.ts';
import { TopicFollower } from './topic-follower.ts';
import type { FollowerLag } from './topic-follower.ts';

export interface ProjectorOptions {
  readonly brokers: readonly string[];
  readonly clickhouse: ClickHouseClient;
  readonly redactor: Redactor;
  readonly tenants: TenantFilter;
  readonly batchSize: number;
  readonly clientId: string;
  readonly logger: BusLogger;
}

const MEMORY_LIMIT = 100_000;

interface ChainBatch {
  readonly records: ChainRecord[];
  readonly drifts: DriftAlertRow[];
}

export class Projector {
  readonly #options: ProjectorOptions;
  readonly #memory: ProjectionMemory = { agentOfRun: new Map(), actions: new Map() };
  readonly #follower: TopicFollower<ChainBatch>;
  #projected = 0;
  /** meta.occurred_at of the last chain entry projected (null: none since start). */
  #lastProjectedAt: number | null = null;

  constructor(options: ProjectorOptions) {
    this.#options = options;
    this.#follower = new TopicFollower<ChainBatch>({
      brokers: options.brokers,
      clickhouse: options.clickhouse,
      topic: TOPICS.ledger,
      batchSize: options.batchSize,
      clientId: options.clientId,
      logger: options.logger,
      batch: (polled) => this.#batch(polled),
      write: (batch) => this.#project(batch),
    });
  }

  /** Records projected since start. */
  get projected(): number {
    return this.#projected;
  }

  start(): Promise<void> {
    return this.#follower.start();
  }

  stop(): Promise<void> {
    return this.#follower.stop();
  }

  /** How far ClickHouse is behind the committed chain: its positions against the chain topic's ends. */
  async lag(): Promise<FollowerLag & { readonly last_event_at: number | null }> {
    return { ...(await this.#follower.lag()), last_event_at: this.#lastProjectedAt };
  }

  /** The next offset of each partition of the chain topic that is in ClickHouse. */
  positions(): ReadonlyMap<number, number> {
    return this.#follower.positions();
  }

  #batch(polled: readonly CommittedRecord[]): ChainBatch {
    const records: ChainRecord[] = [];
    const drifts: DriftAlertRow[] = [];
    for (const record of polled) {
      if (record.value === null) continue;
      const decoded = decodeEvent(record.value);
      const at = { partition: record.partition, offset: record.offset };
      if (decoded.type === 'LedgerEntry') records.push({ type: decoded.type, payload: decoded.payload, ...at });
      else if (decoded.type === 'LedgerCheckpoint') records.push({ type: decoded.type, payload: decoded.payload, ...at });
      else if (decoded.type === 'DriftDetected' && this.#options.tenants.serves(decoded.payload.meta.tenant_id)) drifts.push(driftAlertRow(decoded.payload));
    }
    return { records, drifts };
  }

  async #project({ records, drifts }: ChainBatch): Promise<void> {
    if (records.length > 0) {
      await this.#recall(records);
      const rows = projectRecords(records, this.#memory, { redactor: this.#options.redactor, tenants: this.#options.tenants });
      await writeProjection(this.#options.clickhouse, rows);
      this.#projected += records.length;
      for (const record of records)
        if (this.#lastProjectedAt === null || record.payload.meta.occurred_at > this.#lastProjectedAt) this.#lastProjectedAt = record.payload.meta.occurred_at;
      this.#trimMemory();
    }
    await writeDriftAlerts(this.#options.clickhouse, drifts);
  }

  /** Loads into memory the agents of runs and states of actions this batch refers to (after a restart). */
  async #recall(records: readonly ChainRecord[]): Promise<void> {
    const { runs, actions } = referencesOf(records);
    const missingRuns = [...runs].filter((run) => !this.#memory.agentOfRun.has(run));
    const missingActions = [...actions].filter((key) => !this.#memory.actions.has(key));
    const { clickhouse } = this.#options;
    if (missingRuns.length > 0) {
      const result = await clickhouse.query({
        query: `SELECT run_id, anyIf(agent_id, agent_id != '') AS agent_id FROM events WHERE run_id IN {runs:Array(String)} GROUP BY run_id HAVING agent_id != ''`,
        query_params: { runs: missingRuns },
        format: 'JSONEachRow',
      });
      for (const row of await result.json<{ run_id: string; agent_id: string }>()) this.#memory.agentOfRun.set(row.run_id, row.agent_id);
    }
    if (missingActions.length > 0) {
      const ids = missingActions.map((key) => key.slice(key.indexOf('|') + 1));
      const result = await clickhouse.query({
        query: `SELECT * FROM actions FINAL WHERE action_id IN {ids:Array(String)}`,
        query_params: { ids },
        format: 'JSONEachRow',
      });
      for (const row of await result.json<ActionRow & { cost_micros: string | number; version: string | number }>()) {
        this.#memory.actions.set(`${row.tenant_id}|${row.action_id}`, { ...row, cost_micros: Number(row.cost_micros), version: Number(row.version) });
      }
    }
  }

  #trimMemory(): void {
    for (const map of [this.#memory.agentOfRun, this.#memory.actions] as Map<string, unknown>[]) {
      if (map.size <= MEMORY_LIMIT) continue;
      let excess = map.size - MEMORY_LIMIT / 2;
      for (const key of map.keys()) {
        if (excess-- <= 0) break;
        map.delete(key);
      }
    }
  }
}
