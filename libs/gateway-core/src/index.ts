export { evolveAction, evolveRun } from './evolve.ts';
export { GatewayReadModel } from './read-model.ts';
export type { ReadModelChange, TenantQueues } from './read-model.ts';
export { READ_MODEL_EVENT_TYPES, TERMINAL_STATUSES, awaitsDetail, awaitsReconciliation, isReadModelEvent, isTerminalStatus, resultJsonOf } from './model.ts';
export { OUTCOME_UNKNOWN_REASON, traceIdOf } from './evolve.ts';
export type {
  ActionEvent,
  ActionEventType,
  ActionState,
  ActionViewStatus,
  ApprovalRequirement,
  ApprovalView,
  PendingStatus,
  ReadModelEvent,
  ReadModelEventType,
  ReconciliationView,
  RejectionView,
  RunEvent,
  RunState,
  UnknownOutcomeView,
} from './model.ts';
export {
  LONG_POLL_DEFAULT_MS,
  LONG_POLL_MAX_MS,
  PROVENANCE_LIMITS,
  REQUEST_INVALID,
  parseApproval,
  parseApprovalStatus,
  parseLongPollTimeout,
  parseOpenRun,
  parsePropose,
  parseResolution,
  parseSwitch,
  requestInvalid,
} from './requests.ts';
export type { ApprovalRequest, OpenRunRequest, ProposeRequest, ResolutionRequest, SwitchRequest } from './requests.ts';
export { checkResolvable, outcomeReconciledEvent, presentReconciliationItem, requireReconciler } from './reconciliation.ts';
export type { ReconciliationItemJson } from './reconciliation.ts';
export { approvalSubmittedEvent, checkRepeatedProposal, proposalEvent, runStartedEvent } from './commands.ts';
export type { Sealer, Stamp, ToolCatalogue } from './commands.ts';
export { PLATFORM_SCOPE, controlChangedEvent, presentControl, requireControlsReader, requirePlatformAdmin, requireTenantOperator } from './controls.ts';
export type { ControlJson, ControlSubject, ControlTarget } from './controls.ts';
export { argumentChanges, presentAction, presentRun } from './present.ts';
export type { ActionJson, ApprovalJson, ApprovalRequestJson, ArgumentChange, ArgumentsRedactor, PresentContext, RunJson } from './present.ts';
export { forbidden, maySeeAction, maySeeRun, notFound, requireAgent, requireRole } from './access.ts';
export { AUTO_SAFE_MODE_PRINCIPAL, SafeModeWatch, figuresOf, safeModeNotification, safeModeTripEvent, tripEventId } from './safe-mode.ts';
export type { CompletedAction, SafeModeFigures, SafeModeNotification, SafeModeTrip, TripTrigger } from './safe-mode.ts';
export { agentTrigger, parseSafeModeFile } from './safe-mode-file.ts';
export type { SafeModeFile, SafeModeTrigger, TenantSafeMode } from './safe-mode-file.ts';
