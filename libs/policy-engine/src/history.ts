// Rules over history: facts a policy declares with @history and reads as context.history.<name>,
// computed from the decisions recorded before the one being made (counts, sums, distinct values,
// "formerly", the last decision) over a window. Pure: the index is fed recorded decisions and
// asked at a time it is given, so the PDP (live), a rebuild and a backtest compute the same value
// from the same history. The grammar and its meaning are in policies/README.md ("Rules over history").
import { WritError } from '@writ/errors';
import type { PolicyDecision } from './types.ts';

/** What a fact computes: a Cedar Long (count, sum, count_distinct), Bool (formerly) or String (last_decision). */
export type HistoryOperation = 'count' | 'sum' | 'count_distinct' | 'formerly' | 'last_decision';
/** What happened to an earlier action, as its decisions record it. */
export type HistoryStatus = 'allowed' | 'denied' | 'pending' | 'approved';
export const HISTORY_STATUSES: readonly HistoryStatus[] = ['allowed', 'denied', 'pending', 'approved'];
/** A key an earlier action must share with the one being decided; the tenant is always shared. */
export type HistoryKey = 'agent' | 'run' | `arguments.${string}`;
export type HistoryValue = number | boolean | string;

export interface HistoryFact {
  /** context.history.<name> */
  readonly name: string;
  readonly operation: HistoryOperation;
  /** The tools whose actions count (sorted); empty: every tool. */
  readonly tools: readonly string[];
  /** sum and count_distinct: the argument they read ("amount_cents" for arguments.amount_cents). */
  readonly field?: string;
  readonly statuses: readonly HistoryStatus[];
  readonly same: readonly HistoryKey[];
  readonly withinMs: number;
  /** The definition in its normal form (defaults written out): the fact's identity. */
  readonly text: string;
}

/** The Cedar type of each operation's value. */
export const HISTORY_VALUE_TYPE: Readonly<Record<HistoryOperation, 'Long' | 'Boolean' | 'String'>> = {
  count: 'Long',
  sum: 'Long',
  count_distinct: 'Long',
  formerly: 'Boolean',
  last_decision: 'String',
};

/** A fact's value when nothing in its window matches: what a policy case without history sees too. */
export const HISTORY_ZERO: Readonly<Record<HistoryOperation, HistoryValue>> = {
  count: 0,
  sum: 0,
  count_distinct: 0,
  formerly: false,
  last_decision: 'none',
};

const NAME = /^[a-z][a-z0-9_]{0,63}$/;
const TOOL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const ARGUMENT = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const WINDOW = /^([1-9]\d{0,5})(s|m|h|d)$/;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** The longest window a fact may name; a PDP keeps at most its horizon (WRIT_POLICY_HISTORY_HORIZON_MS) of history. */
export const MAX_HISTORY_WINDOW_MS = 31 * UNIT_MS['d']!;
const DEFAULT_STATUSES: Readonly<Record<HistoryOperation, readonly HistoryStatus[]>> = {
  // In-flight actions count towards a limit (an action waiting for approval may still happen).
  count: ['allowed', 'pending'],
  sum: ['allowed', 'pending'],
  count_distinct: ['allowed', 'pending'],
  formerly: ['allowed'],
  last_decision: ['allowed', 'denied', 'pending'],
};

export const HISTORY_GRAMMAR =
  'NAME = count TOOLS | sum ARG of TOOLS | count_distinct ARG of TOOLS | formerly TOOLS | last_decision TOOLS, then [where STATUS|STATUS] [same KEY,KEY] within N(s|m|h|d); TOOLS: a|b or *; ARG: arguments.NAME; STATUS: allowed, denied, pending, approved, decided; KEY: agent, run, arguments.NAME';

/** A duration as a fact writes it ("24h") in milliseconds; undefined if it is not one. */
export function parseHistoryWindow(text: string): number | undefined {
  const match = WINDOW.exec(text);
  return match === null ? undefined : Number(match[1]) * (UNIT_MS[match[2] ?? 's'] ?? 0);
}

function windowText(ms: number): string {
  for (const unit of ['d', 'h', 'm'] as const) {
    const size = UNIT_MS[unit] ?? 1;
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms / 1_000}s`;
}

function normalText(fact: Omit<HistoryFact, 'text' | 'name'>): string {
  const tools = fact.tools.length === 0 ? '*' : fact.tools.join('|');
  const head =
    fact.operation === 'sum' || fact.operation === 'count_distinct'
      ? `${fact.operation} arguments.${fact.field ?? ''} of ${tools}`
      : `${fact.operation} ${tools}`;
  const same = fact.same.length === 0 ? '' : ` same ${fact.same.join(',')}`;
  return `${head} where ${fact.statuses.join('|')}${same} within ${windowText(fact.withinMs)}`;
}

/** One fact's definition ("refunds_today = count refunds.issue same arguments.customer_id within 24h"); throws a message naming the rule. */
function parseFact(definition: string): HistoryFact {
  const [left, right, ...more] = definition.split('=');
  if (right === undefined || more.length > 0) throw new Error(`"${definition.trim()}" must be NAME = DEFINITION`);
  const name = (left ?? '').trim();
  if (!NAME.test(name)) throw new Error(`fact name "${name}" must be 1-64 lower-case letters, digits or _ starting with a letter`);
  const words = right.trim().split(/\s+/);
  let at = 0;
  const next = (what: string): string => {
    const word = words[at++];
    if (word === undefined) throw new Error(`${name}: expected ${what} at the end`);
    return word;
  };
  const argument = (word: string): string => {
    const arg = word.startsWith('arguments.') ? word.slice('arguments.'.length) : '';
    if (!ARGUMENT.test(arg)) throw new Error(`${name}: "${word}" must be arguments.NAME`);
    return arg;
  };
  const operation = next('count, sum, count_distinct, formerly or last_decision');
  if (!(operation in HISTORY_VALUE_TYPE)) throw new Error(`${name}: "${operation}" is not an operation (count, sum, count_distinct, formerly, last_decision)`);
  const op = operation as HistoryOperation;
  let field: string | undefined;
  if (op === 'sum' || op === 'count_distinct') {
    field = argument(next('arguments.NAME'));
    const of = next('"of"');
    if (of !== 'of') throw new Error(`${name}: expected "of" after arguments.${field}, found "${of}"`);
  }
  const toolsWord = next('the tools (a|b, or *)');
  const tools = toolsWord === '*' ? [] : [...new Set(toolsWord.split('|'))].sort();
  for (const tool of tools) if (!TOOL.test(tool)) throw new Error(`${name}: "${tool}" is not a tool name`);
  let statuses = DEFAULT_STATUSES[op];
  const same: HistoryKey[] = [];
  let withinMs: number | undefined;
  const used = new Set<string>();
  while (at < words.length) {
    const keyword = next('where, same or within');
    // Keys add up; a second `where` or `within` would silently replace the first.
    if (keyword !== 'same' && used.has(keyword)) throw new Error(`${name}: "${keyword}" is given twice`);
    used.add(keyword);
    if (keyword === 'where') {
      const listed = next('statuses').split('|');
      const expanded = listed.flatMap((s) => (s === 'decided' ? ['allowed', 'denied', 'pending'] : [s]));
      for (const status of expanded) {
        if (!(HISTORY_STATUSES as readonly string[]).includes(status))
          throw new Error(`${name}: "${status}" is not a status (allowed, denied, pending, approved, decided)`);
      }
      statuses = HISTORY_STATUSES.filter((s) => expanded.includes(s));
    } else if (keyword === 'same') {
      for (const key of next('keys').split(',')) {
        if (key === 'agent' || key === 'run') same.push(key);
        else same.push(`arguments.${argument(key)}`);
      }
    } else if (keyword === 'within') {
      const text = next('a window such as 24h');
      withinMs = parseHistoryWindow(text);
      if (withinMs === undefined || withinMs > MAX_HISTORY_WINDOW_MS) throw new Error(`${name}: window "${text}" must be N s|m|h|d, at most 31d`);
    } else {
      throw new Error(`${name}: unexpected "${keyword}" (where, same or within)`);
    }
  }
  if (withinMs === undefined) throw new Error(`${name}: a fact needs a window: within N(s|m|h|d)`);
  const sorted = [...new Set(same)].sort();
  const fact = { operation: op, tools, ...(field === undefined ? {} : { field }), statuses, same: sorted, withinMs };
  return { name, ...fact, text: normalText(fact) };
}

/** How far back the facts look: their longest window (0 without facts). */
export function longestWindowMs(facts: readonly HistoryFact[]): number {
  return facts.reduce((longest, fact) => Math.max(longest, fact.withinMs), 0);
}

/** The facts of one @history annotation: definitions separated by ";". Throws POLICY_SET_INVALID-worthy messages. */
export function parseHistoryAnnotation(text: string): HistoryFact[] {
  const definitions = text
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d !== '');
  if (definitions.length === 0) throw new Error(`@history is empty: ${HISTORY_GRAMMAR}`);
  return definitions.map(parseFact);
}

/** The facts a policy set's @history annotations declare, by name; a name defined twice differently is an error. */
export function collectHistoryFacts(declared: readonly { readonly policyId: string; readonly facts: readonly HistoryFact[] }[]): HistoryFact[] {
  const byName = new Map<string, { fact: HistoryFact; policyId: string }>();
  for (const { policyId, facts } of declared) {
    for (const fact of facts) {
      const seen = byName.get(fact.name);
      if (seen !== undefined && seen.fact.text !== fact.text) {
        throw new WritError('POLICY_SET_INVALID', `history fact "${fact.name}" is defined by ${seen.policyId} and ${policyId} differently`, {
          field: `@history ${fact.name}`,
          rule: 'one definition per fact name',
        });
      }
      byName.set(fact.name, { fact, policyId });
    }
  }
  return [...byName.values()].map((v) => v.fact).sort((a, b) => a.name.localeCompare(b.name));
}

/** A recorded decision as the history index reads it (from a PolicyDecided and the request it carries). */
export interface HistoryDecision {
  readonly actionId: string;
  readonly tenant: string;
  readonly runId: string;
  readonly occurredAt: number;
  readonly decision: PolicyDecision;
  /** The request Cedar saw: agent, tool and arguments; absent for a decision made without one (an approver's deny). */
  readonly request?: {
    readonly agent: { readonly id: string };
    readonly tool: { readonly name: string };
    readonly arguments: Readonly<Record<string, unknown>>;
    readonly approvals?: readonly unknown[];
  };
}

/** The action a fact is computed for: what its `same` keys compare with. */
export interface HistorySubject {
  readonly actionId: string;
  readonly tenant: string;
  readonly runId: string;
  readonly agent: string;
  readonly arguments: Readonly<Record<string, unknown>>;
}

interface Entry {
  readonly actionId: string;
  readonly tenant: string;
  readonly runId: string;
  readonly agent: string;
  readonly tool: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  /** Each decision with when it was recorded, oldest first; `approved` marks an allow after approvals. */
  readonly events: { decision: PolicyDecision; approved: boolean; at: number }[];
  lastAt: number;
}

/** The action's statuses at `now`: its latest decision by then (allowed, denied or pending), and approved if that allow followed approvals. */
function statusesAt(entry: Entry, now: number): { statuses: HistoryStatus[]; decision: PolicyDecision } | undefined {
  let latest: Entry['events'][number] | undefined;
  for (const event of entry.events) if (event.at <= now) latest = event;
  if (latest === undefined) return undefined;
  const status = statusOf[latest.decision];
  return { statuses: latest.approved ? [status, 'approved'] : [status], decision: latest.decision };
}

const statusOf: Readonly<Record<PolicyDecision, HistoryStatus>> = { allow: 'allowed', deny: 'denied', approval_required: 'pending' };

function keyValue(key: HistoryKey, of: { runId: string; agent: string; arguments: Readonly<Record<string, unknown>> }): string {
  if (key === 'agent') return of.agent;
  if (key === 'run') return of.runId;
  const value = of.arguments[key.slice('arguments.'.length)];
  // Absent and present are different values: an action without the argument matches only others without it.
  return value === undefined ? '\u0000absent' : JSON.stringify(value);
}

function groupKey(fact: HistoryFact, of: { tenant: string; runId: string; agent: string; arguments: Readonly<Record<string, unknown>> }): string {
  return JSON.stringify([of.tenant, ...fact.same.map((key) => keyValue(key, of))]);
}

/**
 * The decisions of the last `horizonMs`, one entry per action, and per fact (built on first use
 * from every entry kept, so a fact published today sees the history before it) its entries grouped
 * by the keys it compares. Time is the decisions' own (occurred_at): an entry goes when its latest
 * decision is older than the horizon before the newest decision seen.
 */
export class HistoryIndex {
  readonly horizonMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #groups = new Map<string, { fact: HistoryFact; groups: Map<string, Set<Entry>> }>();
  #newest = Number.NEGATIVE_INFINITY;
  #prunedAt = Number.NEGATIVE_INFINITY;

  constructor(horizonMs: number) {
    if (!Number.isSafeInteger(horizonMs) || horizonMs <= 0) throw new RangeError(`horizonMs must be a positive integer, got ${horizonMs}`);
    this.horizonMs = horizonMs;
  }

  /** Actions kept. */
  get size(): number {
    return this.#entries.size;
  }

  /** Folds one recorded decision. A decision of an action seen before adds its status; folding the same decision twice changes nothing. */
  record(decided: HistoryDecision): void {
    let entry = this.#entries.get(decided.actionId);
    if (entry === undefined) {
      // A decision without its request (an approver's deny) of an action not kept tells nothing to compare.
      if (decided.request === undefined) return;
      entry = {
        actionId: decided.actionId,
        tenant: decided.tenant,
        runId: decided.runId,
        agent: decided.request.agent.id,
        tool: decided.request.tool.name,
        arguments: decided.request.arguments,
        events: [],
        lastAt: decided.occurredAt,
      };
      this.#entries.set(entry.actionId, entry);
      for (const index of this.#groups.values()) this.#group(index, entry);
    } else if (entry.events.some((e) => e.at === decided.occurredAt && e.decision === decided.decision)) {
      return;
    }
    const event = {
      decision: decided.decision,
      approved: decided.decision === 'allow' && (decided.request?.approvals?.length ?? 0) > 0,
      at: decided.occurredAt,
    };
    // Kept in time order, so a decision read out of order still finds its place.
    const after = entry.events.findIndex((e) => e.at > event.at);
    entry.events.splice(after === -1 ? entry.events.length : after, 0, event);
    entry.lastAt = Math.max(entry.lastAt, decided.occurredAt);
    this.#newest = Math.max(this.#newest, decided.occurredAt);
    // Pruning walks every entry: do it once per twentieth of the horizon.
    if (this.#newest - this.#prunedAt >= this.horizonMs / 20) this.#prune();
  }

  /**
   * The fact's value for the subject at `now`: an earlier action matches when its status at `now`
   * (its latest decision by then) is one the fact counts, and it took that status within the
   * window; so an action pending, then denied by an approver, no longer counts as pending. The
   * subject itself never counts.
   */
  value(fact: HistoryFact, subject: HistorySubject, now: number): HistoryValue {
    const group = this.#indexOf(fact).groups.get(groupKey(fact, subject));
    const from = now - fact.withinMs;
    let count = 0;
    let sum = 0;
    const distinct = new Set<string>();
    let last: { at: number; decision: PolicyDecision } | undefined;
    for (const entry of group ?? []) {
      if (entry.actionId === subject.actionId) continue;
      const current = statusesAt(entry, now);
      if (current === undefined || !current.statuses.some((status) => fact.statuses.includes(status))) continue;
      let latest = Number.NEGATIVE_INFINITY;
      for (const event of entry.events) {
        if (event.at <= from || event.at > now) continue;
        const status = statusOf[event.decision];
        if (fact.statuses.includes(status) || (event.approved && fact.statuses.includes('approved'))) latest = Math.max(latest, event.at);
      }
      if (latest === Number.NEGATIVE_INFINITY) continue;
      count++;
      const value = fact.field === undefined ? undefined : entry.arguments[fact.field];
      // A sum stays a Cedar Long: it saturates rather than leaving the safe range (and failing every request after it).
      if (fact.operation === 'sum' && typeof value === 'number' && Number.isSafeInteger(value))
        sum = Math.min(Number.MAX_SAFE_INTEGER, Math.max(Number.MIN_SAFE_INTEGER, sum + value));
      if (fact.operation === 'count_distinct' && value !== undefined) distinct.add(JSON.stringify(value));
      if (last === undefined || latest >= last.at) last = { at: latest, decision: current.decision };
    }
    switch (fact.operation) {
      case 'count':
        return count;
      case 'sum':
        return sum;
      case 'count_distinct':
        return distinct.size;
      case 'formerly':
        return count > 0;
      case 'last_decision':
        return last?.decision ?? 'none';
    }
  }

  /** Every fact's value for the subject, by name. */
  values(facts: readonly HistoryFact[], subject: HistorySubject, now: number): Record<string, HistoryValue> {
    return Object.fromEntries(facts.map((fact) => [fact.name, this.value(fact, subject, now)]));
  }

  #indexOf(fact: HistoryFact): { fact: HistoryFact; groups: Map<string, Set<Entry>> } {
    let index = this.#groups.get(fact.text);
    if (index === undefined) {
      index = { fact, groups: new Map() };
      this.#groups.set(fact.text, index);
      for (const entry of this.#entries.values()) this.#group(index, entry);
    }
    return index;
  }

  #group(index: { fact: HistoryFact; groups: Map<string, Set<Entry>> }, entry: Entry): void {
    if (index.fact.tools.length > 0 && !index.fact.tools.includes(entry.tool)) return;
    const key = groupKey(index.fact, entry);
    let group = index.groups.get(key);
    if (group === undefined) {
      group = new Set();
      index.groups.set(key, group);
    }
    group.add(entry);
  }

  #prune(): void {
    this.#prunedAt = this.#newest;
    const cutoff = this.#newest - this.horizonMs;
    for (const entry of this.#entries.values()) {
      if (entry.lastAt > cutoff) continue;
      this.#entries.delete(entry.actionId);
      for (const index of this.#groups.values()) {
        const key = groupKey(index.fact, entry);
        const group = index.groups.get(key);
        group?.delete(entry);
        if (group?.size === 0) index.groups.delete(key);
      }
    }
  }
}
