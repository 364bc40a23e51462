export { ACCESS_ROLES, PLATFORM_TENANT, hashApiKey, parseDirectory } from './directory.ts';
export { holds, isPlatformAdmin, mayActIn, principalId, tenantOf } from './access.ts';
export { DIRECTORY_FILE_VARIABLE, loadDirectory } from './load.ts';
export { watchDirectory } from './live.ts';
export type { AccessRole, Agent, Directory, Principal, ServicePrincipal, User } from './directory.ts';
export type { Requirement } from './access.ts';
export type { LiveDirectory, WatchOptions } from './live.ts';
export { KAFKA_DOOR_PROPOSALS_REGEX, kafkaDoorAgentOf, kafkaDoorAgents, kafkaDoorNames } from './kafka-door.ts';
export type { KafkaDoorNames } from './kafka-door.ts';
