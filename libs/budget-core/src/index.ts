export { createBudgetDecider, budgetDecider, usageOf, nextReservationExpiry } from './budget.ts';
export type { BudgetDecider } from './budget.ts';
export { DEFAULT_BUDGET_CONFIG } from './config.ts';
export type { BudgetConfig } from './config.ts';
export { capsFor } from './decide.ts';
export { initialBudgetState } from './evolve.ts';
export { issueReservation, verifyReservation } from './reservation.ts';
export { utcDay, countersFor, counterKey, DEFAULT_SUBJECT } from './model.ts';
export type { BudgetCommand, ExpireReservations, Release, Reserve, SetLimits, Settle } from './commands.ts';
export type {
  BudgetEvent,
  BudgetRefused,
  BudgetReleased,
  BudgetReservationExpired,
  BudgetReserved,
  BudgetSettled,
  BudgetThresholdCrossed,
  LimitsSet,
  ReservationsForgotten,
} from './events.ts';
export type { BudgetKind, BudgetScope, BudgetState, Caps, Counter, ReservationRecord, ReservationStatus, Usage } from './model.ts';
export type { CarriedReservation, ExpectedReservationClaims, ReservationCheck, ReservationClaims, SignedReservation } from './reservation.ts';
