import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, newMetadata, uuidv7 } from '@writ/contracts';
import type { EventPayloads } from '@writ/contracts';
import { sampleEvent } from '@writ/contracts/testing';
import { hashApiKey, parseDirectory } from '@writ/directory';
import {
  GatewayReadModel,
  checkResolvable,
  outcomeReconciledEvent,
  parseResolution,
  presentAction,
  presentReconciliationItem,
  requireReconciler,
} from './index.ts';
import type { ActionState, ReadModelEvent } from './index.ts';

const stamp = { producer: 'gateway@0.1.0', trace: null, newMetadata, newRunId: () => uuidv7() };
const directory = parseDirectory({
  agents: [{ id: 'bot', tenant: 'acme', role: 'support', owner: 'dana', api_key_sha256: hashApiKey('bot') }],
  users: [
    { id: 'dana', tenant: 'acme', role: 'manager', roles: ['approver'], api_key_sha256: hashApiKey('dana') },
    { id: 'oscar', tenant: 'acme', role: 'operator', roles: ['operator'], api_key_sha256: hashApiKey('oscar') },
    { id: 'ada', tenant: 'acme', role: 'admin', roles: ['admin'], api_key_sha256: hashApiKey('ada') },
    { id: 'gina', tenant: 'globex', role: 'operator', roles: ['operator'], api_key_sha256: hashApiKey('gina') },
    { id: 'root', tenant: '*', role: 'admin', roles: ['admin'], api_key_sha256: hashApiKey('root') },
  ],
});
const who = (key: string) => directory.authenticate(key) ?? expect.unreachable();

let clock = 1_700_000_000_000;
function event<T extends ReadModelEvent['type']>(
  type: T,
  overrides: Partial<EventPayloads[T]> = {},
  at: { tenant_id?: string; action_id?: string; run_id?: string } = {},
): Extract<ReadModelEvent, { type: T }> {
  clock += 10;
  const meta = { tenant_id: 'acme', run_id: 'run-1', action_id: 'action-1', occurred_at: clock, ...at };
  return { type, payload: { ...sampleEvent(type, meta), ...overrides } } as unknown as Extract<ReadModelEvent, { type: T }>;
}
const proposed = (at = {}) =>
  event('ActionProposed', { agent_id: 'bot', tool: 'refunds.issue', tool_version: '1.2.0', idempotency_key: 'refund-T-1', args_sha256: 'a'.repeat(64) }, at);
const failedUnknown = (at = {}) =>
  event(
    'ActionFailed',
    { outcome: 'unknown', error_code: 'VERIFICATION_REFUTED', message: 'read-back answered 404', attempts: 1, cost_micros: 20_000, currency: 'USD' },
    at,
  );
const completedUnknown = (at = {}) =>
  event('ActionCompleted', { status: 'failed', reason_code: 'OUTCOME_UNKNOWN', reason: 'outcome unknown, needs reconciliation', cost_micros: 20_000 }, at);
const reconciled = (outcome: 'succeeded' | 'failed', by = 'oscar', at = {}) =>
  event('OutcomeReconciled', { outcome, note: 'looked it up', resolved_by: by, resolver_role: 'operator' }, at);

function model(...events: ReadModelEvent[]): GatewayReadModel {
  const m = new GatewayReadModel();
  for (const e of events) m.apply(e);
  return m;
}
const ids = (actions: readonly ActionState[]) => actions.map((a) => a.action_id);

describe('the reconciliation queue (read model)', () => {
  it("lists an unknown outcome for its tenant only, with what is known, whichever of the executor's and the planner's events came first", () => {
    for (const order of [
      [proposed(), failedUnknown(), completedUnknown()],
      [proposed(), completedUnknown(), failedUnknown()],
    ]) {
      const m = model(...order);
      expect(ids(m.awaitingReconciliation('acme'))).toEqual(['action-1']);
      expect(m.awaitingReconciliation('globex')).toEqual([]);
      const item = presentReconciliationItem(m.action('action-1') ?? expect.unreachable());
      expect(item).toMatchObject({
        action_id: 'action-1',
        run_id: 'run-1',
        agent_id: 'bot',
        tool: 'refunds.issue',
        idempotency_key: 'refund-T-1',
        tool_idempotency_key: 'acme:refund-T-1',
        error_code: 'VERIFICATION_REFUTED',
        message: 'read-back answered 404',
        attempts: 1,
        cost_micros: 20_000,
      });
      expect(item.unknown_since).toBe(new Date(m.action('action-1')?.unknown_outcome?.since ?? 0).toISOString());
    }
  });

  it('lists an action known unknown only from the completion, and oldest first', () => {
    const m = model(proposed({ action_id: 'a-2' }), completedUnknown({ action_id: 'a-2' }), proposed(), failedUnknown());
    expect(ids(m.awaitingReconciliation('acme'))).toEqual(['a-2', 'action-1']);
    expect(m.action('a-2')?.unknown_outcome).toMatchObject({ error_code: null, attempts: null, message: 'outcome unknown, needs reconciliation' });
  });

  it('leaves out failures that are known, successes and shadow runs', () => {
    const m = model(
      proposed(),
      event('ActionFailed', { outcome: 'failed', error_code: 'TOOL_REJECTED' }),
      event('ActionCompleted', { status: 'failed', reason_code: 'EXECUTION_FAILED' }),
      event('ActionProposed', { mode: 'shadow' }, { action_id: 'shadow-1' }),
      failedUnknown({ action_id: 'shadow-1' }),
    );
    expect(m.awaitingReconciliation('acme')).toEqual([]);
    expect(() => checkResolvable(m.action('action-1') ?? expect.unreachable())).toThrow(
      expect.objectContaining({ code: 'OUTCOME_NOT_UNKNOWN', field: 'action_id', rule: 'must have an unknown outcome' }) as Error,
    );
    expect(() => checkResolvable(m.action('shadow-1') ?? expect.unreachable())).toThrow(
      expect.objectContaining({ code: 'OUTCOME_NOT_UNKNOWN', rule: 'must be an action of a live run' }) as Error,
    );
  });

  it('a resolution takes it out of the queue and shows on the action; the first one counts, a second is refused', () => {
    const m = model(proposed(), failedUnknown(), completedUnknown());
    const action = m.action('action-1') ?? expect.unreachable();
    expect(() => checkResolvable(action)).not.toThrow();
    m.apply(reconciled('failed'));
    m.apply(reconciled('succeeded', 'someone-else'));
    expect(m.awaitingReconciliation('acme')).toEqual([]);
    const after = m.action('action-1') ?? expect.unreachable();
    expect(after.status).toBe('failed');
    const shown = presentAction(after, (_tool, _version, args) => args);
    expect(shown.reconciliation).toMatchObject({ outcome: 'failed', resolved_by: 'oscar', note: 'looked it up' });
    expect(shown.unknown_outcome).toMatchObject({ error_code: 'VERIFICATION_REFUTED', attempts: 1 });
    expect(() => checkResolvable(after)).toThrow(
      expect.objectContaining({
        code: 'OUTCOME_ALREADY_RECONCILED',
        field: 'action_id',
        message: expect.stringContaining('already reconciled as failed by oscar') as string,
      }) as Error,
    );
  });

  it('a resolution read before the outcome (another topic) is kept, and the action never enters the queue', () => {
    const m = model(proposed(), reconciled('succeeded'), failedUnknown(), completedUnknown());
    expect(m.awaitingReconciliation('acme')).toEqual([]);
    expect(m.action('action-1')?.reconciliation?.outcome).toBe('succeeded');
  });

  it('pruning never drops an unresolved unknown outcome, and drops it once resolved', () => {
    const m = model(proposed(), failedUnknown(), completedUnknown());
    m.prune(Number.MAX_SAFE_INTEGER);
    expect(ids(m.awaitingReconciliation('acme'))).toEqual(['action-1']);
    m.apply(reconciled('succeeded'));
    m.prune(Number.MAX_SAFE_INTEGER);
    expect(m.action('action-1')).toBeUndefined();
  });
});

describe('who reconciles', () => {
  it("a tenant's operators and admins; not approvers, agents, or a platform admin", () => {
    expect(requireReconciler(who('oscar')).id).toBe('oscar');
    expect(requireReconciler(who('ada')).id).toBe('ada');
    for (const key of ['dana', 'bot', 'root']) expect(() => requireReconciler(who(key))).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }) as Error);
  });
});

describe('parseResolution', () => {
  it('takes succeeded or failed with a note', () => {
    expect(parseResolution({ outcome: 'failed', note: 'no refund R-1 in the payment system' })).toEqual({
      outcome: 'failed',
      note: 'no refund R-1 in the payment system',
    });
  });

  it.each([
    [undefined, 'body', 'type'],
    [{}, 'outcome', 'required'],
    [{ outcome: 'unknown', note: 'x' }, 'outcome', 'enum'],
    [{ outcome: 1, note: 'x' }, 'outcome', 'enum'],
    [{ outcome: 'failed' }, 'note', 'required'],
    [{ outcome: 'failed', note: '  ' }, 'note', 'minLength'],
    [{ outcome: 'failed', note: 'x'.repeat(2001) }, 'note', 'maxLength'],
    [{ outcome: 'failed', note: 'x', by: 'me' }, 'by', 'additionalProperties'],
  ])('refuses %j naming %s and the rule %s', (body, field, rule) => {
    expect(() => parseResolution(body)).toThrow(expect.objectContaining({ code: 'REQUEST_INVALID', field, rule }) as Error);
  });
});

describe('OutcomeReconciled', () => {
  it('carries the tenant, run, action, outcome, note and resolver, and survives the wire', () => {
    const m = model(proposed(), failedUnknown(), completedUnknown());
    const action = m.action('action-1') ?? expect.unreachable();
    const operator = requireReconciler(who('oscar'));
    const payload = outcomeReconciledEvent({ action, resolver: operator, request: { outcome: 'succeeded', note: 'R-1 is there' }, stamp });
    expect(payload).toMatchObject({
      meta: { tenant_id: 'acme', run_id: 'run-1', action_id: 'action-1', producer: 'gateway@0.1.0' },
      outcome: 'succeeded',
      note: 'R-1 is there',
      resolved_by: 'oscar',
      resolver_role: 'operator',
      previous_error_code: 'VERIFICATION_REFUTED',
    });
    const decoded = decodeEvent(encodeEvent('OutcomeReconciled', payload));
    expect(decoded.type).toBe('OutcomeReconciled');
    expect(decoded.payload).toEqual(payload);
    // Folded back in, as the gateway does after sending it.
    m.apply({ type: 'OutcomeReconciled', payload });
    expect(m.awaitingReconciliation('acme')).toEqual([]);
  });
});
