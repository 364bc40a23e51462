import type { EventSerde } from '../serde.ts';

/**
 * The same serde with every topic renamed `<topic>_<suffix>`: a test (or a whole service under
 * test) then runs against its own fresh topics while event types route exactly as in production.
 */
export function withTopicSuffix(serde: EventSerde, suffix: string): EventSerde {
  return {
    encode: (event) => serde.encode(event),
    decode: (bytes) => serde.decode(bytes),
    topicOf: (type) => `${serde.topicOf(type)}_${suffix}`,
    ...(serde.keyOf === undefined ? {} : { keyOf: serde.keyOf.bind(serde) }),
  };
}
