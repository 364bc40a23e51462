export { loadPolicySet, readPolicySetSources, compilePolicySet, policySetHash } from './policy-set.ts';
export { createDecisionPoint, failClosedDecisionPoint } from './decision-point.ts';
export { toolReach } from './visibility.ts';
export type { ToolReach } from './visibility.ts';
export { BUDGET_APPROVAL_POLICY, POLICY_MODES } from './types.ts';
export { issueWarrant, verifyWarrant, toolRef } from './warrant.ts';
export { runPolicyCases, runPolicyCasesAgainst, runPolicyCaseSources, readPolicyCases } from './cases.ts';
export type { PolicySetSources, LoadedPolicySet, PolicyMetadata, PolicySetProblem } from './policy-set.ts';
export type { DecisionPoint, DecisionPointOptions } from './decision-point.ts';
export type {
  ToolEffect,
  ToolRisk,
  PolicyDecision,
  PolicyMode,
  ShadowResult,
  AgentIdentity,
  ToolDescriptor,
  RunStats,
  ApprovalGrant,
  DecisionRequest,
  ApprovalRequirement,
  ApprovalEscalation,
  Decision,
  Approver,
  PendingAction,
  ApprovalAuthorizationRequest,
  ApprovalAuthorization,
} from './types.ts';
export type { WarrantClaims, SignedWarrantClaims, Warrant, ExpectedWarrantClaims, WarrantCheck } from './warrant.ts';
export type { PolicyCase, CaseExpectation, PolicyCaseResult, PolicyCaseReport, PolicyCaseSource } from './cases.ts';
export { BACKTEST_EVALUATION_CACHE, backtest, decideOrRefuse, recordedDecisionOf, withCandidateFacts } from './backtest.ts';
export { backtestKey, backtestKeyOfJson, canonicalRequestJson } from './backtest-key.ts';
export type {
  BacktestAnswer,
  BacktestCache,
  BacktestExample,
  BacktestHistoryOptions,
  BacktestReport,
  BacktestTally,
  PolicyDecidedLike,
  RecordedDecision,
} from './backtest.ts';
export {
  HistoryIndex,
  longestWindowMs,
  parseHistoryAnnotation,
  parseHistoryWindow,
  HISTORY_GRAMMAR,
  HISTORY_STATUSES,
  HISTORY_VALUE_TYPE,
  HISTORY_ZERO,
  MAX_HISTORY_WINDOW_MS,
} from './history.ts';
export type { HistoryDecision, HistoryFact, HistoryKey, HistoryOperation, HistoryStatus, HistorySubject, HistoryValue } from './history.ts';
