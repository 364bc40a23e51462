export { WritClient, isTerminal, TERMINAL_STATUSES } from './client.ts';
export type { ActionView, ControlRequest, ControlView, ProposeRequest, RunLimits } from './client.ts';
