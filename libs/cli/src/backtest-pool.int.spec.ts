// The backtest pool on real worker threads and the real Cedar engine: a history decided by the
// repository's policies (allow, approval_required with the re-decisions after each approval, default
// denies after the approval probes, forbids, requests the PDP refuses, decisions without a request)
// replayed by backtestParallel with 1, 2 and 3 workers, batches and slices of several sizes, must
// give backtest()'s report exactly; the enforced set gives back every recorded decision.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backtest, canonicalRequestJson, compilePolicySet, createDecisionPoint, decideOrRefuse, readPolicySetSources } from '@writ/policy-engine';
import type { BacktestCache, DecisionRequest, LoadedPolicySet, RecordedDecision } from '@writ/policy-engine';
import { backtestParallel, createBacktestPool } from './backtest-pool.ts';
import type { BacktestPool } from './backtest-pool.ts';
import { seededRandom } from '@writ/decider/testing';

const POLICIES = fileURLToPath(new URL('../../../policies/', import.meta.url));
const RULE = 'refund-watchlist-customers';

let recordedSet: LoadedPolicySet;
let candidateSet: LoadedPolicySet;
let records: RecordedDecision[] = [];
const pools: BacktestPool[] = [];

/** Requests of helpdesk runs: reads, refunds of many amounts (some re-decided with approvals), exports, deletions, and a few the PDP refuses. */
function requests(n: number, seed: number): DecisionRequest[] {
  const random = seededRandom(seed).next;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const agents = [
    { id: 'acme-support-1', role: 'support', owner: 'olivia' },
    { id: 'acme-support-2', role: 'support', owner: 'oscar' },
    { id: 'acme-sales-1', role: 'sales', owner: 'sam' },
  ];
  const tools = {
    get: { name: 'tickets.get', version: '1.0.0', effect: 'read', risk: 'low' },
    refund: { name: 'refunds.issue', version: '1.2.0', effect: 'write', risk: 'medium' },
    export: { name: 'customers.export', version: '2.0.0', effect: 'read', risk: 'medium' },
    delete: { name: 'customers.delete', version: '1.0.0', effect: 'destructive', risk: 'high' },
    unknown: { name: 'mystery.tool', version: '1.0.0', effect: 'teleport', risk: 'low' }, // refused: no such effect
  } as const;
  const out: DecisionRequest[] = [];
  while (out.length < n) {
    const agent = pick(agents);
    const steps = Math.floor(random() * 3);
    const base = { tenant: pick(['acme', 'globex']), agent, runStats: { steps, spendMicros: steps * 1_000, callsInWindow: 1 } };
    const kind = random();
    if (kind < 0.5) {
      const args = {
        amount_cents: pick([500, 9_999, 10_000, 12_000, 45_000, 60_000, 90_000]),
        currency: 'USD',
        customer_id: pick(['C-1', 'C-17', 'C-2', 'C-300']),
        ticket_id: `T-${Math.floor(random() * 5)}`,
        ticket_tags: random() < 0.9 ? ['refund_approved'] : ['vip'],
      };
      out.push({ ...base, tool: tools.refund, arguments: args });
      out.push({ ...base, tool: tools.refund, arguments: args, approvals: [{ approverId: 'maria', role: 'manager' }] });
      if (random() < 0.5) {
        out.push({
          ...base,
          tool: tools.refund,
          arguments: args,
          approvals: [
            { approverId: 'maria', role: 'manager' },
            { approverId: pick(['mike', 'olivia']), role: 'manager' },
          ],
        });
      }
    } else if (kind < 0.75) out.push({ ...base, tool: tools.get, arguments: { ticket_id: `T-${Math.floor(random() * 20)}` } });
    else if (kind < 0.88) out.push({ ...base, tool: tools.export, arguments: { rows: pick([100, 1_000, 1_001, 5_000]), format: 'csv' } });
    else if (kind < 0.96) out.push({ ...base, tool: tools.delete, arguments: { customer_id: pick(['C-1', 'C-2']) } });
    else out.push({ ...base, tool: tools.unknown as unknown as DecisionRequest['tool'], arguments: {} });
  }
  return out.slice(0, n);
}

beforeAll(async () => {
  const sources = await readPolicySetSources(POLICIES);
  recordedSet = compilePolicySet(sources);
  candidateSet = compilePolicySet({
    ...sources,
    policies: {
      ...sources.policies,
      [RULE]: `@id("${RULE}")
forbid (principal, action == Writ::Action::"invoke", resource == Writ::Tool::"refunds.issue")
when { context.arguments has customer_id && context.arguments.customer_id like "C-1*" };
`,
    },
  });
  const recorded = createDecisionPoint(recordedSet);
  records = requests(1_500, 42).map((request, i): RecordedDecision => {
    const answer = decideOrRefuse(recorded, request);
    return {
      actionId: `action-${i}`,
      runId: `run-${Math.floor(i / 4)}`,
      tenant: request.tenant,
      tool: request.tool.name,
      occurredAt: 1_700_000_000_000 + i * 1_000,
      decision: answer.decision,
      determiningPolicies: answer.determiningPolicies,
      policySetHash: recordedSet.hash,
      // As the CLI reads it: parsed from the canonical request_json; every 50th recorded before v5 (no request).
      request: i % 50 === 49 ? undefined : (JSON.parse(canonicalRequestJson(request)) as DecisionRequest),
    };
  });
}, 60_000);

afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.close()));
});

const started = async (set: LoadedPolicySet, options: Parameters<typeof createBacktestPool>[1]) => {
  const pool = await createBacktestPool(set, options);
  pools.push(pool);
  return pool;
};

describe('backtest pool (worker threads, Cedar)', () => {
  it('the history covers every kind of decision, and requests the PDP refuses', () => {
    const kinds = new Set(records.map((r) => (r.decision === 'deny' && r.determiningPolicies.length === 0 ? 'default-deny' : r.decision)));
    expect([...kinds].sort()).toEqual(['allow', 'approval_required', 'default-deny', 'deny']);
    expect(records.some((r) => r.tool === 'mystery.tool')).toBe(true);
    expect(records.some((r) => r.request === undefined)).toBe(true);
  });

  it('the enforced set on its own history through the pool: every recorded decision again', async () => {
    const pool = await started(recordedSet, { workers: 2 });
    const report = await backtestParallel(records, createDecisionPoint(recordedSet), pool, { minRecords: 0, sliceSize: 100 });
    expect(report).toMatchObject({ total: records.length, changed: 0, reasonChanged: 0, transitions: {}, examples: [] });
    expect(report.skipped).toBe(records.filter((r) => r.request === undefined).length);
  });

  it('a candidate: backtest()’s report exactly, with 1, 2 or 3 workers, any batch and slice size, one cache or pages sharing one', async () => {
    const candidate = createDecisionPoint(candidateSet);
    const alone = backtest(records, createDecisionPoint(candidateSet), { examplesPerTransition: 4 });
    expect(alone.changed).toBeGreaterThan(0);
    expect(Object.keys(alone.transitions).length).toBeGreaterThan(1);
    for (const [workers, batchSize, sliceSize] of [
      [1, 32, 2_048],
      [2, 1, 16],
      [2, 32, 333],
      [3, 7, 100],
    ] as const) {
      const pool = await started(candidateSet, { workers, batchSize });
      expect(pool.workers).toBe(workers);
      const parallel = await backtestParallel(records, candidate, pool, { examplesPerTransition: 4, minRecords: 0, sliceSize });
      expect(JSON.stringify(parallel)).toBe(JSON.stringify(alone));
    }
    // Pages of one history with one cache, as the CLI replays them.
    const pool = await started(candidateSet, { workers: 2, batchSize: 16 });
    const cache: BacktestCache = new Map();
    const aloneCache: BacktestCache = new Map();
    for (const page of [records.slice(0, 400), records.slice(400, 1_100), records.slice(1_100)]) {
      const parallel = await backtestParallel(page, candidate, pool, { cache, minRecords: 0, sliceSize: 128 });
      expect(JSON.stringify(parallel)).toBe(JSON.stringify(backtest(page, createDecisionPoint(candidateSet), { cache: aloneCache })));
    }
    // The same answers under the same keys (backtest() caches the whole Decision; the pool its two fields).
    const answers = (c: BacktestCache) =>
      [...c].map(([key, { decision, determiningPolicies }]) => [key, decision, determiningPolicies] as const).sort(([a], [b]) => a.localeCompare(b));
    expect(answers(cache)).toEqual(answers(aloneCache));
  });

  it('decide: the answers in the order asked, those of decideOrRefuse here; a set that cannot be built fails the pool; a closed pool decides nothing', async () => {
    const pool = await started(candidateSet, { workers: 2, batchSize: 3 });
    const asked = requests(40, 7);
    const here = createDecisionPoint(candidateSet);
    const answers = await pool.decide(asked.map(canonicalRequestJson));
    expect(answers).toEqual(
      asked.map((request) => {
        const { decision, determiningPolicies } = decideOrRefuse(here, request);
        return { decision, determiningPolicies };
      }),
    );
    await expect(createBacktestPool({ ...candidateSet, hash: 'f'.repeat(64) }, { workers: 1 })).rejects.toThrow(
      'POLICY_SET_INVALID: invalid policy set: its hash does not match its content',
    );
    await pool.close();
    await expect(pool.decide([canonicalRequestJson(asked[0] as DecisionRequest)])).rejects.toThrow('backtest: the pool is closed');
  });
});
