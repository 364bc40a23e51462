export {
  DEFAULT_HISTORY_HORIZON_MS,
  DEFAULT_RATE_WINDOW_MS,
  emptyPdpState,
  evolvePdpState,
  historyDecisionOf,
  proposedActionOf,
  countsBefore,
  runKey,
} from './state.ts';
export { onActionProposed, onApprovalSubmitted, onBudgetApprovalStep, evaluate, decisionRequestOf, resolveAction, escalationDue } from './decide.ts';
export type { Evaluated } from './decide.ts';
export { toEventWarrant, warrantFromEvent, warrantOfDecision } from './warrant-event.ts';
export type { ProposedAction, ActionRecord, PdpState, PdpEvent, RunCounts, RunTally } from './state.ts';
export type { PdpEnvironment, PdpOutput, ProposalOutcome, ResolvedAction, DirectoryAgent, DirectoryUser, ToolFacts } from './decide.ts';
export { emptyPolicyStream, currentSet, publicationOf, foldPublication } from './policy-stream.ts';
export type { PolicyStreamState, PublicationOutcome } from './policy-stream.ts';
export { notificationOfCompletion, notificationOfDecision, notificationOfEscalation } from './notifications.ts';
export type { ApprovalNotification, ApprovalNotificationEvent, DueEscalation } from './notifications.ts';
