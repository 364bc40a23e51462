// Budget accountant benchmark (not a test): what one reservation and its settlement cost the
// accountant's pure core as a tenant's books grow. Closed reservations stay in the books for the
// retention (48 h), so at 100 actions/s a tenant holds millions: the cost of one step must not
// grow with them. No broker needed. Prints the figures and replaces the "Budget accountant"
// section of docs/benchmarks.md. From the repository root: ./dev bench budget (BENCH_NO_DOC=1: print only).
import { accountantStep, createBudgetDecider, initialBudgetState } from '@writ/budget-core';
import type { BudgetCommand } from '@writ/budget-core';
import { machineLine, percentile, writeBenchmarkSection } from '../bench-doc.ts';

const SIZES = [2_000, 10_000, 100_000];
const SAMPLES = 2_000;
const decider = createBudgetDecider({ reservation_ttl_ms: 3_600_000 });
const now = Date.UTC(2026, 11, 2, 12);
let made = 0;
// Budgets of every kind, as a tenant of deploy/demo/budgets.json has them: a time zone, the
// tenant's day and month, every agent's day, a tool's rolling hour, and every run.
const setup: BudgetCommand[] = [
  { type: 'SetTimeZone', time_zone: 'Europe/Berlin', now },
  { type: 'SetLimits', scope: 'tenant_day', caps: { money_micros: 1e15, tool_calls: null }, currency: 'USD', now },
  { type: 'SetLimits', scope: 'tenant_month', caps: { money_micros: 1e15, tool_calls: null, thresholds_percent: [50, 80, 100] }, currency: 'USD', now },
  { type: 'SetLimits', scope: 'agent_day', subject: '*', caps: { money_micros: 1e15, tool_calls: null }, currency: 'USD', now },
  {
    type: 'SetLimits',
    scope: 'tool_window',
    subject: 'refunds.issue',
    window_ms: 3_600_000,
    caps: { money_micros: null, tool_calls: 1e12 },
    currency: 'USD',
    now,
  },
  { type: 'SetLimits', scope: 'run', caps: { money_micros: 1e12, tool_calls: null, reads_only_at_percent: 50 }, currency: 'USD', now },
];
let state = setup.reduce((books, command) => accountantStep(decider, books, command).state, initialBudgetState());

/** Reserves and settles one action (a run of 50 actions per run, one agent). */
function step(): number {
  const id = `r-${made}`;
  const reserve: BudgetCommand = {
    type: 'Reserve',
    reservation_id: id,
    run_id: `run-${Math.floor(made / 50)}`,
    agent_id: 'agent-1',
    estimated_cost_micros: 10,
    tool_calls: 1,
    currency: 'USD',
    now,
    tool: 'refunds.issue',
    side_effects: true,
  };
  const t0 = performance.now();
  state = accountantStep(decider, state, reserve).state;
  state = accountantStep(decider, state, { type: 'Settle', reservation_id: id, actual_cost_micros: 10, currency: 'USD', now }).state;
  made += 1;
  return performance.now() - t0;
}

const machine = machineLine();
const rows: string[] = [];
for (const size of SIZES) {
  while (state.reservations.size < size - SAMPLES) step();
  const times = Array.from({ length: SAMPLES }, step).sort((a, b) => a - b);
  const row = `| ${state.reservations.size.toLocaleString('en-US')} | ${percentile(times, 50).toFixed(3)} ms | ${percentile(times, 99).toFixed(3)} ms |`;
  console.log(row);
  rows.push(row);
}

const text = `## Budget accountant

Measured ${new Date().toISOString().slice(0, 10)} on ${machine}; Node ${process.version}. Reproduce with \`./dev bench budget\`. One reservation and its settlement through the accountant's pure core (\`accountantStep\` of @writ/budget-core: the lapse sweep, the caps, the books), one tenant with budgets of every kind (a time zone, the tenant's day and month, every agent's day, a tool's rolling hour, every run with a degradation step: each reservation counts in thirteen counters and a window's bucket, and the window sums 61 buckets), ${SAMPLES.toLocaleString('en-US')} timed steps at each size, no I/O.

| reservations in the tenant's books | reserve + settle p50 | p99 |
|---|---|---|
${rows.join('\n')}

The books keep every reservation until the retention (48 h) forgets the closed ones, so their size follows the traffic, not what is in flight. They are PersistentMaps (@writ/decider: a hash array mapped trie), so a change copies one path of the trie and not the collection, and the sweep before each reservation visits only the outstanding reservations (an index of them), not the closed ones. Before this (plain records copied on every change and a sweep over all of them), the same step cost 1.9 ms on average while the books grew to 1,000 reservations and 12.6 ms while they grew to 5,000 on this box, growing without bound: a pipeline benchmark's tenant with a few thousand actions behind it spent most of the accountant's CPU there. With the run and day scopes alone (three counters a reservation, before 2026-12-07) the step took 0.015-0.022 ms at p50; a reservation now counts in thirteen counters (the run; agent, tool and tenant per day, week, month and in flight) and sums a window's 61 buckets, which is what the step costs now: at 0.1 ms, 500 reservations a second take 5 % of a core.
`;
console.log(text);
if (process.env['BENCH_NO_DOC'] !== '1') console.log(`wrote ${await writeBenchmarkSection('Budget accountant', text)}`);
