/**
 * What the bus needs from the event contracts: turn (type, payload) into bytes, bytes back into
 * a typed event, and know which topic a type travels on. @writ/contracts provides the real one
 * (Avro single-object encoding); tests may pass their own.
 */
export interface DecodedEvent<P = unknown> {
  readonly type: string;
  readonly payload: P;
  readonly schemaVersion: number;
  readonly fingerprint: string;
}

export interface EventSerde {
  encode(type: string, payload: unknown): Buffer;
  /** Throws a non-retriable WritError (EVENT_UNDECODABLE, SCHEMA_UNKNOWN, EVENT_INVALID) on poison. */
  decode(bytes: Buffer): DecodedEvent;
  topicOf(type: string): string;
  /** The Kafka key of an event; when absent the bus keys by `payload.meta.run_id`. */
  keyOf?(type: string, payload: unknown): string;
}

/**
 * One event to produce. `key` defaults to `serde.keyOf` (run_id; control_key on the controls
 * topic; chain_id on the ledger topic), `topic` to `serde.topicOf(type)`.
 */
export interface OutgoingEvent<P = unknown> {
  readonly type: string;
  readonly payload: P;
  readonly key?: string;
  readonly topic?: string;
  readonly headers?: Readonly<Record<string, string>>;
}
