// The readable copy of a tool's result for analysts: a ToolResultRecorded (writ.results.v1, the
// detail tier, not chained) as a row of ClickHouse `events`, which drops it after the detail TTL
// (docs/retention.md). Its chain_seq is 0: it is not in the chain, whose ActionExecuted keeps the
// body's digest (result_ref) instead.
import type { EventPayloads } from '@writ/contracts';
import type { TenantFilter } from '@writ/config';
import { dateTime64 } from './projection.ts';
import type { EventRow, Redactor } from './projection.ts';

export interface ResultRecordAt {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly schemaVersion: number;
}

/** The `events` row of one result body; undefined for a tenant this ledger does not serve. */
export function toolResultRow(
  payload: EventPayloads['ToolResultRecorded'],
  at: ResultRecordAt,
  redactor: Redactor,
  tenants: TenantFilter,
): EventRow | undefined {
  const { meta } = payload;
  if (!tenants.serves(meta.tenant_id)) return undefined;
  // The executor redacted the tool's sensitive fields already; the registry's redaction again, as for every result the ledger projects.
  const redacted = { ...payload, result_json: redactor.result(payload.tool, null, payload.result_json) };
  return {
    event_id: meta.event_id,
    event_type: 'ToolResultRecorded',
    schema_version: at.schemaVersion,
    topic: at.topic,
    partition: at.partition,
    offset: at.offset,
    tenant_id: meta.tenant_id,
    run_id: meta.run_id,
    action_id: meta.action_id,
    agent_id: '',
    causation_id: meta.causation_id,
    producer: meta.producer,
    occurred_at: dateTime64(meta.occurred_at),
    chain_seq: 0,
    payload: JSON.stringify(redacted),
  };
}
