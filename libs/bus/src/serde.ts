import type { DecodedEvent, WritEvent } from '@writ/contracts';

/**
 * What the bus needs from the event contracts: turn an event into bytes, bytes back into a typed
 * event, and know which topic a type travels on. @writ/contracts provides the real one (Avro
 * single-object encoding); tests may pass their own. Events are the contracts' discriminated
 * union: checking `event.type` narrows `event.payload`.
 */
export type { DecodedEvent };

export interface EventSerde {
  encode(event: WritEvent): Buffer;
  /** Throws a non-retriable WritError (EVENT_UNDECODABLE, SCHEMA_UNKNOWN, EVENT_INVALID) on poison. */
  decode(bytes: Buffer): DecodedEvent;
  topicOf(type: string): string;
  /** The Kafka key of an event; when absent the bus keys by `payload.meta.run_id`. */
  keyOf?(event: WritEvent): string;
}

/**
 * One event to produce. `key` defaults to `serde.keyOf` (run_id; control_key on the controls
 * topic; chain_id on the ledger topic), `topic` to `serde.topicOf(type)`.
 */
export type OutgoingEvent = WritEvent & {
  readonly key?: string;
  readonly topic?: string;
  readonly headers?: Readonly<Record<string, string>>;
};
