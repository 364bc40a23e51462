export { WritClient, isTerminal, TERMINAL_STATUSES } from './client.ts';
export type { ActionView, ProposeRequest, RunLimits } from './client.ts';
