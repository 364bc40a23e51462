export { startHelpdesk, DEFAULT_HELPDESK_PORT, DEFAULT_HELPDESK_TOKEN } from './server.ts';
export { seedData } from './seed.ts';
export type { HelpdeskOptions, RunningHelpdesk, ControlRequest } from './server.ts';
export type { HelpdeskStats, Refund, Notification, Fault } from './helpdesk.ts';
export type { Customer, Ticket, Seed } from './seed.ts';
