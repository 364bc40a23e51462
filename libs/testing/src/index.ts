export { waitFor } from './wait-for.ts';
export type { WaitForOptions } from './wait-for.ts';
export { uniqueName } from './unique-name.ts';
export { testKafkaBrokers } from './kafka-brokers.ts';
