export { createTestTopics, readTopicToEnd, committedOffsets } from './kafka-helpers.ts';
export type { TestTopic, ReadRecord } from './kafka-helpers.ts';
export { jsonSerde } from './json-serde.ts';
