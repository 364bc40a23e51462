export { createPlannerDecider, plannerDecider, nextPlannerDeadline, deadlineSetBy } from './planner.ts';
export type { PlannerDecider } from './planner.ts';
export { DEFAULT_PLANNER_CONFIG } from './config.ts';
export type { PlannerConfig } from './config.ts';
export { initialPlannerState } from './evolve.ts';
export { replayRun } from './replay.ts';
export type { ReplayResult, RunHistory } from './replay.ts';
export { PLANNER_OUTPUT_TYPES, PLANNER_PRODUCER_PREFIX, commandOf, fromWire, isOwnOutput, isPlannerOutput, toWire, wireCode } from './wire.ts';
export type { OutputContext, PlannerOutputType, PlannerOutputWire, ReplayJoin, WireEvent } from './wire.ts';
export { PUBLISHED_RANK, compareConsumed, comparePublished, runHistoryOf } from './run-history.ts';
export type { InputCommandOf, RecordedEvent } from './run-history.ts';
export { isPlannerInternalEvent } from './events.ts';
export { isTerminalStatus, callKey } from './model.ts';
export type {
  ActionAdmitted,
  AnswerHeld,
  ActionAwaitingApproval,
  ActionCompleted,
  ActionParked,
  ActionRejected,
  BudgetReleaseRequested,
  ExecutionRequested,
  PlannerEvent,
  PlannerInternalEvent,
  PlannerPublishedEvent,
  ReservationRecorded,
  RunEnded,
  RunStarted,
  WarrantRecorded,
} from './events.ts';
export type {
  BudgetResult,
  EndRun,
  ExpireActions,
  InvalidProposal,
  PlannerCommand,
  PolicyVerdict,
  ProposeAction,
  RecordBudgetResult,
  RecordExecutionOutcome,
  RecordPolicyDecision,
  StartRun,
} from './commands.ts';
export type {
  ActionOpenStatus,
  ActionState,
  ActionStatus,
  ActionTerminalStatus,
  CompletionReason,
  HeldAnswer,
  PlannerState,
  Proposal,
  RejectionReason,
  Reservation,
  RunEnd,
  RunEndStatus,
  RunLimits,
  RunLimitsInput,
  RunPhase,
  RunStats,
  Warrant,
} from './model.ts';
