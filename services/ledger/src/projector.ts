// Projects the committed chain (writ.ledger.v1, read_committed) into ClickHouse in batches: one
// poll, one insert per table, then the position. The drift alerts the ledger publishes on the same
// topic (DriftDetected, not chained) go to drift_alerts. At-least-once, made idempotent by the tables
// (ReplacingMergeTree keyed per event) and by skipping decisions, shadow results, settlements and
// endings already present (projection-writer.ts), so the rollup views count each once. Kafka stays the authority; this is a projection.
import { TOPICS, decodeEvent } from '@writ/contracts';
import { LagReader, partitionEnds, sleep } from '@writ/bus';
import type { BusLogger } from '@writ/bus';
import type { ClickHouseClient } from '@writ/clickhouse';
import type { TenantFilter } from '@writ/config';
import { backoffDelay, describeError } from '@writ/errors';
import { driftAlertRow, projectRecords, referencesOf } from '@writ/ledger-core';
import type { ActionRow, ChainRecord, DriftAlertRow, ProjectionMemory, Redactor } from '@writ/ledger-core';
import { CommittedReader } from './committed-reader.ts';
import { writeDriftAlerts, writeProjection } from './projection-writer.ts';

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

export class Projector {
  readonly #options: ProjectorOptions;
  readonly #memory: ProjectionMemory = { agentOfRun: new Map(), actions: new Map() };
  #reader: CommittedReader | undefined;
  /** The chain topic's ends for lag(), on one admin connection (a metrics gauge asks every few seconds). */
  #lagReader: LagReader | undefined;
  #running: Promise<void> | undefined;
  #stopping = false;
  #projected = 0;
  /** meta.occurred_at of the last chain entry projected (null: none since start). */
  #lastProjectedAt: number | null = null;
  /** Next offset per partition of the chain topic that is in ClickHouse. */
  #positions = new Map<number, number>();

  constructor(options: ProjectorOptions) {
    this.#options = options;
  }

  /** Records projected since start. */
  get projected(): number {
    return this.#projected;
  }

  async start(): Promise<void> {
    const { clickhouse } = this.#options;
    const saved = await clickhouse.query({
      query: `SELECT partition, max(next_offset) AS next_offset FROM projection_offsets FINAL WHERE topic = {topic:String} GROUP BY partition`,
      query_params: { topic: TOPICS.ledger },
      format: 'JSONEachRow',
    });
    const offsets = new Map((await saved.json<{ partition: number; next_offset: string }>()).map((r) => [Number(r.partition), Number(r.next_offset)]));
    const bounds = await partitionEnds(this.#options.brokers, [TOPICS.ledger], `${this.#options.clientId}.offsets`);
    const starts = new Map(bounds.map((b) => [b.partition, Math.max(offsets.get(b.partition) ?? 0, b.start)]));
    this.#positions = new Map(starts);
    this.#reader = await CommittedReader.open(this.#options.brokers, TOPICS.ledger, starts, this.#options.clientId);
    this.#running = this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#running;
    await this.#reader?.close();
    await this.#lagReader?.close();
  }

  /** How far ClickHouse is behind the committed chain: its positions against the chain topic's ends. */
  async lag(): Promise<{
    readonly behind: number;
    readonly partitions: readonly { partition: number; position: number; end: number; behind: number }[];
    readonly last_event_at: number | null;
  }> {
    this.#lagReader ??= new LagReader(this.#options.brokers, `${this.#options.clientId}.lag`);
    const ends = await this.#lagReader.partitionEnds([TOPICS.ledger]);
    const partitions = ends.map((e) => {
      const position = this.#positions.get(e.partition) ?? e.start;
      return { partition: e.partition, position, end: e.end, behind: Math.max(0, e.end - position) };
    });
    return { behind: partitions.reduce((sum, p) => sum + p.behind, 0), partitions, last_event_at: this.#lastProjectedAt };
  }

  /** The next offset of each partition of the chain topic that is in ClickHouse. */
  positions(): ReadonlyMap<number, number> {
    return this.#positions;
  }

  async #loop(): Promise<void> {
    const reader = this.#reader;
    if (reader === undefined) return;
    let failures = 0;
    let pending: { records: ChainRecord[]; drifts: DriftAlertRow[]; next: Map<number, number> } | undefined;
    while (!this.#stopping) {
      try {
        if (pending === undefined) {
          const polled = await reader.poll(this.#options.batchSize, 100);
          const records: ChainRecord[] = [];
          const drifts: DriftAlertRow[] = [];
          for (const record of polled) {
            if (record.value === null) continue;
            const decoded = decodeEvent(record.value);
            const at = { partition: record.partition, offset: record.offset };
            if (decoded.type === 'LedgerEntry') records.push({ type: decoded.type, payload: decoded.payload, ...at });
            else if (decoded.type === 'LedgerCheckpoint') records.push({ type: decoded.type, payload: decoded.payload, ...at });
            else if (decoded.type === 'DriftDetected' && this.#options.tenants.serves(decoded.payload.meta.tenant_id))
              drifts.push(driftAlertRow(decoded.payload));
          }
          pending = { records, drifts, next: reader.positions() };
        }
        await this.#project(pending.records, pending.drifts, pending.next);
        pending = undefined;
        failures = 0;
      } catch (error) {
        // ClickHouse unavailable or a statement failed: the same batch is tried again, nothing skipped.
        failures += 1;
        this.#options.logger.error('projection into ClickHouse failed; retrying the batch', { error: describeError(error), failures });
        await sleep(backoffDelay(failures, { initialMs: 100, maxMs: 10_000 }));
      }
    }
  }

  async #project(records: readonly ChainRecord[], drifts: readonly DriftAlertRow[], next: ReadonlyMap<number, number>): Promise<void> {
    const changed = [...next].filter(([partition, offset]) => this.#positions.get(partition) !== offset);
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
    if (changed.length > 0) {
      await this.#options.clickhouse.insert({
        table: 'projection_offsets',
        values: changed.map(([partition, offset]) => ({ topic: TOPICS.ledger, partition, next_offset: offset })),
        format: 'JSONEachRow',
      });
      for (const [partition, offset] of changed) this.#positions.set(partition, offset);
    }
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
