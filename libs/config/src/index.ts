export { env, loadConfig } from './env.ts';
export type { EnvVar, ConfigOf } from './env.ts';
export { ALL_TENANTS, parseTenantFilter } from './tenants.ts';
export type { TenantFilter } from './tenants.ts';
export { parseDurationMs } from './duration.ts';
export { fileFields } from './file-fields.ts';
export type { CredentialSource, FileFields } from './file-fields.ts';
