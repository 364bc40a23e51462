// End to end, the fault run (issue 7, "Correctness under load"), short version: an open-loop load
// of refunds and ticket reads through the gateway's HTTP API while planner, policy, budget,
// executor, ledger and gateway are each SIGKILLed in turn and started again; then every invariant
// is read back from what the system recorded. The long version, with a broker kill and a burst,
// is bench/faults/faults.bench.ts (`./dev bench faults`); the parts both use are in fault-run.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExport, verifyExport } from '@writ/ledger-core';
import { testKafkaBrokers } from '@writ/testing';
import {
  FaultLoad,
  checkBudget,
  checkLedger,
  checkTerminalStates,
  checkToolCalls,
  describeKill,
  formatCounts,
  killInTurn,
  outcomeReport,
  processingAgain,
  projectedSpend,
  quiescentFacts,
  serviceTarget,
  settledByRun,
  settledExport,
} from './fault-run.ts';
import type { KillRecord, OutcomeReport, TopicFacts } from './fault-run.ts';
import { callsAtTool, helpdeskStats, keyOf, startE2eStack, stopE2eStack } from './support.ts';
import type { E2eStack, HelpdeskStats } from './support.ts';

/** Offered actions per second, open loop; the load runs at least MIN_ACTIONS and until the kills are over. */
const RATE = 10;
const MIN_ACTIONS = 420;
const RUNS = 4;
const KILLED = ['planner', 'policy', 'budget', 'executor', 'ledger', 'gateway'] as const;
/** WRIT_EXECUTOR_CONCURRENCY's default: calls the executor has in flight at most. */
const WRIT_EXECUTOR_CONCURRENCY = 4;

const log = (line: string) => console.log(`[fault-run] ${line}`);

let e2e: E2eStack;
let load: FaultLoad | undefined;
let kills: KillRecord[] = [];
let facts: TopicFacts | undefined;
let stats: HelpdeskStats | undefined;
let outcomes: OutcomeReport | undefined;

beforeAll(async () => {
  // The e2e stacks' budgets are far above the load (startE2eStack): a refusal would hide what the run checks.
  e2e = await startE2eStack(26680);
  log(`stack work dir (service logs in logs/; removed at the end unless WRIT_E2E_KEEP=1): ${e2e.workDir}`);
}, 180_000);

afterAll(async () => {
  await stopE2eStack(e2e);
});

/** What the first test gathered; the checks below fail with this message when it did not finish. */
function gathered(): { load: FaultLoad; facts: TopicFacts; stats: HelpdeskStats } {
  if (load === undefined || facts === undefined || stats === undefined) throw new Error('the load did not run to its end (see the first test)');
  return { load, facts, stats };
}

describe('the fault run: each service SIGKILLed in turn under load', () => {
  it('offers the load, kills and restarts every service in turn, and every action gets an outcome', async () => {
    const runIds: string[] = [];
    for (let i = 0; i < RUNS; i += 1) runIds.push((await e2e.agent.openRun(`fault run ${i}`)).run_id);
    let killing = true;
    const offered = new FaultLoad({
      agent: e2e.agent,
      label: `fault-${Date.now().toString(36)}`,
      runIds,
      rate: RATE,
      minActions: MIN_ACTIONS,
      maxActions: 1_000,
      keepGoing: () => killing,
      proposeRetryMs: 60_000,
    });
    load = offered;
    const offering = offered.offer();
    kills = await killInTurn(
      KILLED.map((name) => serviceTarget(e2e.stack.service(name))),
      { firstDelayMs: 4_000, gapMs: 3_000, readyLimitMs: 120_000, log },
    );
    killing = false;
    await offering;
    log(`offered ${offered.actions.length} actions in ${offered.offeredFor.toFixed(1)} s (${(offered.actions.length / offered.offeredFor).toFixed(1)}/s)`);
    await offered.settle(90_000);
    await processingAgain(e2e.stack.tracesFile, kills);
    for (const kill of kills) log(describeKill(kill));

    facts = await quiescentFacts(testKafkaBrokers(), offered.actions, { timeoutMs: 60_000, log });
    stats = await helpdeskStats(e2e.stack);
    const report = outcomeReport(offered.actions, facts);
    outcomes = report;
    log(`terminal states: ${formatCounts(report.statuses)}; by reason: ${formatCounts(report.reasons)}`);
    log(`expired: ${formatCounts(report.expired)}; executor failures: ${formatCounts(report.failures)}`);
    log(
      `propose → outcome p50 ${report.latency.p50} ms, p99 ${report.latency.p99} ms, max ${report.latency.max} ms; ${report.proposeRetries} proposes retried`,
    );

    expect(offered.actions.length, 'actions offered').toBeGreaterThanOrEqual(400);
    expect(kills.map((k) => k.target)).toEqual([...KILLED]);
    // Each service is back under load within the stack's start() wait (60 s).
    for (const kill of kills) expect(kill.startErrors, `${describeKill(kill)}; start() failed`).toEqual([]);
    const without = offered.actions.filter((a) => a.outcomeAt === undefined).map((a) => `${a.key} (${a.view?.status ?? 'no answer'})`);
    expect(without, `${without.length} actions had no outcome 90 s after the load`).toEqual([]);
  }, 240_000);

  it('(a) every action is in exactly one terminal state: one ActionCompleted each, and the gateway agrees', () => {
    const { load: offered, facts: read } = gathered();
    const problems = checkTerminalStates(offered.actions, read);
    expect(problems, `terminal states broken:\n${problems.join('\n')}`).toEqual([]);
  });

  it('(b) no tool call is duplicated: each write reaches the helpdesk at most once, exactly once when it completed', () => {
    const { load: offered, facts: read, stats: counted } = gathered();
    const executorKills = kills.filter((k) => k.target === 'executor').length;
    const report = checkToolCalls(offered.actions, read, (key) => callsAtTool(counted, key), { kills: executorKills, concurrency: WRIT_EXECUTOR_CONCURRENCY });
    log(
      `tool calls: ${report.calls} for ${offered.actions.length} actions; duplicate writes ${report.duplicateWrites}; reads called again after the executor kill: ${report.repeatedReads.length}; outcomes after retries: ${report.retriedCalls}`,
    );
    expect(report.problems, `duplicate or missing tool calls:\n${report.problems.join('\n')}`).toEqual([]);
  });

  it('(c) the budget books equal the sum of the settled costs, and no reservation of a terminal action is left open', async () => {
    const { load: offered, facts: read } = gathered();
    const expected = settledByRun(offered.actions, read);
    const spend = await projectedSpend(e2e.stack.service('ledger').url, keyOf('ana'), expected, 60_000);
    const report = checkBudget(offered.actions, read, spend);
    log(
      `budget: ${report.settledMicros} micros settled (${formatCounts(report.dispositions)}); books: ${report.booksSettledMicros} settled, ${report.booksReservedMicros} reserved; ClickHouse spend ${[...spend.values()].reduce((a, b) => a + b, 0)}`,
    );
    expect(report.problems, `budget books broken:\n${report.problems.join('\n')}`).toEqual([]);
  }, 90_000);

  it('(d) the ledger verifies and chains every event of the tenant exactly once', async () => {
    const { facts: read } = gathered();
    const text = await settledExport(e2e.stack.service('ledger').url, keyOf('audrey'), read.chainEntries, 60_000);
    // Without the stack's keyring: on the tier's shared broker the chain may hold checkpoints of
    // earlier files' ledgers, signed with their own keys (as in faults.e2e.spec.ts).
    const verification = verifyExport(parseExport(text));
    const { result } = verification;
    const summary = result.ok
      ? `ok: ${result.entries} entries, ${result.events_checked} event bytes rechecked, ${verification.withheld} withheld (sensitive)`
      : `FAILED at seq ${result.seq}: ${result.kind}: ${result.reason}`;
    const report = checkLedger(read, text, { ok: result.ok, summary });
    log(
      `ledger: ${report.events} events of acme on the chained topics, ${report.entries} chain entries, ${report.exported} exported; verify ${report.verified}`,
    );
    expect(report.problems, `ledger broken:\n${report.problems.join('\n')}`).toEqual([]);
  }, 90_000);

  // Asserted because it held in every run since the planner's boot replay was fixed (five in a
  // row on the two-core box, restarts taking 3-13 s against WRIT_PLANNER_DECISION_TIMEOUT_MS' 30 s).
  // Other expiries and the executor's DEADLINE_PASSED refusals (a call not started within 10 s
  // of its request, e.g. behind a slow restart) are measured figures, logged above, not asserted.
  it('(e) no action expired waiting for its decision while a service restarted (DECISION_TIMEOUT)', () => {
    const { load: offered } = gathered();
    if (outcomes === undefined) throw new Error('the load did not run to its end (see the first test)');
    const expired = outcomes.expired['DECISION_TIMEOUT'] ?? 0;
    expect(expired, `${expired} of ${offered.actions.length} actions expired with DECISION_TIMEOUT; restarts: ${kills.map(describeKill).join('; ')}`).toBe(0);
  });
});
