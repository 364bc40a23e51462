export { SAMPLE_IDS, sampleEvent, sampleEvents } from './samples.ts';
export { encodeWithSchema } from './frame.ts';
