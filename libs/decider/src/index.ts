export { evolveAll, handleCommand, assertNever } from './decider.ts';
export type { Decider, Decision } from './decider.ts';
