import { eventOf } from './codec.ts';
import type { EventPayloads, EventType, WritEvent } from './events.generated.ts';

/**
 * The Kafka message key of an event. Run-scoped topics are keyed by run_id so one run keeps its
 * order; the compacted controls topic by control_key (the latest value per control survives
 * compaction); the ledger topic by chain_id (one chain per partition).
 */
export function partitionKeyOf<T extends EventType>(type: T, payload: EventPayloads[T]): string {
  return keyOf(eventOf(type, payload));
}

function keyOf(event: WritEvent): string {
  switch (event.type) {
    case 'ControlChanged':
      return event.payload.control_key;
    case 'LedgerEntry':
    case 'LedgerCheckpoint':
      return event.payload.chain_id;
    default:
      return event.payload.meta.run_id;
  }
}
