export { waitFor } from './wait-for.ts';
export type { WaitForOptions } from './wait-for.ts';
export { uniqueName } from './unique-name.ts';
export { testKafkaBrokers, testKafkaCredentials } from './kafka-brokers.ts';
export { runFuzz, fuzzRequest, jsonRequest, send, replayable } from './http-fuzz.ts';
export type { FuzzRequest, FuzzReport, FuzzFailure, FuzzOptions } from './http-fuzz.ts';
export { bodyDoorCases, BODY_DOOR_LIMITS } from './body-door-cases.ts';
export type { BodyDoorCase } from './body-door-cases.ts';
export { freePort } from './free-port.ts';
