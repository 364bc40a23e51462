export { evolveAction, evolveRun } from './evolve.ts';
export { GatewayReadModel } from './read-model.ts';
export type { ReadModelChange } from './read-model.ts';
export { READ_MODEL_EVENT_TYPES, TERMINAL_STATUSES, isReadModelEvent, isTerminalStatus } from './model.ts';
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
  RejectionView,
  RunEvent,
  RunState,
} from './model.ts';
export {
  LONG_POLL_DEFAULT_MS,
  LONG_POLL_MAX_MS,
  REQUEST_INVALID,
  parseApproval,
  parseApprovalStatus,
  parseLongPollTimeout,
  parseOpenRun,
  parsePropose,
  parseSwitch,
  requestInvalid,
} from './requests.ts';
export type { ApprovalRequest, OpenRunRequest, ProposeRequest, SwitchRequest } from './requests.ts';
export { approvalSubmittedEvent, checkRepeatedProposal, proposalEvent, runStartedEvent } from './commands.ts';
export type { Sealer, Stamp, ToolCatalogue } from './commands.ts';
export { PLATFORM_SCOPE, controlChangedEvent, presentControl, requireControlsReader, requirePlatformAdmin, requireTenantOperator } from './controls.ts';
export type { ControlJson, ControlSubject, ControlTarget } from './controls.ts';
export { argumentChanges, presentAction, presentRun } from './present.ts';
export type { ActionJson, ApprovalJson, ApprovalRequestJson, ArgumentChange, ArgumentsRedactor, PresentContext, RunJson } from './present.ts';
export { forbidden, maySeeAction, maySeeRun, notFound, requireAgent, requireRole } from './access.ts';
