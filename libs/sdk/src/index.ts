export { WritClient, isTerminal, TERMINAL_STATUSES } from './client.ts';
export type { ActionView, ControlRequest, ControlView, ProposalProvenance, ProposeRequest, RunLimits, RunMode, RunView } from './client.ts';
