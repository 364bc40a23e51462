import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { HEADERS } from './headers.ts';
import type { Failure } from './retry.ts';

/** The DLQ topic of a consumer group, by convention: `<groupId>.dlq`. */
export function dlqTopicOf(groupId: string): string {
  return `${groupId}.dlq`;
}

export interface DlqSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly groupId: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, string>>;
}

const MAX_REASON_LENGTH = 2_000;

/**
 * The record sent to a DLQ: the original key and bytes untouched (so it can be replayed or
 * inspected with the same tools), the original headers (trace context included), and why and
 * from where it came.
 */
export function dlqMessage(source: DlqSource, failure: Failure, attempts: number, now: Date = new Date()): KafkaJS.Message {
  const reason = failure.reason.length > MAX_REASON_LENGTH ? `${failure.reason.slice(0, MAX_REASON_LENGTH)}…` : failure.reason;
  return {
    key: source.key,
    value: source.value,
    headers: {
      ...source.headers,
      [HEADERS.dlqReason]: reason,
      [HEADERS.dlqCode]: failure.code,
      [HEADERS.dlqSourceTopic]: source.topic,
      [HEADERS.dlqSourcePartition]: String(source.partition),
      [HEADERS.dlqSourceOffset]: source.offset,
      [HEADERS.dlqGroup]: source.groupId,
      [HEADERS.dlqTimestamp]: now.toISOString(),
      [HEADERS.dlqAttempts]: String(attempts),
    },
  };
}
