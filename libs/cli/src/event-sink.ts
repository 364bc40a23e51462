import type { ClickHouseClient } from '@writ/clickhouse';
import type { DecodedEvent } from '@writ/contracts';

/** One consumed event as it lands in ClickHouse: where it came from and what it said. */
export interface EventRow {
  readonly event_id: string;
  readonly event_type: string;
  readonly schema_version: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly tenant_id: string;
  readonly run_id: string;
  readonly action_id: string | null;
  readonly occurred_at: number;
  readonly payload_json: string;
}

export const EVENTS_TABLE = 'writ_events_sample';

export async function createEventsTable(clickhouse: ClickHouseClient): Promise<void> {
  await clickhouse.command({
    query: `
      CREATE TABLE IF NOT EXISTS ${EVENTS_TABLE} (
        event_id UUID,
        event_type LowCardinality(String),
        schema_version UInt16,
        topic LowCardinality(String),
        partition UInt32,
        offset UInt64,
        tenant_id LowCardinality(String),
        run_id String,
        action_id Nullable(String),
        occurred_at DateTime64(3, 'UTC'),
        payload_json String
      ) ENGINE = MergeTree ORDER BY (tenant_id, run_id, occurred_at, event_id)`,
  });
}

export function toEventRow(event: DecodedEvent, source: { topic: string; partition: number; offset: string }): EventRow {
  const { meta } = event.payload;
  return {
    event_id: meta.event_id,
    event_type: event.type,
    schema_version: event.schemaVersion,
    topic: source.topic,
    partition: source.partition,
    offset: source.offset,
    tenant_id: meta.tenant_id,
    run_id: meta.run_id,
    action_id: meta.action_id,
    occurred_at: meta.occurred_at,
    payload_json: JSON.stringify(event.payload),
  };
}

export async function insertEventRows(clickhouse: ClickHouseClient, rows: readonly EventRow[]): Promise<void> {
  if (rows.length === 0) return;
  await clickhouse.insert({ table: EVENTS_TABLE, values: [...rows], format: 'JSONEachRow' });
}

export interface TopicCount {
  readonly topic: string;
  readonly events: number;
  readonly types: string;
}

export async function countByTopic(clickhouse: ClickHouseClient, runId: string): Promise<TopicCount[]> {
  const result = await clickhouse.query({
    query: `
      SELECT topic, toUInt32(count()) AS events, arrayStringConcat(arraySort(groupUniqArray(event_type)), ', ') AS types
      FROM ${EVENTS_TABLE}
      WHERE run_id = {run_id:String}
      GROUP BY topic ORDER BY topic`,
    query_params: { run_id: runId },
    format: 'JSONEachRow',
  });
  return result.json<TopicCount>();
}
