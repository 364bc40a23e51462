export { env, loadConfig } from './env.ts';
export type { EnvVar } from './env.ts';
