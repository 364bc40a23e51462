export { env, loadConfig } from './env.ts';
export type { EnvVar, ConfigOf } from './env.ts';
