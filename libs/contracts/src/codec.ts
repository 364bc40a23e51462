import { CATALOGUE } from './catalogue.generated.ts';
import type { CatalogueEntry } from './catalogue.ts';
import { EVENT_TOPICS } from './events.generated.ts';
import type { EventPayloads, EventType, Topic } from './events.generated.ts';
import { createSingleObjectCodec } from './single-object.ts';

/** A decoded Writ event: payload in the current schema version, whatever version wrote it. */
export type DecodedEvent = {
  readonly [T in EventType]: {
    readonly type: T;
    readonly payload: EventPayloads[T];
    /** Version of the schema that wrote the bytes. */
    readonly schemaVersion: number;
    /** Fingerprint of that writer schema, 16 hex digits. */
    readonly fingerprint: string;
  };
}[EventType];

const codec = createSingleObjectCodec(CATALOGUE);

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
  return codec.decode(bytes) as DecodedEvent;
}
