export { DEFAULT_RATE_WINDOW_MS, emptyPdpState, evolvePdpState, proposedActionOf, countsBefore, runKey } from './state.ts';
export { onActionProposed, onApprovalSubmitted, evaluate, decisionRequestOf, resolveAction } from './decide.ts';
export type { Evaluated } from './decide.ts';
export { toEventWarrant, warrantFromEvent, warrantOfDecision } from './warrant-event.ts';
export type { ProposedAction, ActionRecord, PdpState, PdpEvent, RunCounts, RunTally } from './state.ts';
export type { PdpEnvironment, PdpOutput, ProposalOutcome, ResolvedAction, DirectoryAgent, DirectoryUser, ToolFacts } from './decide.ts';
export { emptyPolicyStream, currentSet, publicationOf, foldPublication } from './policy-stream.ts';
export type { PolicyStreamState, PublicationOutcome } from './policy-stream.ts';
