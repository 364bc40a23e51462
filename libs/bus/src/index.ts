export { createKafka, probeBrokers } from './kafka.ts';
export type { KafkaConnection, BrokerProbe } from './kafka.ts';
