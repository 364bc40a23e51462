import { describe, expect, expectTypeOf, it } from 'vitest';
import { CATALOGUE } from './catalogue.generated.ts';
import { currentSchemaOf, decodeEvent, encodeEvent, eventOf } from './codec.ts';
import { parseSchema } from './compat.ts';
import type { EventPayloads, EventType, WritEvent } from './events.generated.ts';
import { isJsonObject } from './schema-json.ts';
import { sampleEvent, sampleEvents } from './testing/index.ts';

/** Event types whose WritEvent branch does not carry exactly EventPayloads[T] (never when the union is right). */
type Mismatched = {
  [T in EventType]: [Extract<WritEvent, { type: T }>['payload']] extends [EventPayloads[T]]
    ? [EventPayloads[T]] extends [Extract<WritEvent, { type: T }>['payload']]
      ? never
      : T
    : T;
}[EventType];

describe('WritEvent, the decoded events union', () => {
  it('has one branch per event type, each with that type’s payload', () => {
    expectTypeOf<Mismatched>().toBeNever();
    expectTypeOf<WritEvent['type']>().toEqualTypeOf<EventType>();
  });

  it.each(sampleEvents().map((event) => [event.type, event] as const))('decodes %s with a discriminant naming the schema its payload fits', (_, sample) => {
    const decoded = decodeEvent(encodeEvent(sample.type, sample.payload));
    const writer = CATALOGUE.find((entry) => entry.fingerprint === decoded.fingerprint);
    const name = isJsonObject(writer?.schema) ? writer.schema['name'] : undefined;
    expect(name).toBe(decoded.type);
    expect(decoded.type).toBe(sample.type);
    // The payload is a value of the current schema the discriminant names.
    expect(parseSchema(currentSchemaOf(decoded.type).schema).isValid(decoded.payload)).toBe(true);
  });

  it('narrows the payload by the type, with no cast', () => {
    const control = eventOf('ControlChanged', sampleEvent('ControlChanged'));
    const decoded = decodeEvent(encodeEvent(control.type, control.payload));
    if (decoded.type !== 'ControlChanged') throw new Error(`decoded ${decoded.type}`);
    expect(decoded.payload.control_key).toBe(control.payload.control_key);
  });
});
