import { WritError } from '@writ/errors';
import type { DecodedEvent, EventSerde } from '../serde.ts';

/**
 * A JSON stand-in for the Avro contracts, for tests of the bus mechanics that must not depend
 * on real schemas. `topics` maps event type to topic; unknown types fail like SCHEMA_UNKNOWN.
 */
export function jsonSerde(topics: Readonly<Record<string, string>>): EventSerde {
  return {
    encode({ type, payload }) {
      if (!(type in topics)) throw new WritError('SCHEMA_UNKNOWN', `no topic for event type ${type}`);
      return Buffer.from(JSON.stringify({ type, payload }), 'utf8');
    },
    decode(bytes): DecodedEvent {
      let parsed: unknown;
      try {
        parsed = JSON.parse(bytes.toString('utf8'));
      } catch (error) {
        throw new WritError('EVENT_UNDECODABLE', 'not JSON', { cause: error });
      }
      const { type, payload } = (parsed ?? {}) as { type?: unknown; payload?: unknown };
      if (typeof type !== 'string' || !(type in topics)) {
        throw new WritError('SCHEMA_UNKNOWN', `unknown event type ${String(type)}`);
      }
      // A stand-in trusts the JSON its own encode wrote: no schema to check the payload against.
      return { type, payload, schemaVersion: 1, fingerprint: 'json' } as DecodedEvent;
    },
    topicOf(type) {
      const topic = topics[type];
      if (topic === undefined) throw new WritError('SCHEMA_UNKNOWN', `no topic for event type ${type}`);
      return topic;
    },
  };
}
