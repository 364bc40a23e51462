export { createTestTopics, readTopicToEnd, committedOffsets, endOffsets } from './kafka-helpers.ts';
export type { TestTopic, ReadRecord } from './kafka-helpers.ts';
export { jsonSerde } from './json-serde.ts';
export { withTopicSuffix } from './topic-suffix.ts';
export { WORKER_FIXTURE_PATH } from './worker-path.ts';
export type { WorkerEnv } from './worker-path.ts';
