// backtestParallel without threads: a pool double answers with the same decision point as the
// thread that tallies, late and out of order, and the report must be backtest()'s, byte for byte,
// whatever the slices, the batches and the cache shared by several calls. The real pool (worker
// threads, Cedar) is in backtest-pool.int.spec.ts.
import { describe, expect, it } from 'vitest';
import { WritError } from '@writ/errors';
import { backtest, decideOrRefuse } from '@writ/policy-engine';
import type { BacktestAnswer, BacktestCache, Decision, DecisionPoint, DecisionRequest, PolicyDecision, RecordedDecision } from '@writ/policy-engine';
import { backtestParallel } from './backtest-pool.ts';
import type { BacktestPool } from './backtest-pool.ts';
import { seededRandom } from '@writ/decider/testing';

const decision = (value: PolicyDecision, policies: string[]): Decision => ({
  decision: value,
  determiningPolicies: policies,
  errors: [],
  policySetHash: 'candidate',
  warnings: [],
  shadowResults: [],
});

/** A candidate without Cedar: a refund over 100 is denied, over 50 needs approval, a tool "broken" is refused (a WritError). */
function fakeCandidate(asked: DecisionRequest[] = []): DecisionPoint {
  return {
    policySetHash: 'candidate',
    version: '2.0.0',
    history: [],
    escalations: {},
    decide(request) {
      asked.push(request);
      const cents = Number(request.arguments['amount_cents'] ?? 0);
      if (request.tool.name === 'broken') throw new WritError('POLICY_REQUEST_INVALID', 'tool refused');
      if (cents > 100) return decision('deny', ['over-100']);
      if (cents > 50) return decision(request.approvals?.length ? 'allow' : 'approval_required', ['over-50']);
      return decision('allow', ['small']);
    },
    authorizeApproval: () => ({ decision: 'deny', determiningPolicies: [], errors: [], policySetHash: 'candidate' }),
  };
}

/** A pool double: decides with `candidate` (as a worker would, from the JSON), answering each batch after a random delay. */
function fakePool(candidate: DecisionPoint, seed: number, calls: string[][] = []): BacktestPool {
  const random = seededRandom(seed).next;
  return {
    workers: 3,
    policySetHash: candidate.policySetHash,
    async decide(requests) {
      calls.push([...requests]);
      const batches: Promise<BacktestAnswer[]>[] = [];
      for (let i = 0; i < requests.length; i += 5) {
        const batch = requests.slice(i, i + 5);
        batches.push(
          new Promise((resolve) =>
            setTimeout(() => resolve(batch.map((json) => decideOrRefuse(candidate, JSON.parse(json) as DecisionRequest))), Math.floor(random() * 4)),
          ),
        );
      }
      return (await Promise.all(batches)).flat();
    },
    close: async () => undefined,
  };
}

/** A history: repeated and new requests (keys in varying order), some without a request, some refused, recorded decisions of all kinds. */
function history(n: number, seed: number): RecordedDecision[] {
  const random = seededRandom(seed).next;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const decisions: PolicyDecision[] = ['allow', 'deny', 'approval_required'];
  return Array.from({ length: n }, (_, i) => {
    const cents = Math.floor(random() * 30) * 5;
    const args = random() < 0.5 ? { amount_cents: cents, currency: 'USD' } : { currency: 'USD', amount_cents: cents };
    const request: DecisionRequest = {
      tenant: pick(['acme', 'globex']),
      agent: { id: pick(['a-1', 'a-2']), role: 'support', owner: 'o' },
      tool: { name: random() < 0.03 ? 'broken' : 'refunds.issue', version: '1', effect: 'write', risk: 'medium' },
      arguments: args,
      runStats: { steps: Math.floor(random() * 3), spendMicros: 0, callsInWindow: 1 },
      ...(random() < 0.2 ? { approvals: [{ approverId: 'm', role: 'manager' }] } : {}),
    };
    return {
      actionId: `action-${i}`,
      runId: `run-${i % 17}`,
      tenant: request.tenant,
      tool: request.tool.name,
      occurredAt: 1_000 + i,
      decision: pick(decisions),
      determiningPolicies: random() < 0.5 ? ['small'] : ['over-50', 'small'],
      policySetHash: 'recorded',
      request: random() < 0.05 ? undefined : request,
    };
  });
}

describe('backtestParallel', () => {
  it('gives backtest()’s report, whatever the slices and however late the answers come', async () => {
    for (const [seed, sliceSize] of [
      [1, 1],
      [2, 7],
      [3, 64],
      [4, 5_000],
    ] as const) {
      const records = history(600, seed);
      const alone = backtest(records, fakeCandidate(), { examplesPerTransition: 2 });
      const candidate = fakeCandidate();
      const parallel = await backtestParallel(records, candidate, fakePool(candidate, seed), { examplesPerTransition: 2, minRecords: 0, sliceSize });
      expect(JSON.stringify(parallel)).toBe(JSON.stringify(alone));
      expect(parallel.changed).toBeGreaterThan(0);
    }
  });

  it('with a cache shared by the pages: each distinct request goes to the pool once, and the pages’ reports are backtest()’s', async () => {
    const records = history(900, 5);
    const asked: DecisionRequest[] = [];
    const candidate = fakeCandidate(asked);
    const calls: string[][] = [];
    const pool = fakePool(candidate, 5, calls);
    const cache: BacktestCache = new Map();
    const aloneCache: BacktestCache = new Map();
    for (const page of [records.slice(0, 300), records.slice(300, 650), records.slice(650)]) {
      const parallel = await backtestParallel(page, candidate, pool, { cache, minRecords: 0, sliceSize: 50 });
      expect(JSON.stringify(parallel)).toBe(JSON.stringify(backtest(page, fakeCandidate(), { cache: aloneCache })));
    }
    const sent = calls.flat();
    expect(new Set(sent).size).toBe(sent.length);
    expect(sent.length).toBe(cache.size);
    expect(cache.size).toBe(aloneCache.size);
    // Every answer came from the pool: this thread's decision point decided nothing but what the pool was asked.
    expect(asked.length).toBe(sent.length);
  });

  it('a small input is replayed in this thread alone; a pool of another policy set is refused; a failure of the pool fails the call', async () => {
    const records = history(50, 9);
    const candidate = fakeCandidate();
    const calls: string[][] = [];
    const small = await backtestParallel(records, candidate, fakePool(candidate, 9, calls), { minRecords: 51 });
    expect(calls).toEqual([]);
    expect(JSON.stringify(small)).toBe(JSON.stringify(backtest(records, fakeCandidate())));

    const other = { ...fakePool(candidate, 9), policySetHash: 'another' };
    await expect(backtestParallel(records, candidate, other, { minRecords: 0 })).rejects.toThrow(
      'backtest: the pool decides for policy set another, not the candidate candidate',
    );

    const failing: BacktestPool = { ...fakePool(candidate, 9), decide: () => Promise.reject(new Error('backtest: Cedar broke')) };
    await expect(backtestParallel(records, candidate, failing, { minRecords: 0, sliceSize: 10 })).rejects.toThrow('backtest: Cedar broke');
  });
});
