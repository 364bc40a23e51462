export { deciderSpec, deepFreeze } from './decider-spec.ts';
export type { DeciderSpec, DeciderGiven, DeciderOutcome, ExpectedError } from './decider-spec.ts';
export { seededRandom } from './seeded-random.ts';
export type { SeededRandom } from './seeded-random.ts';
