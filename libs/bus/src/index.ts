export { createKafka, connectionSasl, probeBrokers, requireTopics, clientVersions, kafkaLogger } from './kafka.ts';
export { kafkaSaslFromEnv, saslProperties, KAFKA_SASL_ENV, KAFKA_SASL_MECHANISMS } from './sasl.ts';
export type { KafkaSasl, KafkaSaslMechanism } from './sasl.ts';
export type { KafkaConnection, BrokerProbe, RdKafkaProperties } from './kafka.ts';

export { HEADERS, eventTraceOf, traceHeaders, extractTraceContext, normalizeHeaders } from './headers.ts';
export { stderrLogger, silentLogger } from './logger.ts';
export type { BusLogger } from './logger.ts';
export type { DecodedEvent, EventSerde, OutgoingEvent } from './serde.ts';
export { contractsSerde, writEvent } from './contracts-serde.ts';

export { EventProducer, DEFAULT_LINGER_MS, eventKey } from './producer.ts';
export type { EventProducerOptions, SentEvent, KafkaRecord } from './producer.ts';

export { AssignmentTracker, EventConsumer, DEFAULT_FETCH_WAIT_MS, STATIC_SESSION_TIMEOUT_MS } from './consumer.ts';
export type { EventConsumerOptions, EventContext, EventHandler, RebalanceHook } from './consumer.ts';
export { OffsetCommitter } from './committer.ts';
export { DEFAULT_RETRY, MAX_POLL_INTERVAL_MS, resolveRetryPolicy, retryDelay, classifyFailure, isKafkaRetriable, sleep } from './retry.ts';
export type { RetryPolicy, Failure } from './retry.ts';
export { dlqMessage, dlqTopicOf } from './dlq.ts';
export { EXIT_BUS_FATAL, exitOnFatal } from './fatal.ts';
export type { FatalHandler } from './fatal.ts';

export { TransactionalProcessor, runTransactional, DEFAULT_CONCURRENT_PARTITIONS, OFFSETS_ONLY_LINGER_MS } from './transactional.ts';
export { KeyedLock, Lock } from './lock.ts';
export type { TransactionalProcessorOptions, TransactionalHandler } from './transactional.ts';

export { DEFAULT_TOPOLOGY_PATH, loadTopology, parseTopology, applyTopology, topicDrift, formatTopologyReport } from './topology.ts';
export type {
  Topology,
  TopicSpec,
  ConsumerGroupSpec,
  TopologyReport,
  TopicReport,
  TopicStatus,
  TopicDrift,
  ObservedTopic,
  ApplyTopologyOptions,
} from './topology.ts';
export { describeTopicConfigs } from './describe-configs.ts';
export type { TopicConfigs, TopicConfigEntry, ConfigSource } from './describe-configs.ts';

export { WritKafkaServer, WritKafkaContext, WRIT_KAFKA_TRANSPORT } from './nest/server.ts';
export type { WritKafkaServerOptions } from './nest/server.ts';
export { WritKafkaClient } from './nest/client.ts';
export { WritEventExceptionFilter } from './nest/exception-filter.ts';

export { replayCommitted } from './replay.ts';
export { LagReader, groupLag, partitionEnds } from './lag.ts';
export type { GroupLag, PartitionEnd, PartitionLag } from './lag.ts';
export type { ReplayRecord } from './replay.ts';

export { DeciderRuntime, TIMER_RETRY_MS } from './decider-runtime.ts';
export type { DeciderRuntimeOptions, DeciderSpec, DeciderSlot, DeciderRoute, DeciderStep, DeciderTimers } from './decider-runtime.ts';
