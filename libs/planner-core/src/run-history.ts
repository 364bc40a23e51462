// A run's records as the planner reads them back from the topics at boot, put in the order
// replayRun folds them: what the planner published by the instant of its decision (ties in the
// order planner-core emits them), and the inputs it had consumed by their record timestamp.
import type { ActionProposed, EventPayloads, Metadata } from '@writ/contracts';
import type { PlannerCommand, StartRun } from './commands.ts';
import type { PlannerConfig } from './config.ts';
import type { PlannerPublishedEvent } from './events.ts';
import type { RunHistory } from './replay.ts';
import { fromWire, isPlannerOutput } from './wire.ts';
import type { PlannerOutputType, WireEvent } from './wire.ts';

/** One record of a run topic, decoded, and where it sat. */
export interface RecordedEvent {
  readonly event: WireEvent;
  readonly meta: Metadata;
  /** Index of its topic in the list the history was read from (ties between topics). */
  readonly topicIndex: number;
  readonly partition: number;
  readonly offset: bigint;
  /** Kafka record timestamp (ms). */
  readonly timestamp: number;
  /** Published by a planner (see isOwnOutput). */
  readonly own: boolean;
  /** At an offset the planner's group had consumed (and committed) before this boot. */
  readonly consumed: boolean;
}

/** Order of a decision's events when they share an instant (the order planner-core emits them in). */
export const PUBLISHED_RANK: Readonly<Record<PlannerOutputType, number>> = {
  ActionAdmitted: 1,
  ActionRejected: 1,
  BudgetReservationRequested: 2,
  ExecutionRequested: 3,
  ActionCompleted: 4,
  RunEnded: 5,
};

function byOffset(a: RecordedEvent, b: RecordedEvent): number {
  return a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0;
}

function rankOf(record: RecordedEvent): number {
  return isPlannerOutput(record.event) ? PUBLISHED_RANK[record.event.type] : 9;
}

/** Published events: by the instant of the decision, then the emission order, then topic and offset. */
export function comparePublished(a: RecordedEvent, b: RecordedEvent): number {
  return a.meta.occurred_at - b.meta.occurred_at || rankOf(a) - rankOf(b) || a.topicIndex - b.topicIndex || byOffset(a, b);
}

/** Consumed inputs: by record timestamp, then topic, partition and offset. */
export function compareConsumed(a: RecordedEvent, b: RecordedEvent): number {
  return a.timestamp - b.timestamp || a.topicIndex - b.topicIndex || a.partition - b.partition || byOffset(a, b);
}

/**
 * The command of a consumed input at the instant it was recorded; null when the planner does not
 * act on it. It may throw for an input the planner refused (it went to the dead-letter queue).
 */
export type InputCommandOf = (event: WireEvent, at: number) => PlannerCommand | null;

/**
 * The history replayRun needs, from a run's records in the order they were read: the first
 * ActionProposed of each action and (in records from before the accountant reacted to proposals)
 * the planner's own last BudgetReservationRequested fill in what the published ActionAdmitted and
 * ActionRejected do not carry.
 */
export function runHistoryOf(records: readonly RecordedEvent[], config: PlannerConfig, inputCommandOf: InputCommandOf): RunHistory {
  const proposals = new Map<string, ActionProposed>();
  const reservationRequests = new Map<string, EventPayloads['BudgetReservationRequested']>();
  for (const { event, meta, own } of records) {
    if (meta.action_id === null) continue;
    if (event.type === 'ActionProposed' && !proposals.has(meta.action_id)) proposals.set(meta.action_id, event.payload);
    if (own && event.type === 'BudgetReservationRequested') reservationRequests.set(meta.action_id, event.payload);
  }

  const published: PlannerPublishedEvent[] = [];
  for (const { event, meta } of records.filter((record) => record.own).sort(comparePublished)) {
    if (!isPlannerOutput(event)) continue;
    const actionId = meta.action_id ?? '';
    const folded = fromWire(event, { proposal: proposals.get(actionId), reservationRequest: reservationRequests.get(actionId) }, config);
    if (folded !== null) published.push(folded);
  }

  const starts: StartRun[] = [];
  const inputs: PlannerCommand[] = [];
  for (const record of records.filter((r) => !r.own && r.consumed).sort(compareConsumed)) {
    let command: PlannerCommand | null;
    try {
      command = inputCommandOf(record.event, record.timestamp);
    } catch {
      continue;
    }
    if (command === null) continue;
    if (command.type === 'StartRun') starts.push(command);
    else inputs.push(command);
  }
  return { starts, published, inputs };
}
