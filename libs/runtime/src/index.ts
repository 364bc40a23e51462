export { runService, SERVICE_CONFIG, EXIT_CONFIG, EXIT_UNAVAILABLE } from './run-service.ts';
export type { ServiceDefinition } from './run-service.ts';
export { HealthModule, HealthController, SERVICE_IDENTITY } from './health.ts';
export type { ServiceIdentity } from './health.ts';
export { baseConfigSpec, loadServiceConfig, packageVersion, DEFAULT_KAFKA_BROKERS } from './service-config.ts';
export type { BaseConfig } from './service-config.ts';
export { createHttpApp, bodyLimitsOf } from './http-app.ts';
export { installStrictJsonBodies, parseBody, checkContentType } from './http-body.ts';
export type { HttpBodyLimits, BodyRejection, BodyRule } from './http-body.ts';
