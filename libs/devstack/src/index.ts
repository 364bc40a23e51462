export { kafkaUp, kafkaDown, kafkaStatus, acquireKafka } from './kafka.ts';
export { brokerCommand } from './broker-process.ts';
export type { KafkaUp, KafkaDown, KafkaStatus, KafkaHandle, KafkaRelease } from './kafka.ts';
export { resolveKafkaSettings, kafkaLayout, localBrokers, writRoot, DEFAULT_KAFKA_PORT } from './settings.ts';
export type { KafkaStackOptions, KafkaSettings, KafkaLayout } from './settings.ts';
export { renderServerProperties, renderLog4j2Config, brokerProperties, newClusterId } from './broker-config.ts';
export type { BrokerConfigInput } from './broker-config.ts';
export { provisionTopology } from './topology.ts';
export type { TopologyOutcome } from './topology.ts';
