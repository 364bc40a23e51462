export { runFoundationDemo } from './foundation-demo.ts';
export type { DemoOptions } from './foundation-demo.ts';
export { ensureDevKeys, keyLayout, keyEnvironment } from './keys.ts';
export type { KeyLayout } from './keys.ts';
