export { evolveAll, handleCommand, assertNever } from './decider.ts';
export type { Decider, Decision } from './decider.ts';
export { accumulator } from './accumulator.ts';
export type { Accumulator } from './accumulator.ts';
export { lookup, withEntry, withoutEntries } from './records.ts';
export { PersistentMap } from './persistent-map.ts';
