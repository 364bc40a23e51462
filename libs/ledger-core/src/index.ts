export { GENESIS_HASH, chainHashInput, chainHashOf, eventHashOf, isSha256Hex } from './encoding.ts';
export { ChainIndex, chainDecider, chainedSeqOf, headOf, initialChainState } from './chain.ts';
export type {
  AppendEvent,
  ChainCommand,
  ChainEntry,
  ChainEvent,
  ChainHead,
  ChainOptions,
  ChainState,
  CheckpointDue,
  EventChained,
  EventSource,
} from './chain.ts';
export { verifyChain } from './verify.ts';
export type { VerifyFailure, VerifyFailureKind, VerifyOptions, VerifyResult, VerifySuccess } from './verify.ts';
export { checkpointPayload, signHead, verifyHead } from './checkpoint.ts';
export type { SignedHead } from './checkpoint.ts';
export { LedgerBook, appendCommandOf } from './book.ts';
export type { ConsumedEvent } from './book.ts';
export { actionKey, dateTime64, projectRecords, redactedPayload, referencesOf, registryRedactor } from './projection.ts';
export type {
  ActionRow,
  ApprovalRow,
  ChainRecord,
  CheckpointRow,
  DecisionRow,
  EventRow,
  LedgerRow,
  PolicyPublicationRow,
  ProjectOptions,
  ProjectionMemory,
  ProjectionRows,
  Redactor,
  ShadowResultRow,
  SpendRow,
} from './projection.ts';
export { exportLine, parseExport, verifyExport } from './export.ts';
export type { ExportLine, ExportVerification, ExportedCheckpoint, ExportedEntry, ParsedExport } from './export.ts';
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
export type { AnalystDdlOptions } from './analyst-ddl.ts';
export { CHAINS_SQL, CHAIN_CHECKPOINTS_SQL, chainEntriesSql, checkpointLineOf, entryLineOf } from './export-sql.ts';
