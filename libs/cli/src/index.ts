export { runFoundationDemo } from './foundation-demo.ts';
export type { DemoOptions } from './foundation-demo.ts';
