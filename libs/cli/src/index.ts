export { runFoundationDemo } from './foundation-demo.ts';
export type { DemoOptions } from './foundation-demo.ts';
// Kept for callers that found the keys here first; they live in @writ/devstack.
export { ensureDevKeys, keyLayout, keyEnvironment } from '@writ/devstack';
export type { KeyLayout } from '@writ/devstack';
export { clusterDdl } from './cluster-ddl.ts';
export type { ClusterDdlOptions, ClusterTable } from './cluster-ddl.ts';
