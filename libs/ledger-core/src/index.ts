export {
  CURRENT_HASH_VERSION,
  GENESIS_HASH,
  HASH_VERSIONS,
  chainHashInput,
  chainHashOf,
  entryChainHash,
  entryHashInput,
  eventHashOf,
  isSha256Hex,
} from './encoding.ts';
export type { HashedEntry } from './encoding.ts';
export { ChainIndex, chainDecider, chainedSeqOf, headOf, initialChainState, nextCheckpointAt } from './chain.ts';
export type {
  AppendEvent,
  ChainCommand,
  ChainEntry,
  ChainEvent,
  ChainHead,
  ChainOptions,
  ChainState,
  CheckpointDue,
  CheckpointHead,
  EventChained,
  EventSource,
} from './chain.ts';
export { verifyChain } from './verify.ts';
export type { TrustedHead, Unanchored, VerifyFailure, VerifyFailureKind, VerifyOptions, VerifyResult, VerifySuccess } from './verify.ts';
export { anchorLine, anchorsToAppend, parseAnchors, signedHeadOf } from './anchors.ts';
export type { Anchor, AnchorRecord, HeadToAnchor } from './anchors.ts';
export { checkpointPayload, signHead, verifyHead } from './checkpoint.ts';
export type { SignedHead } from './checkpoint.ts';
export { LedgerBook, appendCommandOf } from './book.ts';
export type { ConsumedEvent } from './book.ts';
export { actionKey, budgetLimitRows, dateTime64, projectRecords, redactedPayload, referencesOf, registryRedactor } from './projection.ts';
export { toolResultRow } from './results.ts';
export type { ResultRecordAt } from './results.ts';
export type {
  ActionRow,
  ApprovalRow,
  ChainRecord,
  CheckpointRow,
  DecisionRow,
  EndingRow,
  EventRow,
  LedgerRow,
  PolicyPublicationRow,
  ProjectOptions,
  ProjectionMemory,
  ProjectionRows,
  Redactor,
  ShadowResultRow,
  SpendRow,
  ModelUsageRow,
  BudgetLimitRow,
} from './projection.ts';
export { dateTime64Ms, exportLine, parseExport, verifyExport } from './export.ts';
export type { ExportLine, ExportVerification, ExportedCheckpoint, ExportedEntry, ParsedCheckpoint, ParsedExport, VerifyExportOptions } from './export.ts';
export {
  ANALYST_TABLES,
  DENIED_FUNCTIONS,
  DENIED_FUNCTION_PREFIXES,
  RESERVED_PARAMETER_PREFIX,
  RULES as ANALYST_RULES,
  TENANT_PARAMETER,
  checkAnalystAst,
  isDeniedFunction,
  parseExplainAst,
  quoteName,
  scopedAnalystSql,
} from './analyst-sql.ts';
export type { AstNode } from './analyst-sql.ts';
export { analystUserDdl } from './analyst-ddl.ts';
export {
  ANALYST_VIEWS,
  ANALYST_VIEW_NAMES,
  DRIFT_CATEGORY_SQL,
  DRIFT_VIEW_BASELINE_DAYS,
  FINAL_TABLES,
  SCOPED_TABLES,
  analystViewStatements,
  driftCategoriesSql,
} from './analytics-sql.ts';
export type { AnalystView, TableRef } from './analytics-sql.ts';
export { driftAlertRow, driftDetectedEvent, driftEventId, driftKey, driftRunId, isDrift, jensenShannonDivergence, scoreDrift, utcDay } from './drift.ts';
export type { DriftAlertRow, DriftCategoryCount, DriftCounts, DriftRule, DriftScore } from './drift.ts';
export type { AnalystDdlOptions } from './analyst-ddl.ts';
export { CHAINS_SQL, CHAIN_CHECKPOINTS_SQL, chainEntriesSql, checkpointLineOf, entryLineOf } from './export-sql.ts';
