import { trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';

/**
 * Span attribute names this package sets. The messaging ones are OpenTelemetry semantic
 * conventions still marked "development", hence copied here rather than imported.
 */
export const ATTR = {
  messagingSystem: 'messaging.system',
  destinationName: 'messaging.destination.name',
  destinationPartition: 'messaging.destination.partition.id',
  operationType: 'messaging.operation.type',
  operationName: 'messaging.operation.name',
  consumerGroup: 'messaging.consumer.group.name',
  messageKey: 'messaging.kafka.message.key',
  offset: 'messaging.kafka.offset',
  eventType: 'writ.event.type',
  attempt: 'writ.bus.attempt',
  dlqTopic: 'writ.bus.dlq.topic',
  dlqCode: 'writ.bus.dlq.code',
  /** A TransactionalProcessor's commit: batches and outputs it carried, and each phase's milliseconds. */
  txBatches: 'writ.bus.tx.batches',
  txOutputs: 'writ.bus.tx.outputs',
  txSendMs: 'writ.bus.tx.send_ms',
  txOffsetsMs: 'writ.bus.tx.offsets_ms',
  txCommitMs: 'writ.bus.tx.commit_ms',
} as const;

export function busTracer(): Tracer {
  return trace.getTracer('@writ/bus');
}
