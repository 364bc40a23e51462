import { decodeEvent, encodeEvent, eventOf, isEventType, partitionKeyOf, topicOf } from '@writ/contracts';
import type { EventPayloads, EventType } from '@writ/contracts';
import { WritError } from '@writ/errors';
import type { DecodedEvent, EventSerde, OutgoingEvent } from './serde.ts';

function knownType(type: string): EventType {
  if (!isEventType(type)) {
    throw new WritError('EVENT_INVALID', `unknown event type ${JSON.stringify(type)}`, {
      field: 'type',
      rule: 'must be a known event type',
    });
  }
  return type;
}

/** Writ's real serde: Avro single-object encoding from @writ/contracts, the default everywhere. */
export const contractsSerde: EventSerde = {
  encode: (event) => encodeEvent(knownType(event.type), event.payload),
  decode: (bytes): DecodedEvent => decodeEvent(bytes),
  topicOf: (type) => topicOf(knownType(type)),
  keyOf: (event) => partitionKeyOf(knownType(event.type), event.payload),
};

/** A typed OutgoingEvent: the compiler checks the payload against the event type. */
export function writEvent<T extends EventType>(
  type: T,
  payload: EventPayloads[T],
  options: { readonly key?: string; readonly headers?: Readonly<Record<string, string>> } = {},
): Extract<OutgoingEvent, { type: T }> {
  return { ...eventOf(type, payload), ...options };
}
