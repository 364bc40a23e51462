// Policy backtest benchmark (not a test): how fast backtest() of @writ/policy-engine replays a
// recorded history against a candidate policy set, offline (no ClickHouse, no I/O). A synthetic
// helpdesk history (three tenants, support, sales and ops agents, runs of reads, refunds of many
// amounts and customers, approvals, exports, deletions, e-mails) is decided by the repository's
// policies as it would have been recorded (PolicyDecided v5: the request Cedar saw), then replayed
// against a candidate that adds one enforced forbid. Measured: the whole history (identical requests
// are decided once), and distinct requests only (every one a miss of the backtest's cache), each with
// backtestParallel (the cache misses decided by a pool of worker threads, as `writ policy backtest`
// replays a page) and with backtest() in one thread, plus the peak RSS. The pool's reports must equal
// the one thread's. Prints the figures and replaces the "Policy backtest" section of
// docs/benchmarks.md. From the repository root: ./dev bench backtest (BENCH_DECISIONS=200000,
// BENCH_DISTINCT=10000 distinct requests timed alone, BENCH_WORKERS=<cores>, BENCH_RUNS=3 runs of
// each pool measure and of the one thread's distinct-only one (the median is shown), BENCH_SEED=1,
// BENCH_NO_DOC=1: print only).
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, sha256Hex } from '@writ/crypto';
import { BACKTEST_EVALUATION_CACHE, backtest, backtestKey, compilePolicySet, createDecisionPoint, readPolicySetSources } from '@writ/policy-engine';
import type { BacktestReport, Decision, DecisionPoint, DecisionRequest, RecordedDecision } from '@writ/policy-engine';
import { backtestParallel, createBacktestPool, defaultBacktestWorkers } from '../../libs/cli/src/backtest-pool.ts';
import { ROOT, machineLine, writeBenchmarkSection } from '../bench-doc.ts';
import { seededRandom } from '@writ/decider/testing';

const DECISIONS = Number(process.env['BENCH_DECISIONS'] ?? 200_000);
const DISTINCT_SAMPLE = Number(process.env['BENCH_DISTINCT'] ?? 10_000);
const SEED = Number(process.env['BENCH_SEED'] ?? 1);
const WORKERS = Number(process.env['BENCH_WORKERS'] ?? defaultBacktestWorkers());
const RUNS = Math.max(1, Number(process.env['BENCH_RUNS'] ?? 3));
const TARGET = 20_000;
const DAYS = 30;
const machine = machineLine();
const say = (line: string) => console.log(`[backtest] ${line}`);
const count = (n: number) => Math.round(n).toLocaleString('en-US');

const random = seededRandom(SEED).next;
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
/** An index in [0, n) skewed towards small ones (a few customers and tickets are most of the traffic). */
const skewed = (n: number) => Math.floor(n * random() ** 3);

// ---- the candidate: the repository's policies plus one enforced forbid ----

const CANDIDATE_RULE = 'refund-watchlist-customers';
const sources = await readPolicySetSources(join(ROOT, 'policies'));
const recordedSet = compilePolicySet(sources);
const candidateSet = compilePolicySet({
  ...sources,
  policies: {
    ...sources.policies,
    [CANDIDATE_RULE]: `// No refund to a customer on the watch list (ids C-1x...) until the fraud review is done.
@id("${CANDIDATE_RULE}")
forbid (
  principal,
  action == Writ::Action::"invoke",
  resource == Writ::Tool::"refunds.issue"
)
when { context.arguments has customer_id && context.arguments.customer_id like "C-1*" };
`,
  },
});
say(
  `recorded with the repository's policies ${recordedSet.hash.slice(0, 12)} (${Object.keys(recordedSet.policies).length} policies, version ${recordedSet.version})`,
);
say(`candidate ${candidateSet.hash.slice(0, 12)}: the same plus ${CANDIDATE_RULE} (enforce)`);

// ---- a synthetic history ----

const TENANTS = [
  { id: 'acme', weight: 6, customers: 2_500, tickets: 4_000 },
  { id: 'globex', weight: 3, customers: 1_200, tickets: 2_000 },
  { id: 'initech', weight: 1, customers: 400, tickets: 600 },
];
const tenantBag = TENANTS.flatMap((t) => Array.from({ length: t.weight }, () => t));
const TOOLS = {
  list: { name: 'tickets.list', version: '1.0.0', effect: 'read', risk: 'low' },
  get: { name: 'tickets.get', version: '1.0.0', effect: 'read', risk: 'low' },
  refund: { name: 'refunds.issue', version: '1.2.0', effect: 'write', risk: 'medium' },
  export: { name: 'customers.export', version: '2.0.0', effect: 'read', risk: 'medium' },
  email: { name: 'email.send', version: '1.0.0', effect: 'write', risk: 'low' },
  delete: { name: 'customers.delete', version: '1.0.0', effect: 'destructive', risk: 'high' },
} as const;
const COMMON_CENTS = [500, 999, 1_000, 1_500, 2_000, 2_500, 4_999, 5_000, 7_500, 9_999, 10_000];
const MANAGERS = ['maria', 'mike', 'mona'];
const DOMAINS = ['example.com', 'mail.example.org', 'customer.test', 'shop.example.net'];

function agentsOf(tenant: string) {
  return [
    ...Array.from({ length: 8 }, (_, i) => ({ id: `${tenant}-support-${i + 1}`, role: 'support', owner: `${tenant}-owner-${(i % 3) + 1}` })),
    ...Array.from({ length: 2 }, (_, i) => ({ id: `${tenant}-sales-${i + 1}`, role: 'sales', owner: `${tenant}-owner-4` })),
    { id: `${tenant}-ops-1`, role: 'ops', owner: `${tenant}-owner-5` },
  ];
}
const AGENTS = new Map(TENANTS.map((t) => [t.id, agentsOf(t.id)]));

/** A ticket of a tenant: its customer, the support agent it is assigned to and the refund it asks for stay the same. */
function ticketOf(tenant: (typeof TENANTS)[number], index: number) {
  const own = seededRandom(SEED * 1_000_003 + index * 7_919 + tenant.customers).next;
  const agents = AGENTS.get(tenant.id) ?? [];
  const cents = (() => {
    const r = own();
    if (r < 0.7) return COMMON_CENTS[Math.floor(own() * COMMON_CENTS.length)] ?? 2_500;
    if (r < 0.9) return 10_000 + 500 * (1 + Math.floor(own() * 80)); // $100..$500: one manager's approval
    return 50_000 + 2_500 * (1 + Math.floor(own() * 40)); // over $500: two managers
  })();
  return {
    id: `T-${index}`,
    customer: `C-${(index * 7_919) % tenant.customers}`,
    agent: agents[index % 8] ?? agents[0],
    cents,
    tags: own() < 0.9 ? ['refund_approved'] : ['vip'],
    domain: DOMAINS[Math.floor(own() * DOMAINS.length)] ?? 'example.com',
  };
}

/** One run: an agent's workflow over a ticket, each step one decision (and another one after each approval). */
function* run(at: number): Generator<{ request: DecisionRequest; at: number }> {
  const tenant = pick(tenantBag);
  const ticket = ticketOf(tenant, skewed(tenant.tickets));
  // Mostly the ticket's own support agent; sometimes another agent of the tenant (sales, ops: not allowed to refund).
  const agent = random() < 0.85 && ticket.agent !== undefined ? ticket.agent : pick(AGENTS.get(tenant.id) ?? []);
  let step = 0;
  let spend = 0;
  const ask = (tool: DecisionRequest['tool'], args: Record<string, unknown>, cost: number, approvals?: DecisionRequest['approvals']) => {
    step++;
    const request: DecisionRequest = {
      tenant: tenant.id,
      agent,
      tool,
      arguments: args,
      runStats: { steps: step, spendMicros: spend, callsInWindow: 1 },
      ...(approvals === undefined ? {} : { approvals }),
    };
    spend += cost;
    at += 1_000 + int(30_000);
    return { request, at };
  };
  yield ask(TOOLS.list, { status: pick(['open', 'open', 'open', 'pending']) }, 0);
  yield ask(TOOLS.get, { ticket_id: ticket.id }, 0);
  const kind = random();
  if (kind < 0.55) {
    // A refund of a few cents more or less than asked, now and then (a partial refund, a fee).
    const cents = random() < 0.9 ? ticket.cents : ticket.cents + 100 * (1 + int(20));
    const args = { ticket_id: ticket.id, amount_cents: cents, currency: 'USD', ticket_tags: ticket.tags, customer_id: ticket.customer };
    yield ask(TOOLS.refund, args, 12_000);
    if (cents > 10_000 && agent.role === 'support') {
      // approval_required, then decided again with the approvals recorded
      const first = { approverId: pick(MANAGERS), role: 'manager' };
      yield ask(TOOLS.refund, args, 0, [first]);
      if (cents > 50_000) yield ask(TOOLS.refund, args, 0, [first, { approverId: pick(MANAGERS.filter((m) => m !== first.approverId)), role: 'manager' }]);
    }
    if (random() < 0.5) yield ask(TOOLS.email, { recipient_domain: ticket.domain, ticket_id: ticket.id }, 500);
  } else if (kind < 0.8) {
    yield ask(TOOLS.get, { ticket_id: ticketOf(tenant, skewed(tenant.tickets)).id }, 0);
  } else if (kind < 0.95) {
    yield ask(TOOLS.export, { rows: pick([100, 250, 500, 1_000, 1_001, 5_000]), format: 'csv' }, 0);
  } else {
    yield ask(TOOLS.delete, { customer_id: ticket.customer }, 0);
  }
}

const recordedPdp = createDecisionPoint(recordedSet);
const recordedCache = new Map<string, Decision>();
const start = Date.now() - DAYS * 86_400_000;
const records: RecordedDecision[] = [];
const t0 = performance.now();
let runs = 0;
while (records.length < DECISIONS) {
  runs++;
  for (const { request, at } of run(start + int(DAYS * 86_400_000))) {
    if (records.length >= DECISIONS) break;
    const key = canonicalJson(request);
    let decision = recordedCache.get(key);
    if (decision === undefined) {
      decision = recordedPdp.decide(request);
      recordedCache.set(key, decision);
    }
    records.push({
      actionId: `action-${records.length}`,
      runId: `run-${runs}`,
      tenant: request.tenant,
      tool: request.tool.name,
      occurredAt: at,
      decision: decision.decision,
      determiningPolicies: decision.determiningPolicies,
      policySetHash: decision.policySetHash,
      // As a PolicyDecided v5 carries it (request_json) and the CLI maps it: parsed from JSON.
      request: JSON.parse(key) as DecisionRequest,
    });
  }
}
records.sort((a, b) => a.occurredAt - b.occurredAt);
const recordedMix = new Map<string, number>();
for (const r of records) recordedMix.set(r.decision, (recordedMix.get(r.decision) ?? 0) + 1);
const distinct = recordedCache.size;
say(
  `history: ${count(records.length)} decisions in ${count(runs)} runs over ${DAYS} days, ${count(distinct)} distinct requests (${((distinct * 100) / records.length).toFixed(1)} %); recorded ${[...recordedMix].map(([d, n]) => `${d} ${count(n)}`).join(', ')}; built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

// ---- the whole history ----

const rate = (report: BacktestReport, ms: number) => (report.replayed * 1000) / ms;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
/** The pool's report must be the one thread's, byte for byte. */
const sameReports = (a: BacktestReport, b: BacktestReport, what: string) => {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${what}: backtestParallel's report differs from backtest()'s`);
};
interface Timed {
  readonly report: BacktestReport;
  /** The median run's, and the fastest and slowest runs' milliseconds. */
  readonly ms: number;
  readonly fastest: number;
  readonly slowest: number;
}
/**
 * Runs `replay` RUNS times (each on an empty cache, after `prepare`, untimed; the machine is shared,
 * so one run says little) and keeps the median.
 */
async function timed(what: string, replay: () => BacktestReport | Promise<BacktestReport>, prepare?: () => Promise<void>): Promise<Timed> {
  const runs: { report: BacktestReport; ms: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    await prepare?.();
    const t = performance.now();
    const report = await replay();
    runs.push({ report, ms: performance.now() - t });
    if (i > 0) sameReports(report, runs[0]?.report as BacktestReport, `${what}, run ${i + 1}`);
  }
  const sorted = runs.map((r) => r.ms).sort((a, b) => a - b);
  return {
    report: runs[0]?.report as BacktestReport,
    ms: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0,
    fastest: sorted[0] ?? 0,
    slowest: sorted[sorted.length - 1] ?? 0,
  };
}
/** "12,345 decisions/s" with the range over the runs. */
const rates = (t: Timed) =>
  RUNS === 1
    ? `${count(rate(t.report, t.ms))} decisions/s`
    : `${count(rate(t.report, t.ms))} decisions/s (median of ${RUNS}: ${count(rate(t.report, t.slowest))} to ${count(rate(t.report, t.fastest))})`;

/** The candidate's decision point as `writ policy backtest` builds it (and each worker): it remembers Cedar's evaluations. */
const candidatePoint = () => createDecisionPoint(candidateSet, { evaluationCache: BACKTEST_EVALUATION_CACHE });
const candidate = candidatePoint();
// Warm-up (JIT, Cedar's WebAssembly) on requests Cedar is not given in the timed runs (of other
// tenants), so a decision point that remembers its evaluations starts each run cold in its caches.
const warmUp = records.slice(0, 2_000).map((r) => ({
  ...r,
  tenant: `warm-up-${r.tenant}`,
  request: r.request === undefined ? undefined : { ...r.request, tenant: `warm-up-${r.request.tenant}` },
}));
backtest(warmUp, candidatePoint());
const p0 = performance.now();
let pool = await createBacktestPool(candidateSet, { workers: WORKERS });
const poolMs = performance.now() - p0;
// The same warm-up for the workers (each one's WebAssembly is its own), with a cache of its own.
await backtestParallel(warmUp, candidate, pool, { minRecords: 0 });
say(`pool: ${pool.workers} worker threads started in ${count(poolMs)} ms (each builds the candidate's decision point)`);
/** Before each timed run but the first: a new pool, warmed up, as its workers remember Cedar's evaluations of the run before. */
let pools = 0;
const freshPool = async () => {
  if (pools++ === 0) return;
  await pool.close();
  pool = await createBacktestPool(candidateSet, { workers: WORKERS });
  await backtestParallel(warmUp, candidate, pool, { minRecords: 0 });
};
/** Cedar evaluations the decision point made while `replay` ran (the others answered from its evaluation cache). */
const evaluationsOf = <T>(point: DecisionPoint, replay: (point: DecisionPoint) => T): { result: T; evaluations: number } => {
  const before = point.cedarEvaluations?.() ?? 0;
  const result = replay(point);
  return { result, evaluations: (point.cedarEvaluations?.() ?? 0) - before };
};

const whole = await timed('the whole history', () => backtestParallel(records, candidate, pool), freshPool);
const wholeRate = rate(whole.report, whole.ms);
say(
  `whole history, ${pool.workers} workers: ${count(whole.report.replayed)} decisions replayed in ${seconds(whole.ms)} = ${rates(whole)} (${count(whole.report.distinctRequests)} distinct); changed ${count(whole.report.changed)}: ${Object.entries(
    whole.report.transitions,
  )
    .map(([t, n]) => `${t} ${count(n)}`)
    .join(', ')}`,
);
const s0 = performance.now();
const { result: wholeOne, evaluations: wholeEvaluations } = evaluationsOf(candidatePoint(), (point) => backtest(records, point));
const wholeOneMs = performance.now() - s0;
const wholeOneRate = rate(wholeOne, wholeOneMs);
sameReports(whole.report, wholeOne, 'the whole history');
say(
  `whole history, one thread (backtest(), one run): ${seconds(wholeOneMs)} = ${count(wholeOneRate)} decisions/s, ${count(wholeEvaluations)} Cedar evaluations; the same report as the pool's`,
);

// ---- distinct requests only: every one a cache miss ----

const seen = new Set<string>();
const distinctRecords: RecordedDecision[] = [];
for (const record of records) {
  const key = backtestKey(record.request as DecisionRequest);
  if (seen.has(key)) continue;
  seen.add(key);
  distinctRecords.push(record);
}
// A sample spread over the history, each request once, on an empty cache.
const stride = Math.max(1, Math.floor(distinctRecords.length / DISTINCT_SAMPLE));
const sample = distinctRecords.filter((_, i) => i % stride === 0).slice(0, DISTINCT_SAMPLE);
const miss = await timed('distinct requests', () => backtestParallel(sample, candidate, pool), freshPool);
const missRate = rate(miss.report, miss.ms);
if (miss.report.distinctRequests !== sample.length)
  throw new Error(`the sample repeats a request: ${miss.report.distinctRequests} of ${sample.length} distinct`);
say(`distinct requests only, ${pool.workers} workers: ${count(sample.length)} in ${seconds(miss.ms)} = ${rates(miss)}`);
let missEvaluations = 0;
const missOne = await timed('distinct requests, one thread', () => {
  const { result, evaluations } = evaluationsOf(candidatePoint(), (point) => backtest(sample, point));
  missEvaluations = evaluations;
  return result;
});
const missOneRate = rate(missOne.report, missOne.ms);
sameReports(miss.report, missOne.report, 'distinct requests');
say(
  `distinct requests only, one thread: ${seconds(missOne.ms)} = ${rates(missOne)} (${(missOne.ms / sample.length).toFixed(3)} ms each; ${count(missEvaluations)} Cedar evaluations)`,
);
await pool.close();
const loadAtEnd = loadavg()[0]?.toFixed(2) ?? '?';

// What a miss costs by the decision Cedar reaches (a decision point that remembers nothing): a deny
// that no forbid decided is evaluated again with each approval gate's approvals (the approval
// probes) when a permit that reads the approvals may apply to it (a refund), not otherwise (an e-mail).
const kindOf = (r: RecordedDecision) =>
  r.decision === 'deny' ? (r.determiningPolicies.length === 0 ? `deny (default) of ${r.tool}` : 'deny (a forbid)') : r.decision;
const perKind = new Map<string, { n: number; ms: number }>();
const probe = createDecisionPoint(candidateSet);
for (const record of sample.slice(0, Math.min(sample.length, 3_000))) {
  const k0 = performance.now();
  probe.decide(record.request as DecisionRequest);
  const ms = performance.now() - k0;
  const kind = kindOf(record);
  const entry = perKind.get(kind) ?? { n: 0, ms: 0 };
  perKind.set(kind, { n: entry.n + 1, ms: entry.ms + ms });
}
const kinds = [...perKind].sort(([a], [b]) => a.localeCompare(b)).map(([kind, { n, ms }]) => `${kind} ${(ms / n).toFixed(3)} ms (${count(n)})`);
say(`one Cedar decision by recorded outcome (mean, one thread): ${kinds.join('; ')}`);

// The hit path alone: the key of every record of the history (backtestKey: its canonical JSON and the
// sha256 of it) and a lookup in a cache that holds every request; and the key as it was computed
// before (canonicalJson of @writ/crypto, then sha256), for comparison.
const h0 = performance.now();
let hits = 0;
for (const record of records) if (seen.has(backtestKey(record.request as DecisionRequest))) hits++;
const hitMs = performance.now() - h0;
const hitRate = (hits * 1000) / hitMs;
const c0 = performance.now();
let digests = 0;
for (const record of records) digests += sha256Hex(canonicalJson(record.request)).length > 0 ? 1 : 0;
const oldKeyRate = (digests * 1000) / (performance.now() - c0);
say(
  `a cache hit (backtestKey and a lookup): ${count(hitRate)} per second; the key computed as before (canonicalJson, sha256): ${count(oldKeyRate)} per second`,
);

const rssMiB = process.resourceUsage().maxRSS / 1024;
say(`peak RSS ${rssMiB.toFixed(0)} MiB (the history of ${count(records.length)} decisions held in memory, as backtest() is given it, and the pool's threads)`);

const wholeMet = wholeRate >= TARGET;
const missMet = missRate >= TARGET;
const perMissMs = (missOne.ms / sample.length).toFixed(3);
const perEvaluationMs = (missOne.ms / Math.max(1, missEvaluations)).toFixed(3);
const verdict = [
  `Target (≥ ${count(TARGET)} decisions/s offline): ${wholeMet ? 'met' : `**missed**`} over the whole history (${count(wholeRate)}/s with ${pool.workers} worker threads), ${missMet ? 'met' : `**missed**`} on distinct requests (${count(missRate)}/s).`,
  `What bounds a cache miss is Cedar's evaluation of the request, in WebAssembly (TurboFan-compiled: neither the bench nor \`writ\` runs with the policy service's \`--liftoff-only\`): ${perEvaluationMs} ms an evaluation in one thread (${perMissMs} ms a distinct request), about 90 % of it inside Cedar's WebAssembly by a CPU profile, most of that turning the call's JSON into entities and context checked against the schema. So the decision point puts fewer and smaller requests to Cedar, deciding the same: it leaves out of context.arguments the optional attributes no policy reads (found in the policies' JSON form; a policy that reads the record whole, or context whole, keeps them all), it probes a request denied by default with the approval gates' approvals only when a permit that reads context.approval may apply to its principal, action and resource (a refund is probed, an e-mail no longer: ${kinds.filter((k) => k.startsWith('deny (default)')).join(', ')}), and a backtest's decision point (each worker's and the CLI's) remembers Cedar's evaluations by the exact request Cedar is given, so requests that differ only in arguments no policy reads (a ticket id, a currency) are evaluated once: the ${count(distinct)} distinct requests of the history took ${count(wholeEvaluations)} Cedar evaluations in one thread, the ${count(sample.length)} of the distinct-only sample ${count(missEvaluations)}. The pool runs one evaluation per worker thread at a time, so the distinct-only rate scales with the cores that are free: ${count(missRate)}/s on ${pool.workers} workers against ${count(missOneRate)}/s in one thread (×${(missRate / missOneRate).toFixed(2)}). The whole history runs faster because it repeats itself (${((distinct * 100) / records.length).toFixed(1)} % distinct requests): a hit costs the request's key (its canonical JSON and its sha256, computed once for the lookup and the tally) and a lookup, in the main thread while the workers decide the misses; its ${count(wholeEvaluations)} Cedar evaluations take about ${seconds(wholeEvaluations * Number(perEvaluationMs))} of one thread, ${seconds((wholeEvaluations * Number(perEvaluationMs)) / pool.workers)} on ${pool.workers} workers, of the ${seconds(whole.ms)} it takes (×${(wholeRate / wholeOneRate).toFixed(2)} the one thread's ${count(wholeOneRate)}/s), the rest the main thread's keys and tally on the same cores. A history of requests that differ in what the policies read replays at the distinct-only rate or below, about ${Math.round(DECISIONS / missRate)} s for ${count(DECISIONS)} decisions on ${pool.workers} workers. Not done, as they would change what is decided or gain nothing measurable: calling Cedar without the schema (it types the entities and holds the action groups) or without its request validation (within the noise).`,
]
  .filter((line) => line !== '')
  .join(' ');
say(verdict.replaceAll('**', ''));

const text = `## Policy backtest

Measured ${new Date().toISOString().slice(0, 10)} on ${machine}, load average ${loadAtEnd} after the timed runs (a shared machine: other work may run alongside); Node ${process.version}. Reproduce with \`./dev bench backtest\` (BENCH_DECISIONS, BENCH_DISTINCT, BENCH_WORKERS, BENCH_RUNS, BENCH_SEED). \`backtestParallel\` (libs/cli/src/backtest-pool.ts: what \`writ policy backtest\` runs on each page it reads, the cache misses decided by ${pool.workers} worker threads, one per core, each with the candidate's decision point) and \`backtest()\` of @writ/policy-engine in one thread, offline: no ClickHouse, no I/O; the two give the same report (checked). History: ${count(records.length)} recorded decisions in ${count(runs)} runs over ${DAYS} days, synthetic and seeded (BENCH_SEED=${SEED}): three tenants, 11 agents each (support, sales, ops), runs that list and read tickets, then refund (amounts from $5 to $1,520, approvals by managers and the re-decision after each), read another ticket, export (100 to 5,000 rows), e-mail or delete a customer; ${TENANTS.reduce((n, t) => n + t.tickets, 0).toLocaleString('en-US')} tickets, a few of them most of the traffic, each with its customer (${TENANTS.reduce((n, t) => n + t.customers, 0).toLocaleString('en-US')} in all), its support agent and the refund it asks for, so a ticket revisited repeats some requests; ${count(distinct)} distinct requests (${((distinct * 100) / records.length).toFixed(1)} %), recorded by the repository's policies (${[...recordedMix].map(([d, n]) => `${d} ${count(n)}`).join(', ')}). Candidate: the repository's policies plus one enforced forbid (refunds to watch-listed customers).

| measure | result | target |
|---|---|---|
| whole history: ${count(whole.report.replayed)} decisions replayed (${count(whole.report.distinctRequests)} distinct requests, identical ones decided once; ${count(wholeEvaluations)} Cedar evaluations in one thread), ${pool.workers} worker threads | ${rates(whole)}; ${seconds(whole.ms)} | ≥ ${count(TARGET)} decisions/s |
| the same in one thread (\`backtest()\`, one run) | ${count(wholeOneRate)} decisions/s; ${seconds(wholeOneMs)} | |
| distinct requests only: ${count(sample.length)} requests, each once, empty caches (every one a miss of the backtest's cache; ${count(missEvaluations)} Cedar evaluations in one thread, the others remembered by the decision point), ${pool.workers} worker threads | ${rates(miss)}; ${seconds(miss.ms)} | ≥ ${count(TARGET)} decisions/s |
| the same in one thread | ${rates(missOne)}; ${perMissMs} ms each, ${perEvaluationMs} ms a Cedar evaluation | |
| one decision, by the recorded outcome (mean, one thread, nothing remembered) | ${kinds.join('; ')} | |
| starting the pool (${pool.workers} threads, each building the candidate's decision point) | ${count(poolMs)} ms | |
| a cache hit (the request's key: its canonical JSON and sha256; a lookup) | ${count(hitRate)} per second (the key as computed before, with \`canonicalJson\`: ${count(oldKeyRate)} per second) | |
| decisions the candidate changes | ${count(whole.report.changed)} (${Object.entries(whole.report.transitions)
  .map(([t, n]) => `${t.replace('->', ' → ')} ${count(n)}`)
  .join(', ')}); ${count(whole.report.reasonChanged)} the same with other determining policies | |
| peak RSS of the process (the whole history in memory, as \`backtest()\` is given it, and the pool's threads, each with its own Cedar) | ${rssMiB.toFixed(0)} MiB | |

${verdict} The CLI reads its window page by page (20,000 decisions a page from ClickHouse) and replays each with \`backtestParallel\` (\`--workers N\`, default one per core; a page under 2,000 decisions in one thread), with one cache across the pages, so it holds a page of decisions and the cache's keys, not the whole history.
`;
console.log(`\n${text}`);
if (process.env['BENCH_NO_DOC'] !== '1') console.log(`wrote ${await writeBenchmarkSection('Policy backtest', text)}`);
