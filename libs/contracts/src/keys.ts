import type { EventPayloads, EventType } from './events.generated.ts';

/**
 * The Kafka message key of an event. Run-scoped topics are keyed by run_id so one run keeps its
 * order; the compacted controls topic by control_key (the latest value per control survives
 * compaction); the ledger topic by chain_id (one chain per partition).
 */
export function partitionKeyOf<T extends EventType>(type: T, payload: EventPayloads[T]): string {
  switch (type) {
    case 'ControlChanged':
      return (payload as EventPayloads['ControlChanged']).control_key;
    case 'LedgerEntry':
    case 'LedgerCheckpoint':
      return (payload as EventPayloads['LedgerEntry' | 'LedgerCheckpoint']).chain_id;
    default:
      return payload.meta.run_id;
  }
}
