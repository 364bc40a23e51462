import { describe, expect, it } from 'vitest';
import { HISTORY_ZERO, HistoryIndex, MAX_HISTORY_WINDOW_MS, parseHistoryAnnotation, parseHistoryWindow } from './history.ts';
import type { HistoryDecision, HistoryFact, HistorySubject } from './history.ts';
import type { PolicyDecision } from './types.ts';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2025, 0, 1);

/** The one fact of `name = definition`. */
function fact(definition: string, name = 'fact'): HistoryFact {
  const facts = parseHistoryAnnotation(`${name} = ${definition}`);
  expect(facts).toHaveLength(1);
  return facts[0] as HistoryFact;
}

function parseError(text: string): string {
  try {
    parseHistoryAnnotation(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected "${text}" to be refused`);
}

interface Decided {
  readonly actionId: string;
  readonly at: number;
  readonly decision?: PolicyDecision;
  readonly tenant?: string;
  readonly runId?: string;
  readonly agent?: string;
  readonly tool?: string;
  readonly args?: Record<string, unknown>;
  readonly approvals?: readonly unknown[];
  /** An approver's deny: no request. */
  readonly withoutRequest?: boolean;
}

function decided(d: Decided): HistoryDecision {
  return {
    actionId: d.actionId,
    tenant: d.tenant ?? 'acme',
    runId: d.runId ?? 'run-1',
    occurredAt: d.at,
    decision: d.decision ?? 'allow',
    ...(d.withoutRequest === true
      ? {}
      : {
          request: {
            agent: { id: d.agent ?? 'bot-1' },
            tool: { name: d.tool ?? 'refunds.issue' },
            arguments: d.args ?? {},
            ...(d.approvals === undefined ? {} : { approvals: d.approvals }),
          },
        }),
  };
}

function subject(over: Partial<HistorySubject> = {}): HistorySubject {
  return { actionId: 'subject', tenant: 'acme', runId: 'run-1', agent: 'bot-1', arguments: {}, ...over };
}

function indexWith(...decisions: Decided[]): HistoryIndex {
  const index = new HistoryIndex(31 * DAY);
  for (const d of decisions) index.record(decided(d));
  return index;
}

describe('parseHistoryAnnotation', () => {
  it('parses count with its tools, the keys it compares and its window', () => {
    expect(parseHistoryAnnotation('refunds_to_customer_today = count refunds.issue same arguments.customer_id within 24h')).toEqual([
      {
        name: 'refunds_to_customer_today',
        operation: 'count',
        tools: ['refunds.issue'],
        statuses: ['allowed', 'pending'],
        same: ['arguments.customer_id'],
        withinMs: DAY,
        text: 'count refunds.issue where allowed|pending same arguments.customer_id within 1d',
      },
    ]);
  });

  it('parses sum and count_distinct with the argument they read', () => {
    expect(fact('sum arguments.amount_cents of refunds.issue same agent within 1h')).toMatchObject({
      operation: 'sum',
      field: 'amount_cents',
      tools: ['refunds.issue'],
      same: ['agent'],
      withinMs: HOUR,
      text: 'sum arguments.amount_cents of refunds.issue where allowed|pending same agent within 1h',
    });
    expect(fact('count_distinct arguments.customer_id of refunds.issue within 30m')).toMatchObject({
      operation: 'count_distinct',
      field: 'customer_id',
      withinMs: 30 * MINUTE,
      text: 'count_distinct arguments.customer_id of refunds.issue where allowed|pending within 30m',
    });
  });

  it('parses formerly and last_decision, which read no argument', () => {
    const formerly = fact('formerly tickets.read same run within 2h');
    expect(formerly).toMatchObject({ operation: 'formerly', tools: ['tickets.read'], same: ['run'], withinMs: 2 * HOUR });
    expect(formerly).not.toHaveProperty('field');
    const last = fact('last_decision refunds.issue within 10s');
    expect(last).toMatchObject({
      operation: 'last_decision',
      withinMs: 10 * SECOND,
      text: 'last_decision refunds.issue where allowed|denied|pending within 10s',
    });
    expect(last).not.toHaveProperty('field');
  });

  it('defaults `where` per operation: in-flight actions count towards limits, formerly means allowed, last_decision sees every decision', () => {
    expect(fact('count * within 1h').statuses).toEqual(['allowed', 'pending']);
    expect(fact('sum arguments.amount_cents of * within 1h').statuses).toEqual(['allowed', 'pending']);
    expect(fact('count_distinct arguments.customer_id of * within 1h').statuses).toEqual(['allowed', 'pending']);
    expect(fact('formerly * within 1h').statuses).toEqual(['allowed']);
    expect(fact('last_decision * within 1h').statuses).toEqual(['allowed', 'denied', 'pending']);
  });

  it('takes the statuses `where` lists, in a fixed order, with decided expanding to allowed, denied and pending', () => {
    expect(fact('count * where denied within 1h').statuses).toEqual(['denied']);
    expect(fact('count * where approved|denied within 1h').statuses).toEqual(['denied', 'approved']);
    expect(fact('count * where decided within 1h').statuses).toEqual(['allowed', 'denied', 'pending']);
    expect(fact('count * where approved|decided|allowed within 1h').statuses).toEqual(['allowed', 'denied', 'pending', 'approved']);
    expect(fact('formerly * where approved within 1h').text).toBe('formerly * where approved within 1h');
  });

  it('sorts and deduplicates the `same` keys', () => {
    expect(fact('count * same run,arguments.customer_id,agent,run within 1h').same).toEqual(['agent', 'arguments.customer_id', 'run']);
    expect(fact('count * same run same agent within 1h').same).toEqual(['agent', 'run']);
    expect(fact('count * within 1h').same).toEqual([]);
  });

  it('sorts and deduplicates the tools; * is every tool', () => {
    expect(fact('count tickets.read|refunds.issue|tickets.read within 1h').tools).toEqual(['refunds.issue', 'tickets.read']);
    expect(fact('count * within 1h').tools).toEqual([]);
    expect(fact('count * within 1h').text).toBe('count * where allowed|pending within 1h');
  });

  it('reads windows in seconds, minutes, hours and days, up to 31 days', () => {
    expect(fact('count * within 45s').withinMs).toBe(45 * SECOND);
    expect(fact('count * within 15m').withinMs).toBe(15 * MINUTE);
    expect(fact('count * within 36h').withinMs).toBe(36 * HOUR);
    expect(fact('count * within 7d').withinMs).toBe(7 * DAY);
    expect(fact('count * within 31d').withinMs).toBe(MAX_HISTORY_WINDOW_MS);
    expect(fact('count * within 744h').withinMs).toBe(31 * DAY);
    expect(parseHistoryWindow('24h')).toBe(DAY);
    for (const bad of ['0s', '1w', '1.5h', '-1h', 'h', '24', '1000000s']) expect(parseHistoryWindow(bad)).toBeUndefined();
  });

  it('gives two spellings of one definition the same normal text', () => {
    const a = fact('count refunds.issue same arguments.customer_id within 24h');
    const b = fact('count   refunds.issue|refunds.issue   where pending|allowed  same arguments.customer_id,arguments.customer_id   within 1440m');
    expect(b.text).toBe(a.text);
    expect(fact('count * where decided within 60m').text).toBe(fact('count * where pending|denied|allowed within 3600s').text);
    expect(fact('count * within 90m').text).toBe('count * where allowed|pending within 90m');
    expect(fact('count * within 90s').text).toBe('count * where allowed|pending within 90s');
    // A different definition is a different text.
    expect(fact('count refunds.issue same arguments.customer_id within 23h').text).not.toBe(a.text);
    expect(fact('count refunds.issue where allowed same arguments.customer_id within 24h').text).not.toBe(a.text);
    expect(fact('count refunds.issue within 24h').text).not.toBe(a.text);
  });

  it('reads several facts separated by ;, ignoring empty ones', () => {
    const facts = parseHistoryAnnotation(' refunds_today = count refunds.issue within 24h ; ticket_read = formerly tickets.read same run within 1h; ');
    expect(facts.map((f) => [f.name, f.operation])).toEqual([
      ['refunds_today', 'count'],
      ['ticket_read', 'formerly'],
    ]);
  });

  it('refuses a bad name, naming the rule', () => {
    expect(parseError('Refunds = count * within 1h')).toBe('fact name "Refunds" must be 1-64 lower-case letters, digits or _ starting with a letter');
    expect(parseError('1refunds = count * within 1h')).toContain('fact name "1refunds"');
    expect(parseError(`${'a'.repeat(65)} = count * within 1h`)).toContain('must be 1-64 lower-case letters');
    expect(parseError('count * within 1h')).toBe('"count * within 1h" must be NAME = DEFINITION');
    expect(parseError('a = count * within 1h = 2')).toContain('must be NAME = DEFINITION');
  });

  it('refuses an empty annotation, showing the grammar', () => {
    expect(parseError('')).toMatch(/^@history is empty: NAME = count TOOLS/);
    expect(parseError(' ; ')).toMatch(/^@history is empty/);
  });

  it('refuses an unknown operation, naming the fact and the operations', () => {
    expect(parseError('refunds = average refunds.issue within 1h')).toBe(
      'refunds: "average" is not an operation (count, sum, count_distinct, formerly, last_decision)',
    );
    expect(parseError('refunds = ')).toContain('refunds: "" is not an operation');
  });

  it('refuses sum or count_distinct without arguments.NAME and "of"', () => {
    expect(parseError('spent = sum arguments.amount_cents refunds.issue within 1h')).toBe(
      'spent: expected "of" after arguments.amount_cents, found "refunds.issue"',
    );
    expect(parseError('spent = sum amount_cents of refunds.issue within 1h')).toBe('spent: "amount_cents" must be arguments.NAME');
    expect(parseError('spent = count_distinct arguments.customer-id of * within 1h')).toBe('spent: "arguments.customer-id" must be arguments.NAME');
    expect(parseError('spent = sum arguments.amount_cents')).toBe('spent: expected "of" at the end');
  });

  it('refuses a bad tool name', () => {
    expect(parseError('n = count refunds/issue within 1h')).toBe('n: "refunds/issue" is not a tool name');
    expect(parseError('n = count refunds.issue| within 1h')).toBe('n: "" is not a tool name');
    expect(parseError('n = count *|refunds.issue within 1h')).toBe('n: "*" is not a tool name');
    expect(parseError('n = count')).toBe('n: expected the tools (a|b, or *) at the end');
  });

  it('refuses an unknown status', () => {
    expect(parseError('n = count * where allowed|refused within 1h')).toBe('n: "refused" is not a status (allowed, denied, pending, approved, decided)');
    expect(parseError('n = count * where within 1h')).toContain('n: "within" is not a status');
  });

  it('refuses a bad key', () => {
    expect(parseError('n = count * same customer_id within 1h')).toBe('n: "customer_id" must be arguments.NAME');
    expect(parseError('n = count * same agent,tenant within 1h')).toBe('n: "tenant" must be arguments.NAME');
  });

  it('refuses a fact without a window, or with one over 31 days or not a duration', () => {
    expect(parseError('n = count refunds.issue same agent')).toBe('n: a fact needs a window: within N(s|m|h|d)');
    expect(parseError('n = count * within 32d')).toBe('n: window "32d" must be N s|m|h|d, at most 31d');
    expect(parseError('n = count * within 745h')).toContain('at most 31d');
    expect(parseError('n = count * within 1w')).toBe('n: window "1w" must be N s|m|h|d, at most 31d');
    expect(parseError('n = count * within')).toBe('n: expected a window such as 24h at the end');
  });

  it('refuses trailing junk', () => {
    expect(parseError('n = count * within 1h please')).toBe('n: unexpected "please" (where, same or within)');
    expect(parseError('n = count * within 1h where')).toBe('n: expected statuses at the end');
    expect(parseError('n = count * same')).toBe('n: expected keys at the end');
  });
});

describe('HistoryIndex', () => {
  const refundsPerCustomer = fact('count refunds.issue same arguments.customer_id within 24h');

  it('refuses a horizon that is not a positive whole number of milliseconds', () => {
    expect(() => new HistoryIndex(0)).toThrow(RangeError);
    expect(() => new HistoryIndex(1.5)).toThrow(RangeError);
    expect(new HistoryIndex(DAY).horizonMs).toBe(DAY);
  });

  it('counts the actions within the window: one exactly at now - window is out, one just inside is in, a later one is out', () => {
    const now = T0 + 2 * DAY;
    const count = fact('count * within 24h');
    const index = indexWith({ actionId: 'edge', at: now - DAY });
    expect(index.value(count, subject(), now)).toBe(0);
    index.record(decided({ actionId: 'inside', at: now - DAY + 1 }));
    expect(index.value(count, subject(), now)).toBe(1);
    index.record(decided({ actionId: 'at-now', at: now }));
    expect(index.value(count, subject(), now)).toBe(2);
    // Asked earlier, the window moves: what came after the time asked does not count, what fell out of it comes back in.
    expect(index.value(count, subject(), now - 1)).toBe(2);
    expect(index.value(count, subject(), now - DAY)).toBe(1);
    expect(index.value(count, subject(), now - DAY - 1)).toBe(0);
  });

  it('gives each fact its zero when nothing matches', () => {
    const index = new HistoryIndex(DAY);
    for (const definition of [
      'count * within 1h',
      'sum arguments.amount_cents of * within 1h',
      'count_distinct arguments.customer_id of * within 1h',
      'formerly * within 1h',
      'last_decision * within 1h',
    ]) {
      const f = fact(definition);
      expect(index.value(f, subject(), T0)).toBe(HISTORY_ZERO[f.operation]);
    }
    expect(HISTORY_ZERO).toEqual({ count: 0, sum: 0, count_distinct: 0, formerly: false, last_decision: 'none' });
  });

  it('never counts the action being decided', () => {
    const count = fact('count * within 1h');
    const index = indexWith({ actionId: 'a1', at: T0, decision: 'approval_required' }, { actionId: 'a2', at: T0 + 1 });
    expect(index.value(count, subject({ actionId: 'a1' }), T0 + 2)).toBe(1);
    expect(index.value(count, subject({ actionId: 'a3' }), T0 + 2)).toBe(2);
  });

  it('compares by the same agent', () => {
    const perAgent = fact('count * same agent within 1h');
    const index = indexWith({ actionId: 'a1', at: T0, agent: 'bot-1' }, { actionId: 'a2', at: T0, agent: 'bot-2' }, { actionId: 'a3', at: T0, agent: 'bot-1' });
    expect(index.value(perAgent, subject({ agent: 'bot-1' }), T0 + 1)).toBe(2);
    expect(index.value(perAgent, subject({ agent: 'bot-2' }), T0 + 1)).toBe(1);
    expect(index.value(perAgent, subject({ agent: 'bot-3' }), T0 + 1)).toBe(0);
    expect(index.value(fact('count * within 1h'), subject({ agent: 'bot-3' }), T0 + 1)).toBe(3);
  });

  it('compares by the same run', () => {
    const perRun = fact('count * same run within 1h');
    const index = indexWith({ actionId: 'a1', at: T0, runId: 'run-1' }, { actionId: 'a2', at: T0, runId: 'run-2' });
    expect(index.value(perRun, subject({ runId: 'run-1' }), T0 + 1)).toBe(1);
    expect(index.value(perRun, subject({ runId: 'run-3' }), T0 + 1)).toBe(0);
  });

  it('compares by an argument: an absent argument only matches others where it is absent', () => {
    const index = indexWith(
      { actionId: 'a1', at: T0, args: { customer_id: 'C-1' } },
      { actionId: 'a2', at: T0, args: { customer_id: 'C-1', amount_cents: 5 } },
      { actionId: 'a3', at: T0, args: { customer_id: 'C-2' } },
      { actionId: 'a4', at: T0, args: {} },
      // A number is not the string of its digits.
      { actionId: 'a5', at: T0, args: { customer_id: 1 } },
      // An empty string is a value, not an absence.
      { actionId: 'a6', at: T0, args: { customer_id: '' } },
    );
    const now = T0 + 1;
    expect(index.value(refundsPerCustomer, subject({ arguments: { customer_id: 'C-1' } }), now)).toBe(2);
    expect(index.value(refundsPerCustomer, subject({ arguments: { customer_id: 'C-2' } }), now)).toBe(1);
    expect(index.value(refundsPerCustomer, subject({ arguments: {} }), now)).toBe(1);
    expect(index.value(refundsPerCustomer, subject({ arguments: { customer_id: '1' } }), now)).toBe(0);
    expect(index.value(refundsPerCustomer, subject({ arguments: { customer_id: 1 } }), now)).toBe(1);
    expect(index.value(refundsPerCustomer, subject({ arguments: { customer_id: '' } }), now)).toBe(1);
  });

  it('compares by several keys at once', () => {
    const both = fact('count * same agent,arguments.customer_id within 1h');
    const index = indexWith(
      { actionId: 'a1', at: T0, agent: 'bot-1', args: { customer_id: 'C-1' } },
      { actionId: 'a2', at: T0, agent: 'bot-2', args: { customer_id: 'C-1' } },
      { actionId: 'a3', at: T0, agent: 'bot-1', args: { customer_id: 'C-2' } },
    );
    expect(index.value(both, subject({ agent: 'bot-1', arguments: { customer_id: 'C-1' } }), T0 + 1)).toBe(1);
  });

  it('always separates tenants, even without a `same` key', () => {
    const count = fact('count * within 1h');
    const index = indexWith(
      { actionId: 'a1', at: T0, tenant: 'acme' },
      { actionId: 'a2', at: T0, tenant: 'globex' },
      { actionId: 'a3', at: T0, tenant: 'globex' },
    );
    expect(index.value(count, subject({ tenant: 'acme' }), T0 + 1)).toBe(1);
    expect(index.value(count, subject({ tenant: 'globex' }), T0 + 1)).toBe(2);
    expect(index.value(refundsPerCustomer, subject({ tenant: 'initech' }), T0 + 1)).toBe(0);
  });

  it('counts only the tools a fact names', () => {
    const index = indexWith(
      { actionId: 'a1', at: T0, tool: 'refunds.issue' },
      { actionId: 'a2', at: T0, tool: 'tickets.read' },
      { actionId: 'a3', at: T0, tool: 'customers.delete' },
    );
    expect(index.value(fact('count refunds.issue within 1h'), subject(), T0 + 1)).toBe(1);
    expect(index.value(fact('count refunds.issue|tickets.read within 1h'), subject(), T0 + 1)).toBe(2);
    expect(index.value(fact('count * within 1h'), subject(), T0 + 1)).toBe(3);
    expect(index.value(fact('count orders.create within 1h'), subject(), T0 + 1)).toBe(0);
  });

  it('counts by status: allowed and pending by default, denied only when asked', () => {
    const index = indexWith(
      { actionId: 'allowed', at: T0, decision: 'allow' },
      { actionId: 'pending', at: T0, decision: 'approval_required' },
      { actionId: 'denied', at: T0, decision: 'deny' },
    );
    const now = T0 + 1;
    expect(index.value(fact('count * within 1h'), subject(), now)).toBe(2);
    expect(index.value(fact('count * where allowed within 1h'), subject(), now)).toBe(1);
    expect(index.value(fact('count * where pending within 1h'), subject(), now)).toBe(1);
    expect(index.value(fact('count * where denied within 1h'), subject(), now)).toBe(1);
    expect(index.value(fact('count * where decided within 1h'), subject(), now)).toBe(3);
    expect(index.value(fact('formerly * within 1h'), subject(), now)).toBe(true);
    expect(index.value(fact('formerly * where denied|pending within 1h'), subject(), now)).toBe(true);
  });

  it('counts a pending action later allowed once, and as allowed from the time it was allowed', () => {
    const index = indexWith({ actionId: 'a1', at: T0, decision: 'approval_required' }, { actionId: 'a1', at: T0 + 10 * MINUTE, decision: 'allow' });
    expect(index.size).toBe(1);
    expect(index.value(fact('count * within 1h'), subject(), T0 + 20 * MINUTE)).toBe(1);
    expect(index.value(fact('count * where allowed within 1h'), subject(), T0 + 20 * MINUTE)).toBe(1);
    // Before it was allowed it was only pending.
    expect(index.value(fact('count * where allowed within 1h'), subject(), T0 + 5 * MINUTE)).toBe(0);
    expect(index.value(fact('count * where pending within 1h'), subject(), T0 + 5 * MINUTE)).toBe(1);
    // The allow is within 1h of T0 + 65 min, the pending decision is not.
    expect(index.value(fact('count * where pending within 1h'), subject(), T0 + 65 * MINUTE)).toBe(0);
    expect(index.value(fact('count * within 1h'), subject(), T0 + 65 * MINUTE)).toBe(1);
    expect(index.value(fact('last_decision * within 1h'), subject(), T0 + 20 * MINUTE)).toBe('allow');
  });

  it("records an approver's deny (no request) on the action it already keeps, and ignores one of an action it does not keep", () => {
    const index = indexWith(
      { actionId: 'a1', at: T0, decision: 'approval_required' },
      { actionId: 'a1', at: T0 + MINUTE, decision: 'deny', withoutRequest: true },
      { actionId: 'unknown', at: T0 + MINUTE, decision: 'deny', withoutRequest: true },
    );
    expect(index.size).toBe(1);
    const now = T0 + 2 * MINUTE;
    expect(index.value(fact('count * where denied within 1h'), subject(), now)).toBe(1);
    expect(index.value(fact('last_decision * within 1h'), subject(), now)).toBe('deny');
    expect(index.value(fact('count * where allowed within 1h'), subject(), now)).toBe(0);
    // Its arguments are those of the request it was first decided on.
    expect(index.value(fact('count * where denied same agent within 1h'), subject({ agent: 'bot-1' }), now)).toBe(1);
    expect(index.value(fact('count * where denied same agent within 1h'), subject({ agent: 'bot-2' }), now)).toBe(0);
  });

  it('gives an action the approved status only when it is allowed on a request carrying approvals', () => {
    const approved = fact('count * where approved within 1h');
    const index = indexWith(
      { actionId: 'plain', at: T0, decision: 'allow' },
      { actionId: 'gated', at: T0, decision: 'approval_required' },
      { actionId: 'gated', at: T0 + 1, decision: 'allow', approvals: [{ approverId: 'mia', role: 'manager' }] },
      { actionId: 'empty', at: T0, decision: 'allow', approvals: [] },
      { actionId: 'denied', at: T0, decision: 'deny', approvals: [{ approverId: 'mia', role: 'manager' }] },
    );
    expect(index.value(approved, subject(), T0 + 2)).toBe(1);
    expect(index.value(fact('formerly * where approved within 1h'), subject(), T0 + 2)).toBe(true);
    expect(index.value(fact('formerly * where approved within 1h'), subject({ tenant: 'globex' }), T0 + 2)).toBe(false);
    expect(index.value(fact('count * where allowed within 1h'), subject(), T0 + 2)).toBe(3);
  });

  it('sums an integer argument, ignoring values that are not safe integers', () => {
    const spent = fact('sum arguments.amount_cents of refunds.issue same agent within 1h');
    const index = indexWith(
      { actionId: 'a1', at: T0, args: { amount_cents: 2_500 } },
      { actionId: 'a2', at: T0, args: { amount_cents: 1_000 } },
      { actionId: 'a3', at: T0, args: { amount_cents: '700' } },
      { actionId: 'a4', at: T0, args: { amount_cents: 12.5 } },
      { actionId: 'a5', at: T0, args: { amount_cents: 2 ** 60 } },
      { actionId: 'a6', at: T0, args: {} },
      { actionId: 'a7', at: T0, args: { amount_cents: 9_000 }, decision: 'deny' },
      { actionId: 'a8', at: T0, args: { amount_cents: 300 }, decision: 'approval_required' },
      { actionId: 'a9', at: T0, args: { amount_cents: 40 }, agent: 'bot-2' },
      { actionId: 'a10', at: T0, args: { amount_cents: 50 }, tool: 'payments.send' },
    );
    expect(index.value(spent, subject(), T0 + 1)).toBe(2_500 + 1_000 + 300);
    expect(index.value(spent, subject({ agent: 'bot-2' }), T0 + 1)).toBe(40);
  });

  it('counts the distinct values of an argument, an absent one not being a value', () => {
    const customers = fact('count_distinct arguments.customer_id of refunds.issue within 1h');
    const index = indexWith(
      { actionId: 'a1', at: T0, args: { customer_id: 'C-1' } },
      { actionId: 'a2', at: T0, args: { customer_id: 'C-1' } },
      { actionId: 'a3', at: T0, args: { customer_id: 'C-2' } },
      { actionId: 'a4', at: T0, args: { customer_id: 2 } },
      { actionId: 'a5', at: T0, args: {} },
      { actionId: 'a6', at: T0, args: { customer_id: 'C-9' }, decision: 'deny' },
      // The string "2" is another value than the number 2.
      { actionId: 'a7', at: T0, args: { customer_id: '2' } },
    );
    expect(index.value(customers, subject(), T0 + 1)).toBe(4);
    expect(index.value(customers, subject(), T0 + HOUR)).toBe(0);
  });

  it('answers formerly: whether a matching action happened within the window', () => {
    const ticketRead = fact('formerly tickets.read same run within 1h');
    const index = indexWith({ actionId: 'read', at: T0, tool: 'tickets.read', runId: 'run-1' });
    expect(index.value(ticketRead, subject({ runId: 'run-1' }), T0 + 1)).toBe(true);
    expect(index.value(ticketRead, subject({ runId: 'run-2' }), T0 + 1)).toBe(false);
    expect(index.value(ticketRead, subject({ runId: 'run-1' }), T0 + HOUR)).toBe(false);
    // A denied read was not a read.
    index.record(decided({ actionId: 'denied-read', at: T0, tool: 'tickets.read', runId: 'run-2', decision: 'deny' }));
    expect(index.value(ticketRead, subject({ runId: 'run-2' }), T0 + 1)).toBe(false);
  });

  it("answers last_decision with the latest matching action's decision, or none", () => {
    const last = fact('last_decision refunds.issue same agent within 1h');
    const index = new HistoryIndex(DAY);
    expect(index.value(last, subject(), T0)).toBe('none');
    index.record(decided({ actionId: 'a1', at: T0, decision: 'allow' }));
    index.record(decided({ actionId: 'a2', at: T0 + MINUTE, decision: 'deny' }));
    expect(index.value(last, subject(), T0 + 2 * MINUTE)).toBe('deny');
    index.record(decided({ actionId: 'a3', at: T0 + 3 * MINUTE, decision: 'approval_required' }));
    expect(index.value(last, subject(), T0 + 4 * MINUTE)).toBe('approval_required');
    // At an earlier time, the later decisions are not history yet.
    expect(index.value(last, subject(), T0 + 30 * SECOND)).toBe('allow');
    // Another agent's decisions are not this one's.
    expect(index.value(last, subject({ agent: 'bot-2' }), T0 + 4 * MINUTE)).toBe('none');
    expect(index.value(fact('last_decision refunds.issue where allowed within 1h'), subject(), T0 + 4 * MINUTE)).toBe('allow');
  });

  it('computes every fact by name with values()', () => {
    const facts = parseHistoryAnnotation('n = count * within 1h; read = formerly tickets.read within 1h; last = last_decision * within 1h');
    const index = indexWith({ actionId: 'a1', at: T0, decision: 'deny' }, { actionId: 'a2', at: T0 + 1, decision: 'allow' });
    expect(index.values(facts, subject(), T0 + 2)).toEqual({ n: 1, read: false, last: 'allow' });
  });

  it('backfills a fact first asked after entries were recorded, and keeps it up to date afterwards', () => {
    const index = indexWith({ actionId: 'a1', at: T0, args: { customer_id: 'C-1' } }, { actionId: 'a2', at: T0 + 1, args: { customer_id: 'C-1' } });
    const late = fact('count refunds.issue same arguments.customer_id within 1h');
    expect(index.value(late, subject({ arguments: { customer_id: 'C-1' } }), T0 + 2)).toBe(2);
    index.record(decided({ actionId: 'a3', at: T0 + 2, args: { customer_id: 'C-1' } }));
    index.record(decided({ actionId: 'a4', at: T0 + 2, args: { customer_id: 'C-1' }, tool: 'tickets.read' }));
    expect(index.value(late, subject({ arguments: { customer_id: 'C-1' } }), T0 + 3)).toBe(3);
    // A second fact with another definition is grouped on its own keys.
    const perAgent = fact('count * same agent within 1h');
    expect(index.value(perAgent, subject({ arguments: { customer_id: 'C-2' } }), T0 + 3)).toBe(4);
  });

  it('changes nothing when the same decision is delivered again', () => {
    const index = new HistoryIndex(DAY);
    const once = [
      decided({ actionId: 'a1', at: T0, decision: 'approval_required', args: { amount_cents: 100 } }),
      decided({ actionId: 'a1', at: T0 + MINUTE, decision: 'allow', args: { amount_cents: 100 }, approvals: [{ approverId: 'mia', role: 'manager' }] }),
      decided({ actionId: 'a2', at: T0 + 30 * SECOND, decision: 'allow', args: { amount_cents: 40 } }),
    ];
    for (const d of once) index.record(d);
    const facts = parseHistoryAnnotation(
      'n = count * where decided|approved within 1h; spent = sum arguments.amount_cents of * within 1h; last = last_decision * within 1h; approved = count * where approved within 1h',
    );
    const before = index.values(facts, subject(), T0 + 2 * MINUTE);
    expect(before).toEqual({ n: 2, spent: 140, last: 'allow', approved: 1 });
    // Redelivered, even out of order (the pending decision after the allow): still the same.
    for (const d of [once[2], once[1], once[0]]) index.record(d as HistoryDecision);
    expect(index.size).toBe(2);
    expect(index.values(facts, subject(), T0 + 2 * MINUTE)).toEqual(before);
    // a1 was pending and is allowed now: it no longer counts as pending (it did before the allow).
    expect(index.value(fact('count * where pending within 1h'), subject(), T0 + 2 * MINUTE)).toBe(0);
    expect(index.value(fact('count * where pending within 1h'), subject(), T0 + 30 * SECOND)).toBe(1);
  });

  it('counts an action by its status at the time asked: pending then denied by an approver no longer counts as in flight', () => {
    const index = new HistoryIndex(DAY);
    index.record(decided({ actionId: 'a1', at: T0, decision: 'approval_required', args: { amount_cents: 100 } }));
    const limit = fact('count * within 1h');
    expect(index.value(limit, subject(), T0 + MINUTE)).toBe(1);
    index.record(decided({ actionId: 'a1', at: T0 + 2 * MINUTE, decision: 'deny', withoutRequest: true }));
    expect(index.value(limit, subject(), T0 + 3 * MINUTE)).toBe(0);
    expect(index.value(fact('last_decision * within 1h'), subject(), T0 + 3 * MINUTE)).toBe('deny');
    expect(index.value(fact('last_decision * within 1h'), subject(), T0 + MINUTE)).toBe('approval_required');
  });

  it("saturates a sum at the largest safe integer instead of leaving Cedar's Long range", () => {
    const index = new HistoryIndex(DAY);
    index.record(decided({ actionId: 'a1', at: T0, decision: 'allow', args: { amount_cents: Number.MAX_SAFE_INTEGER } }));
    index.record(decided({ actionId: 'a2', at: T0, decision: 'allow', args: { amount_cents: Number.MAX_SAFE_INTEGER } }));
    expect(index.value(fact('sum arguments.amount_cents of * within 1h'), subject(), T0 + MINUTE)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('refuses a second where or within', () => {
    expect(() => parseHistoryAnnotation('n = count t where denied where allowed within 1h')).toThrow('"where" is given twice');
    expect(() => parseHistoryAnnotation('n = count t within 1h within 2h')).toThrow('"within" is given twice');
  });

  it('drops the actions whose latest decision is older than the horizon', () => {
    const index = new HistoryIndex(HOUR);
    index.record(decided({ actionId: 'old', at: T0 }));
    index.record(decided({ actionId: 'gated', at: T0, decision: 'approval_required' }));
    index.record(decided({ actionId: 'gated', at: T0 + 50 * MINUTE, decision: 'allow' }));
    index.record(decided({ actionId: 'recent', at: T0 + 30 * MINUTE }));
    expect(index.size).toBe(3);
    const everything = fact('count * where decided within 31d');
    expect(index.value(everything, subject(), T0 + 50 * MINUTE)).toBe(3);
    index.record(decided({ actionId: 'new', at: T0 + 80 * MINUTE }));
    // "old" (latest at T0) is beyond T0 + 80 min - 1 h; "gated" was decided again within it.
    expect(index.size).toBe(3);
    expect(index.value(everything, subject(), T0 + 80 * MINUTE)).toBe(3);
    index.record(decided({ actionId: 'newer', at: T0 + 3 * HOUR }));
    expect(index.size).toBe(1);
    expect(index.value(everything, subject(), T0 + 3 * HOUR + 1)).toBe(1);
    // A dropped action's later decision without a request tells nothing any more.
    index.record(decided({ actionId: 'recent', at: T0 + 3 * HOUR, decision: 'deny', withoutRequest: true }));
    expect(index.size).toBe(1);
  });
});
