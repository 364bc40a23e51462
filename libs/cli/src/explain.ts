// `writ explain ACTION_ID`: one action's story from the ledger's events: what was proposed and from
// what (the agent's provenance), what the policy decided and why (determining policies, the set, the
// context Cedar saw, warnings, shadow results), the approvals, the budget, the execution and how it
// ended. Reads the ledger's query door as an analyst or auditor of the tenant (their key), or
// ClickHouse directly (--chdb, --clickhouse).
import { createClickHouse } from '@writ/clickhouse';
import { WritError, describeError } from '@writ/errors';
import { DEFAULT_LEDGER_URL, ledgerText, parseFlags } from './ledger-source.ts';
import type { CliIo } from './verify.ts';

export const EXPLAIN_USAGE = `usage: writ explain ACTION_ID [--url <ledger url> [--key <api key>] | --chdb <data folder> | --clickhouse <server url>] [--database <name>] [--json]
  One action's events in chain order, explained: the proposal and its provenance (model, prompt
  version, retrieved documents), each policy decision (determining policies, policy set, the
  context Cedar saw, warnings, shadow results), approvals, budget, execution and the end (from the
  action's row once its execution events are past the detail retention). Over HTTP, --key (default
  WRIT_API_KEY) is an analyst's or auditor's API key of the action's tenant; the ledger's URL is
  --url, WRIT_LEDGER_URL or ${DEFAULT_LEDGER_URL}.`;

const EXPLAIN_SQL = 'SELECT event_type, occurred_at, chain_seq, payload FROM events WHERE action_id = {action:String} ORDER BY chain_seq';
/**
 * How the action ended, from its permanent row: the execution's events (ActionExecuted, ActionFailed,
 * ActionCompleted) are operational detail that `events` keeps for WRIT_LEDGER_DETAIL_TTL_DAYS only
 * (docs/retention.md). The row of the highest version is the latest state, deduplicated or not.
 */
const END_SQL =
  'SELECT status, status_reason, outcome, cost_micros, currency, updated_at FROM actions WHERE action_id = {action:String} ORDER BY version DESC LIMIT 1';

/** One event of the action as the ledger projected it (payload: the event's JSON, sensitive values redacted). */
export interface ActionEventRow {
  readonly event_type: string;
  readonly occurred_at: string;
  readonly chain_seq: number | string;
  readonly payload: string;
}

/** The action's permanent row, as far as `writ explain` tells it. */
export interface ActionEndRow {
  readonly status: string;
  readonly status_reason: string;
  readonly outcome: string;
  readonly cost_micros: number | string;
  readonly currency: string;
  readonly updated_at: string;
}

type Json = Record<string, unknown>;

const text = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));
const list = (value: unknown): string => (Array.isArray(value) && value.length > 0 ? value.map(text).join(', ') : 'none');

function decisionLines(p: Json): string[] {
  const lines = [
    `policy: ${text(p['decision'])} by ${list(p['determining_policies'])} (policy set ${text(p['policy_set_version']) || '?'}, ${String(p['policy_set_hash']).slice(0, 12)})`,
  ];
  const requirement = p['approval_requirement'] as Json | null | undefined;
  if (requirement) {
    const expiry = typeof requirement['expires_in_ms'] === 'number' ? `, expires in ${Math.round(requirement['expires_in_ms'] / 60_000)} min` : '';
    lines.push(
      `  asks for ${text(requirement['count'])} approval(s) by ${Array.isArray(requirement['roles']) && requirement['roles'].length === 0 ? 'any approver the policies permit' : list(requirement['roles'])} (${text(requirement['policy_id'])}${expiry})`,
    );
  }
  if (p['denied_by']) lines.push(`  denied by approver ${text(p['denied_by'])}`);
  const errors = p['errors'] as unknown[] | undefined;
  if (errors !== undefined && errors.length > 0) lines.push(`  errors: ${errors.map(text).join('; ')}`);
  const warnings = p['warnings'] as unknown[] | undefined;
  if (warnings !== undefined && warnings.length > 0) lines.push(`  warnings (warn mode, not enforced): ${list(warnings)}`);
  for (const shadow of (p['shadow_results'] as Json[] | undefined) ?? []) {
    const agrees = shadow['decision'] === p['decision'] ? 'agrees' : 'DISAGREES';
    lines.push(`  shadow ${text(shadow['policy_id'])}: would decide ${text(shadow['decision'])} (${agrees})`);
  }
  const request = typeof p['request_json'] === 'string' && p['request_json'] !== '' ? (JSON.parse(p['request_json']) as Json) : undefined;
  if (request !== undefined) {
    const agent = request['agent'] as Json | undefined;
    const stats = request['runStats'] as Json | undefined;
    lines.push(
      `  context: agent ${text(agent?.['id'])} (role ${text(agent?.['role'])}, owner ${text(agent?.['owner'])}); arguments ${JSON.stringify(request['arguments'])}`,
    );
    if (stats !== undefined)
      lines.push(
        `  run so far: ${text(stats['steps'])} steps, ${text(stats['spendMicros'])} micros spent, ${text(stats['callsInWindow'])} calls of the tool in the window`,
      );
    const history = request['history'] as Json | undefined;
    const facts = (request['historyFacts'] as Json | undefined) ?? {};
    for (const [name, value] of Object.entries(history ?? {})) {
      const definition = facts[name];
      lines.push(`  history ${name} = ${JSON.stringify(value)}${typeof definition === 'string' ? ` (${definition})` : ''}`);
    }
    const approvals = (request['approvals'] as Json[] | undefined) ?? [];
    if (approvals.length > 0) lines.push(`  approvals it saw: ${approvals.map((a) => `${text(a['approverId'])} (${text(a['role'])})`).join(', ')}`);
  } else {
    lines.push('  context: not recorded (a decision made without Cedar, or recorded before PolicyDecided v5)');
  }
  return lines;
}

/** The provenance an agent gave with its proposal (ActionProposed v3): model, prompt version, retrieved documents. */
function provenanceLines(provenance: unknown): string[] {
  if (typeof provenance !== 'object' || provenance === null) return ['  provenance: none given by the agent'];
  const p = provenance as Json;
  const lines: string[] = [];
  const model = p['model'] as Json | null | undefined;
  if (model) {
    const about = [model['provider'] ? `provider ${text(model['provider'])}` : '', model['version'] ? `version ${text(model['version'])}` : ''].filter(Boolean);
    lines.push(`  model: ${text(model['name'])}${about.length > 0 ? ` (${about.join(', ')})` : ''}`);
  }
  if (p['prompt_version']) lines.push(`  prompt version: ${text(p['prompt_version'])}`);
  const documents = (p['retrieved_documents'] as Json[] | undefined) ?? [];
  if (documents.length > 0) {
    lines.push(`  retrieved documents (${documents.length}):`);
    for (const document of documents) {
      lines.push(`    ${text(document['id'])}${document['version'] ? ` version ${text(document['version'])}` : ''}, sha256 ${text(document['sha256'])}`);
    }
  }
  return lines;
}

/** The lines explaining one event; unknown event types get their type only. */
export function explainEvent(row: ActionEventRow): string[] {
  const p = JSON.parse(row.payload) as Json;
  const at = `${row.occurred_at} #${String(row.chain_seq)}`;
  const body = ((): string[] => {
    switch (row.event_type) {
      case 'ActionProposed':
        return [
          `proposed by agent ${text(p['agent_id'])}: ${text(p['tool'])}${p['tool_version'] ? `@${text(p['tool_version'])}` : ''} (run ${text((p['meta'] as Json)['run_id'])})`,
          `  reason: ${text(p['reason'])}`,
          `  arguments: ${text(p['arguments_json'])}`,
          ...provenanceLines(p['provenance']),
        ];
      case 'ActionAdmitted':
        return ['admitted by the planner'];
      case 'ActionRejected':
        return [`rejected by the planner: ${text(p['reason'])}`];
      case 'PolicyDecided':
        return decisionLines(p);
      case 'ApprovalSubmitted':
        return [
          `approval submitted by ${text(p['approver_id'])} (${text(p['approver_role'])}): ${text(p['verdict'])}${p['comment'] ? `, "${text(p['comment'])}"` : ''}`,
        ];
      case 'ApprovalRecorded':
        return [`${text(p['verdict'])} of ${text(p['approver_id'])} ${p['accepted'] === true ? 'accepted' : 'refused'}: ${text(p['reason'])}`];
      case 'BudgetReserved':
        return [`budget reserved: ${text(p['amount_micros'])} micros ${text(p['currency'])}`];
      case 'BudgetRefused':
        return [
          `budget refused${p['rule'] === 'reads_only' ? ' (degraded to reads)' : ''}: ${text(p['scope'])}${p['period'] == null || p['period'] === 'run' ? '' : ` ${text(p['period'])}`} ${text(p['kind'])} limit ${text(p['limit'])}, used ${text(p['used'])}, asked ${text(p['requested'])}`,
        ];
      case 'BudgetSettled':
        return [`budget settled (${text(p['disposition'])}): ${text(p['actual_cost_micros'])} micros spent, ${text(p['released_micros'])} released`];
      case 'ExecutionRequested':
        return ['execution requested (warrant and reservation attached)'];
      case 'ActionExecuted':
        return [`executed in ${text(p['duration_ms'])} ms (${text(p['attempts'])} attempt(s)): cost ${text(p['cost_micros'])} micros ${text(p['currency'])}`];
      case 'ActionFailed':
        return [`failed: ${text(p['error_code'])}: ${text(p['message'])}`];
      case 'ActionCompleted':
        return [`ended ${text(p['status'])} (${text(p['reason_code'])}): ${text(p['reason'])}`];
      case 'OutcomeReconciled':
        return [`unknown outcome reconciled as ${text(p['outcome'])} by ${text(p['resolved_by'])} (${text(p['resolver_role'])}): ${text(p['note'])}`];
      default:
        return [row.event_type];
    }
  })();
  return [`${at}  ${body[0] ?? ''}`, ...body.slice(1).map((line) => `${' '.repeat(at.length + 2)}${line}`)];
}

/**
 * The end of an action whose terminal event is no longer among its events (past the detail
 * retention), from its permanent row; nothing while it has not ended, or when the event is there.
 */
export function explainEnd(rows: readonly ActionEventRow[], end: ActionEndRow | undefined): string[] {
  if (end === undefined || end.status === '' || rows.some((row) => row.event_type === 'ActionCompleted')) return [];
  const outcome = end.outcome === '' ? '' : `, outcome ${end.outcome}`;
  return [
    `${end.updated_at}  ended ${end.status}${outcome}, cost ${String(end.cost_micros)} micros ${end.currency}: ${end.status_reason}`,
    `  (from the action's permanent row: its execution events are operational detail, past their retention; docs/retention.md)`,
  ];
}

type Query = <T>(sql: string, actionId: string) => Promise<T[]>;

function queryOverHttp(url: string, key: string | undefined): Query {
  return async <T>(sql: string, actionId: string): Promise<T[]> => {
    const body = await ledgerText(
      `${url}/v1/query`,
      key,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sql, params: { action: actionId } }) },
      "an analyst's or auditor's API key of the action's tenant: --key <key> or WRIT_API_KEY",
    );
    return (JSON.parse(body) as { rows: T[] }).rows;
  };
}

/** Runs `writ explain <args>`; returns the exit code. */
export async function runExplain(
  args: readonly string[],
  io: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) },
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  const [actionId, ...rest] = args;
  let flags: Map<string, string>;
  const json = rest.includes('--json');
  try {
    if (actionId === undefined || actionId.startsWith('--'))
      throw new WritError('USAGE', 'ACTION_ID is required', { field: 'ACTION_ID', rule: 'the action id, first' });
    flags = parseFlags(
      rest.filter((a) => a !== '--json'),
      ['url', 'key', 'chdb', 'clickhouse', 'database'],
    );
  } catch (error) {
    io.err(describeError(error));
    io.err(EXPLAIN_USAGE);
    return 2;
  }
  try {
    // The action's events; and its permanent row when none of them tells the end.
    const story = async (query: Query): Promise<{ rows: ActionEventRow[]; end: ActionEndRow | undefined }> => {
      const events = await query<ActionEventRow>(EXPLAIN_SQL, actionId);
      const ended = events.length === 0 || events.some((row) => row.event_type === 'ActionCompleted');
      return { rows: events, end: ended ? undefined : (await query<ActionEndRow>(END_SQL, actionId))[0] };
    };
    let found: Awaited<ReturnType<typeof story>>;
    const chdb = flags.get('chdb');
    const server = flags.get('clickhouse');
    if (chdb !== undefined || server !== undefined) {
      const database = flags.get('database') ?? env['CLICKHOUSE_DATABASE'];
      const client = createClickHouse({
        ...(chdb === undefined ? {} : { dataPath: chdb }),
        ...(server === undefined ? {} : { url: new URL(server) }),
        ...(database === undefined ? {} : { database }),
        application: 'writ-cli',
      });
      try {
        found = await story(async <T>(sql: string, action: string) =>
          (await client.query({ query: sql, query_params: { action }, format: 'JSONEachRow' })).json<T>(),
        );
      } finally {
        await client.close();
      }
    } else {
      const key = flags.get('key') ?? env['WRIT_API_KEY'];
      found = await story(queryOverHttp((flags.get('url') ?? env['WRIT_LEDGER_URL'] ?? DEFAULT_LEDGER_URL).replace(/\/+$/, ''), key === '' ? undefined : key));
    }
    const { rows, end } = found;
    if (rows.length === 0) {
      io.err(`[explain] no events of action ${actionId} (another tenant's action is not found either; the ledger may not have projected it yet)`);
      return 1;
    }
    if (json) io.out(JSON.stringify(rows.map((row) => ({ ...row, payload: JSON.parse(row.payload) as unknown }))));
    else {
      io.out(`action ${actionId}: ${rows.length} events`);
      for (const row of rows) for (const line of explainEvent(row)) io.out(line);
      for (const line of explainEnd(rows, end)) io.out(line);
    }
    return 0;
  } catch (error) {
    io.err(`[explain] ${describeError(error)}`);
    return 1;
  }
}
