export { parseStrictJson, StrictJsonError, PROTOTYPE_KEYS, MAX_DEPTH_CEILING } from './strict-json.ts';
export type { StrictJsonOptions, StrictJsonRule } from './strict-json.ts';
export { firstInvalidUtf8 } from './utf8.ts';
