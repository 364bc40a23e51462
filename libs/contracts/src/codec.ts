import { CATALOGUE } from './catalogue.generated.ts';
import type { CatalogueEntry } from './catalogue.ts';
import { EVENT_TOPICS } from './events.generated.ts';
import type { EventPayloads, EventType, Topic, WritEvent } from './events.generated.ts';
import { createSingleObjectCodec } from './single-object.ts';

/**
 * A decoded Writ event: payload in the current schema version, whatever version wrote it. A
 * discriminated union on `type` (see WritEvent): checking the type narrows the payload.
 */
export type DecodedEvent = WritEvent & {
  /** Version of the schema that wrote the bytes. */
  readonly schemaVersion: number;
  /** Fingerprint of that writer schema, 16 hex digits. */
  readonly fingerprint: string;
};

const codec = createSingleObjectCodec(CATALOGUE);

/**
 * The WritEvent of a type and its payload. Code generic over the type (`<T extends EventType>`)
 * builds its events here: TypeScript does not relate a generic `T` to the union branch of `T`, so
 * this is the one place that tells it.
 */
export function eventOf<T extends EventType>(type: T, payload: EventPayloads[T]): Extract<WritEvent, { type: T }> {
  return { type, payload } as Extract<WritEvent, { type: T }>;
}

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && codec.has(value);
}

export function topicOf(type: EventType): Topic {
  return EVENT_TOPICS[type];
}

/** The catalogue entry of an event's current schema (the one encodeEvent writes). */
export function currentSchemaOf(type: EventType): CatalogueEntry {
  return codec.current(type);
}

/**
 * Encodes a payload with the current schema of its event type, framed as a single object.
 * Throws EVENT_INVALID (not retriable) naming the field and the rule when the payload does not
 * fit the schema or breaks one of its rules.
 */
export function encodeEvent<T extends EventType>(type: T, payload: EventPayloads[T]): Buffer {
  return codec.encode(type, payload);
}

/**
 * Decodes a single-object encoded event, resolving the writer's schema version to the current
 * one. Errors, all WritError and not retriable (the message belongs in the DLQ):
 *   EVENT_UNDECODABLE  too short, bad magic, a body that does not decode or has trailing bytes
 *   SCHEMA_UNKNOWN     the fingerprint is in no released version (hex in the message)
 *   EVENT_INVALID      it decodes but breaks a rule (field and rule named)
 */
export function decodeEvent(bytes: Uint8Array): DecodedEvent {
  // The codec resolves the fingerprint to one catalogue entry and reads the body with that
  // entry's schema into its type's current version: `type` and `payload` always agree (the
  // contracts test decodes a sample of every type to prove it).
  return codec.decode(bytes) as DecodedEvent;
}
