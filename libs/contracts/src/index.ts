export { CURRENT_VERSIONS, ENUM_SYMBOLS, EVENT_TOPICS, EVENT_TYPES, TOPICS } from './events.generated.ts';
export type {
  ActionAdmitted,
  ActionCompleted,
  ActionExecuted,
  ActionFailed,
  ActionProposed,
  ActionRejected,
  ActionStatus,
  ApprovalRecorded,
  ApprovalSubmitted,
  ApprovalVerdict,
  BudgetApprovalStep,
  BudgetKind,
  BudgetRefused,
  BudgetReservationRequested,
  BudgetReserved,
  BudgetScope,
  BudgetSettled,
  BudgetThresholdCrossed,
  BudgetsConfigured,
  ConfiguredBudget,
  ControlChanged,
  PolicySetPublished,
  PolicyText,
  ShadowResult,
  ControlKind,
  DriftCategory,
  DriftDetected,
  EventPayloads,
  EventType,
  ExecutionRequested,
  FailedOutcome,
  LedgerCheckpoint,
  LedgerEntry,
  Metadata,
  ModelRef,
  ModelUsage,
  OutcomeReconciled,
  PolicyDecided,
  PolicyDecision,
  Provenance,
  ReconciledOutcome,
  Reservation,
  RetrievedDocument,
  RunEnded,
  RunLimits,
  RunMode,
  RunStarted,
  RunStats,
  RunStatus,
  SucceededOutcome,
  Topic,
  ToolResultRecorded,
  TraceContext,
  Warrant,
  WritEvent,
} from './events.generated.ts';
export { CATALOGUE } from './catalogue.generated.ts';
export type { CatalogueEntry } from './catalogue.ts';
export { currentSchemaOf, decodeEvent, encodeEvent, eventOf, isEventType, topicOf } from './codec.ts';
export type { DecodedEvent } from './codec.ts';
export { HEADER_LENGTH, MAGIC, createSingleObjectCodec } from './single-object.ts';
export type { Decoded, SingleObjectCodec } from './single-object.ts';
export { partitionKeyOf } from './keys.ts';
export { actionIdFor, nameBasedUuid, newMetadata, uuidv7 } from './metadata.ts';
export { microsToMoney, parseMoneyMicros } from './money.ts';
export { budgetPeriodText, describeApprovalStep } from './budget-text.ts';
export type { MetadataFactory, NewMetadata } from './metadata.ts';
export { crc64Avro, fingerprintHex, fingerprintOf, parsingCanonicalForm } from './fingerprint.ts';
export { checkCompatibility, describeCompatibilityProblem, parseSchema } from './compat.ts';
export type { CompatibilityProblem, SchemaVersion } from './compat.ts';
export { RULES, RULE_ATTRIBUTE, compileValidator } from './rules.ts';
export type { RuleName, RuleViolation, Validator } from './rules.ts';
export type { AvroSchemaJson, Json, JsonObject } from './schema-json.ts';
export { issueReservation, verifyReservation } from './reservation.ts';
export type { CarriedReservation, ExpectedReservationClaims, ReservationCheck, ReservationClaims, SignedReservation } from './reservation.ts';
