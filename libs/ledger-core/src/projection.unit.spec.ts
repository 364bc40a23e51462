import { describe, expect, it } from 'vitest';
import { encodeEvent, topicOf } from '@writ/contracts';
import type { EventPayloads, EventType } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { actionKey, projectRecords } from './projection.ts';
import type { ChainRecord, ProjectionMemory, Redactor } from './projection.ts';

const TENANT = 'acme-projection';
const RUN = 'run-projection';
const ACTION = 'action-projection';
const keep: Redactor = { arguments: (_tool, _version, json) => json, result: (_tool, _version, json) => json };

let seq = 0;
/** One chain record holding `type` (this file's tenant, run and action), as the ledger writes it. */
function chained<T extends EventType>(type: T, patch: Partial<EventPayloads[T]> = {}): ChainRecord {
  const payload = { ...sampleEvent(type, { tenant_id: TENANT, run_id: RUN, action_id: ACTION }), ...patch } as EventPayloads[T];
  const entry = sampleEvent('LedgerEntry', { tenant_id: TENANT, run_id: RUN, action_id: ACTION });
  seq += 1;
  return {
    type: 'LedgerEntry',
    payload: {
      ...entry,
      chain_id: TENANT,
      seq,
      event_type: type,
      source_event_id: payload.meta.event_id,
      source_topic: topicOf(type),
      event_bytes: encodeEvent(type, payload),
    },
    partition: 0,
    offset: seq,
  };
}

function rowAfter(records: readonly ChainRecord[]) {
  const memory: ProjectionMemory = { agentOfRun: new Map(), actions: new Map() };
  projectRecords(records, memory, { redactor: keep });
  return memory.actions.get(actionKey(TENANT, ACTION));
}

describe('the actions projection', () => {
  it('follows an action in pipeline order', () => {
    const row = rowAfter([
      chained('ActionProposed'),
      chained('ActionAdmitted'),
      chained('PolicyDecided', { decision: 'allow' }),
      chained('BudgetReserved'),
      chained('ExecutionRequested'),
      chained('ActionExecuted', { outcome: 'succeeded', cost_micros: 1_500 }),
      chained('ActionCompleted', { status: 'completed', cost_micros: 1_500 }),
    ]);
    expect(row).toMatchObject({ stage: 'completed', status: 'completed', decision: 'allow', outcome: 'succeeded', cost_micros: 1_500 });
  });

  it('never moves back when topics are chained out of order: outcome before request, end before proposal and decision', () => {
    // writ.outcomes.v1 read before writ.executions.v1, writ.actions.v1 before writ.proposals.v1 and writ.policy.v1.
    const row = rowAfter([
      chained('ActionAdmitted'),
      chained('ActionExecuted', { outcome: 'succeeded', cost_micros: 900 }),
      chained('ExecutionRequested'),
      chained('ActionCompleted', { status: 'completed', cost_micros: 900 }),
      chained('ActionProposed', { idempotency_key: 'k-late' }),
      chained('PolicyDecided', { decision: 'allow' }),
    ]);
    expect(row).toMatchObject({ stage: 'completed', status: 'completed', decision: 'allow', outcome: 'succeeded', idempotency_key: 'k-late' });
    const executed = rowAfter([chained('ActionExecuted', { outcome: 'succeeded' }), chained('ExecutionRequested')]);
    expect(executed?.stage).toBe('executed');
  });

  it('keeps the decision and the reservation when the admission is read after them (policy and budget answer the proposal itself)', () => {
    const decided = rowAfter([
      chained('ActionProposed'),
      chained('PolicyDecided', { decision: 'allow' }),
      chained('BudgetReserved'),
      chained('ActionAdmitted'),
    ]);
    expect(decided).toMatchObject({ stage: 'reserved', decision: 'allow' });
    // A proposal the planner rejected stays rejected when the PDP's decision on it is read afterwards.
    const rejected = rowAfter([chained('ActionProposed'), chained('ActionRejected'), chained('PolicyDecided', { decision: 'allow' })]);
    expect(rejected?.stage).toBe('rejected');
  });
});
