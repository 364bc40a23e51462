// Rules over history on real Cedar: a policy's @history facts reach the decision point, the
// schema's context.history must fit them, and a backtest computes them from the records it replays.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WritError } from '@writ/errors';
import { backtest } from './backtest.ts';
import type { RecordedDecision } from './backtest.ts';
import { createDecisionPoint } from './decision-point.ts';
import type { DecisionPoint } from './decision-point.ts';
import { thrown } from '@writ/testing';
import { refund as refundRequest } from './fixtures.spec.ts';
import { HistoryIndex } from './history.ts';
import { compilePolicySet } from './policy-set.ts';
import type { LoadedPolicySet } from './policy-set.ts';
import type { DecisionRequest } from './types.ts';

const POLICIES = fileURLToPath(new URL('../../../policies', import.meta.url));
const BASE_IDS = ['refund-up-to-100-support', 'read-tools-allowed', 'customer-delete-forbidden', 'managers-approve-in-own-tenant'] as const;
const QUOTA_ID = 'at-most-3-refunds-per-customer-per-day';
const QUOTA_DEFINITION = 'refunds_to_customer_today = count refunds.issue same arguments.customer_id within 24h';
const QUOTA = `@id("${QUOTA_ID}")
@history("${QUOTA_DEFINITION}")
forbid (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue")
when { context.history has refunds_to_customer_today && context.history.refunds_to_customer_today >= 3 };`;

const HOUR = 3_600_000;
const T0 = Date.UTC(2025, 0, 6, 9);

/** A refund the base set allows (support role, ticket tagged refund_approved, at most $100), to a customer. */
const refund = (amountCents: number, customerId: string, extra: Partial<DecisionRequest> = {}): DecisionRequest =>
  refundRequest(amountCents, extra, { customer_id: customerId });

let schemaText: string;
let basePolicies: Record<string, string>;

beforeAll(async () => {
  schemaText = await readFile(`${POLICIES}/writ.cedarschema`, 'utf8');
  basePolicies = Object.fromEntries(await Promise.all(BASE_IDS.map(async (id) => [id, await readFile(`${POLICIES}/${id}.cedar`, 'utf8')] as const)));
});

function compile(policies: Record<string, string>, schema = schemaText): LoadedPolicySet {
  return compilePolicySet({ schemaText: schema, policies: { ...basePolicies, ...policies } });
}

/** The support refund permit with an @history annotation: a fact that no policy reads, only defines. */
function permitDefining(annotation: string): Record<string, string> {
  const id = 'refund-up-to-100-support';
  return { [id]: (basePolicies[id] ?? '').replace(`@id("${id}")`, `@id("${id}")\n@history("${annotation}")`) };
}

/** The schema with its History record replaced. */
function schemaWithHistory(attributes: string): string {
  const replaced = schemaText.replace(/type History = \{[^}]*\};/, `type History = { ${attributes} };`);
  expect(replaced).not.toBe(schemaText);
  return replaced;
}

describe('history facts in a decision point', () => {
  let set: LoadedPolicySet;
  let pdp: DecisionPoint;
  beforeAll(() => {
    set = compile({ [QUOTA_ID]: QUOTA });
    pdp = createDecisionPoint(set);
  });

  it('collects the facts the policies define, in metadata and in the decision point', () => {
    const expected = {
      name: 'refunds_to_customer_today',
      operation: 'count',
      tools: ['refunds.issue'],
      statuses: ['allowed', 'pending'],
      same: ['arguments.customer_id'],
      withinMs: 24 * HOUR,
      text: 'count refunds.issue where allowed|pending same arguments.customer_id within 1d',
    };
    expect(set.metadata[QUOTA_ID]?.history).toEqual([expected]);
    expect(set.metadata['refund-up-to-100-support']).not.toHaveProperty('history');
    expect(set.history).toEqual([expected]);
    expect(pdp.history).toEqual([expected]);
  });

  it('allows a $25 refund with 2 refunds to the customer before it, and denies it with 3, naming the quota', () => {
    expect(pdp.decide(refund(2_500, 'C-1', { history: { refunds_to_customer_today: 2 } }))).toMatchObject({
      decision: 'allow',
      determiningPolicies: ['refund-up-to-100-support'],
      errors: [],
    });
    expect(pdp.decide(refund(2_500, 'C-1', { history: { refunds_to_customer_today: 3 } }))).toMatchObject({
      decision: 'deny',
      determiningPolicies: [QUOTA_ID],
      errors: [],
    });
    expect(pdp.decide(refund(2_500, 'C-1', { history: { refunds_to_customer_today: 40 } })).decision).toBe('deny');
  });

  it('applies the zero of a fact the request carries no value for', () => {
    expect(pdp.decide(refund(2_500, 'C-1')).decision).toBe('allow');
    expect(pdp.decide(refund(2_500, 'C-1', { history: {} })).decision).toBe('allow');
    // A value for a name no policy defines is not the fact's.
    expect(pdp.decide(refund(2_500, 'C-1', { history: { refunded_by_agent_last_hour: 9 } })).decision).toBe('allow');
  });

  it('refuses a value of the wrong type, naming the fact', () => {
    const asText = thrown(() => pdp.decide(refund(2_500, 'C-1', { history: { refunds_to_customer_today: '3' } })));
    expect(asText).toMatchObject({ code: 'POLICY_REQUEST_INVALID', field: 'history.refunds_to_customer_today' });
    expect(asText.rule).toContain('whole number');
    for (const bad of [2.5, true, 2 ** 60]) {
      expect(thrown(() => pdp.decide(refund(2_500, 'C-1', { history: { refunds_to_customer_today: bad } }))).field).toBe('history.refunds_to_customer_today');
    }
    const notAnObject = thrown(() => pdp.decide(refund(2_500, 'C-1', { history: 'three' as never })));
    expect(notAnObject).toMatchObject({ code: 'POLICY_REQUEST_INVALID', field: 'history' });
  });

  it('checks a Bool fact (formerly) as a boolean, and lets a policy read it', () => {
    const readFirst = `@id("read-the-ticket-first")
@history("ticket_read_in_run = formerly tickets.read same run within 1h")
forbid (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue")
when { context.history has ticket_read_in_run && !context.history.ticket_read_in_run };`;
    const point = createDecisionPoint(compile({ 'read-the-ticket-first': readFirst }));
    expect(point.history.map((f) => [f.name, f.operation])).toEqual([['ticket_read_in_run', 'formerly']]);
    expect(point.decide(refund(2_500, 'C-1')).determiningPolicies).toEqual(['read-the-ticket-first']);
    expect(point.decide(refund(2_500, 'C-1', { history: { ticket_read_in_run: true } })).decision).toBe('allow');
    expect(thrown(() => point.decide(refund(2_500, 'C-1', { history: { ticket_read_in_run: 1 } }))).field).toBe('history.ticket_read_in_run');
  });

  it('decides on a schema declaring history when no policy defines a fact: the declared names are absent', () => {
    const reader = `@id("quota-without-fact")
forbid (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue")
when { context.history has refunds_to_customer_today && context.history.refunds_to_customer_today >= 3 };`;
    const point = createDecisionPoint(compile({ 'quota-without-fact': reader }));
    expect(point.history).toEqual([]);
    // Without a fact the PDP puts nothing in context.history, whatever the request says.
    expect(point.decide(refund(2_500, 'C-1', { history: { refunds_to_customer_today: 5 } })).decision).toBe('allow');
  });
});

describe('the schema must fit the history facts', () => {
  function refusal(set: () => LoadedPolicySet): WritError {
    const error = thrown(() => createDecisionPoint(set()));
    expect(error.code).toBe('POLICY_SET_INVALID');
    return error;
  }

  it('refuses a fact the schema does not declare, naming it', () => {
    const error = refusal(() => compile(permitDefining('orders_today = count orders.create within 24h')));
    expect(error.message).toContain('lacks context.history.orders_today');
    expect(error.message).toContain('declare orders_today: Long');
  });

  it('refuses a fact whose declared type differs, naming it and both types', () => {
    const formerlyAsLong = refusal(() => compile(permitDefining('refunds_to_customer_today = formerly refunds.issue within 24h')));
    expect(formerlyAsLong.message).toContain('declares context.history.refunds_to_customer_today as Long, but its fact (formerly) is a Boolean');
    const countAsBool = refusal(() => compile(permitDefining('ticket_read_in_run = count tickets.read within 1h')));
    expect(countAsBool.message).toContain('declares context.history.ticket_read_in_run as Boolean, but its fact (count) is a Long');
    const decisionAsLong = refusal(() => compile(permitDefining('refunded_by_agent_last_hour = last_decision refunds.issue within 1h')));
    expect(decisionAsLong.message).toContain('context.history.refunded_by_agent_last_hour as Long, but its fact (last_decision) is a String');
  });

  it('refuses a required schema attribute that no fact defines, naming it', () => {
    const schema = schemaWithHistory('refunds_to_customer_today?: Long, refunded_by_agent_last_hour: Long');
    const error = refusal(() => compile({ [QUOTA_ID]: QUOTA }, schema));
    expect(error.message).toContain('declares context.history.refunded_by_agent_last_hour as required, but no policy defines it');
    // Defined, the required attribute is fine.
    const defined = compile({ [QUOTA_ID]: QUOTA, ...permitDefining('refunded_by_agent_last_hour = count refunds.issue same agent within 1h') }, schema);
    expect(createDecisionPoint(defined).history.map((f) => f.name)).toEqual(['refunded_by_agent_last_hour', 'refunds_to_customer_today']);
  });

  it('refuses a schema without a history attribute while a fact is defined, naming the fact', () => {
    const schema = schemaText.replace(/\n\s*history: History,/, '');
    expect(schema).not.toBe(schemaText);
    const error = refusal(() => compile(permitDefining(QUOTA_DEFINITION), schema));
    expect(error.message).toContain('lacks the invoke context attribute "history"');
    expect(error.message).toContain('refunds_to_customer_today');
    // Without any fact, such a schema is fine.
    expect(createDecisionPoint(compile({}, schema)).decide(refund(2_500, 'C-1')).decision).toBe('allow');
  });

  it('refuses two policies defining one name differently, naming both; the same definition spelled otherwise is one fact', () => {
    const other = 'refunds_to_customer_today = count refunds.issue same arguments.customer_id within 12h';
    const error = thrown(() => compile({ [QUOTA_ID]: QUOTA, ...permitDefining(other) }));
    expect(error.code).toBe('POLICY_SET_INVALID');
    expect(error.message).toContain('history fact "refunds_to_customer_today" is defined by');
    expect(error.message).toContain(QUOTA_ID);
    expect(error.message).toContain('refund-up-to-100-support');
    const same = 'refunds_to_customer_today = count refunds.issue where pending|allowed same arguments.customer_id within 1440m';
    const set = compile({ [QUOTA_ID]: QUOTA, ...permitDefining(same) });
    expect(set.history).toHaveLength(1);
    expect(set.history[0]?.text).toBe('count refunds.issue where allowed|pending same arguments.customer_id within 1d');
  });

  it('refuses an annotation that does not parse, naming the policy and the rule', () => {
    const error = thrown(() => compile(permitDefining('refunds_to_customer_today = count refunds.issue within 40d')));
    expect(error.code).toBe('POLICY_SET_INVALID');
    expect(error.message).toContain('refund-up-to-100-support');
    expect(error.message).toContain('@history: refunds_to_customer_today: window "40d" must be N s|m|h|d, at most 31d');
  });
});

describe('backtest with history facts', () => {
  let base: LoadedPolicySet;
  let candidate: DecisionPoint;
  beforeAll(() => {
    base = compile({});
    candidate = createDecisionPoint(compile({ [QUOTA_ID]: QUOTA }));
  });

  /** A refund allowed by the base set, recorded as the PDP records it (its request without history). */
  function recorded(n: number, customerId: string, over: Partial<RecordedDecision> = {}): RecordedDecision {
    return {
      actionId: `act-${n}`,
      runId: 'run-1',
      tenant: 'acme',
      tool: 'refunds.issue',
      occurredAt: T0 + n * HOUR,
      decision: 'allow',
      determiningPolicies: ['refund-up-to-100-support'],
      policySetHash: base.hash,
      request: refund(2_500, customerId),
      ...over,
    };
  }

  const fourRefunds = (): RecordedDecision[] => [1, 2, 3, 4].map((n) => recorded(n, 'C-1'));

  it('the base set replayed on its own records changes nothing', () => {
    const report = backtest(fourRefunds(), createDecisionPoint(base));
    expect(report).toMatchObject({ total: 4, replayed: 4, changed: 0, reasonChanged: 0 });
  });

  it('denies the 4th refund to one customer, and only it, computing the count from the records before it', () => {
    const records = [...fourRefunds(), recorded(5, 'C-2')];
    const report = backtest(records, candidate);
    expect(report).toMatchObject({ total: 5, replayed: 5, unchanged: 4, changed: 1, transitions: { 'allow->deny': 1 } });
    expect(report.examples).toEqual([expect.objectContaining({ actionId: 'act-4', recorded: 'allow', candidate: 'deny', candidatePolicies: [QUOTA_ID] })]);
    expect(report.byPolicy[QUOTA_ID]).toMatchObject({ changed: 1 });
  });

  it('feeds the history with what was decided then: a refund recorded as denied does not count', () => {
    const records = fourRefunds().map((r) => (r.actionId === 'act-2' ? { ...r, decision: 'deny' as const, determiningPolicies: [] } : r));
    const report = backtest(records, candidate);
    // act-2 is deny->allow (the candidate allows what was denied then), act-4 saw only two refunds before it.
    expect(report.transitions).toEqual({ 'deny->allow': 1 });
  });

  it('with reportFrom, warm-up records only feed the history: the report counts the 4th, and still denies it', () => {
    const report = backtest([...fourRefunds(), recorded(5, 'C-2')], candidate, { reportFrom: T0 + 3 * HOUR + 1 });
    expect(report).toMatchObject({ total: 2, replayed: 2, changed: 1, transitions: { 'allow->deny': 1 } });
    expect(report.examples.map((e) => e.actionId)).toEqual(['act-4']);
    expect(report.byTool['refunds.issue']).toMatchObject({ replayed: 2, changed: 1 });
  });

  it('shares the history between pages through the history option', () => {
    const records = fourRefunds();
    const history = new HistoryIndex(24 * HOUR);
    expect(backtest(records.slice(0, 3), candidate, { history }).changed).toBe(0);
    expect(backtest(records.slice(3), candidate, { history }).transitions).toEqual({ 'allow->deny': 1 });
    // A page on its own knows nothing of the others.
    expect(backtest(records.slice(3), candidate).changed).toBe(0);
  });

  it('keeps a value recorded under the same definition, and recomputes one recorded under another', () => {
    const [quota] = candidate.history;
    expect(quota?.name).toBe('refunds_to_customer_today');
    const withRecorded = (text: string): RecordedDecision[] =>
      fourRefunds().map((r) =>
        r.actionId === 'act-4' && r.request !== undefined
          ? { ...r, request: { ...r.request, history: { refunds_to_customer_today: 0 }, historyFacts: { refunds_to_customer_today: text } } }
          : r,
      );
    const same = backtest(withRecorded(quota?.text ?? ''), candidate);
    expect(same).toMatchObject({ replayed: 4, changed: 0 });
    const other = backtest(withRecorded('count refunds.issue where allowed same arguments.customer_id within 1d'), candidate);
    expect(other).toMatchObject({ replayed: 4, changed: 1, transitions: { 'allow->deny': 1 } });
  });

  it('does not count refunds older than the window', () => {
    const records = [1, 2, 3].map((n) => recorded(n, 'C-1')).concat(recorded(28, 'C-1'));
    expect(backtest(records, candidate).changed).toBe(0);
  });
});
