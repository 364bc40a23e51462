export { createBudgetDecider, budgetDecider, usageOf, nextReservationExpiry } from './budget.ts';
export type { BudgetDecider } from './budget.ts';
export { DEFAULT_BUDGET_CONFIG } from './config.ts';
export type { BudgetConfig } from './config.ts';
export { capsFor } from './decide.ts';
export { initialBudgetState } from './evolve.ts';
export { accountantStep } from './accountant.ts';
export { parseBudgetsFile, limitCommandsFor, moneyToMicros } from './budgets-file.ts';
export { commandFor, isBudgetInput, BUDGET_INPUT_TYPES } from './inputs.ts';
export { toWire, fromWire, replayWire, BUDGET_WIRE_TYPES } from './wire.ts';
export { utcDay, periodId, countersOf, countersOfRecord, counterKey, isTimeZone, BUDGET_SCOPES, DEFAULT_SUBJECT } from './model.ts';
export { usedOf } from './decide.ts';
export { budgetStandings } from './standing.ts';
export { budgetsAnnouncement } from './announcement.ts';
export type { BudgetsAnnouncement } from './announcement.ts';
export type { BudgetStanding } from './standing.ts';
export type { BudgetCommand, ExpireReservations, Release, Reserve, SetLimits, SetTimeZone, Settle } from './commands.ts';
export type {
  BudgetEvent,
  BudgetRefused,
  BudgetReleased,
  BudgetReservationExpired,
  BudgetReserved,
  BudgetSettled,
  BudgetThresholdCrossed,
  LimitsSet,
  RefusalRule,
  ReservationsForgotten,
  TimeZoneSet,
} from './events.ts';
export type {
  BudgetKind,
  BudgetLevel,
  BudgetPeriod,
  BudgetScope,
  BudgetState,
  Caps,
  Counter,
  ReservationRecord,
  ReservationStatus,
  Usage,
  WindowBudget,
} from './model.ts';
export type { AccountantStep } from './accountant.ts';
export type { BudgetsFile, TenantBudgets } from './budgets-file.ts';
export type { BudgetInput, InputCommand, ResolvedTool } from './inputs.ts';
export type { BudgetWireEvent, WireContext } from './wire.ts';
export { thresholdNotification, microsToMoney } from './notifications.ts';
export type { BudgetNotification } from './notifications.ts';
