export { emptyPdpState, evolvePdpState, admittedActionOf } from './state.ts';
export { onActionAdmitted, onApprovalSubmitted, evaluate, decisionRequestOf } from './decide.ts';
export { toEventWarrant, warrantFromEvent, warrantOfDecision } from './warrant-event.ts';
export type { AdmittedAction, ActionRecord, PdpState, PdpEvent } from './state.ts';
export type { PdpEnvironment, PdpOutput, DirectoryAgent, DirectoryUser, ToolFacts } from './decide.ts';
