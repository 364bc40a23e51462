// Latency of DecisionPoint.decide() on the real policy set: 10k calls over a mix of requests,
// each timed on its own. Not a test; prints figures. Run from the repo root:
//   node --conditions=writ-source bench/policy/decide.bench.ts [calls]
import { createDecisionPoint, loadPolicySet } from '@writ/policy-engine';
import type { DecisionRequest } from '@writ/policy-engine';

const calls = Number(process.argv[2] ?? 10_000);
const agent = { id: 'support-bot-1', role: 'support', owner: 'olivia' };
const runStats = { steps: 3, spendMicros: 12_000, callsInWindow: 1 };
const refund = { name: 'refunds.issue', version: '1.2.0', effect: 'write', risk: 'medium' } as const;
const refundArgs = (cents: number) => ({ ticket_id: 'T-1042', amount_cents: cents, currency: 'USD', ticket_tags: ['refund_approved'] });

const mix: Record<string, DecisionRequest> = {
  'allow (read tool)': {
    tenant: 'acme',
    agent,
    tool: { name: 'tickets.get', version: '1', effect: 'read', risk: 'low' },
    arguments: { ticket_id: 'T-1' },
    runStats,
  },
  'allow (refund <= $100)': { tenant: 'acme', agent, tool: refund, arguments: refundArgs(2_500), runStats },
  'deny (forbid: export 1001 rows)': {
    tenant: 'acme',
    agent,
    tool: { name: 'customers.export', version: '2', effect: 'read', risk: 'medium' },
    arguments: { rows: 1_001 },
    runStats,
  },
  'approval_required (refund > $100)': { tenant: 'acme', agent, tool: refund, arguments: refundArgs(15_000), runStats },
  'deny (default, after approval probe)': { tenant: 'acme', agent: { ...agent, role: 'sales' }, tool: refund, arguments: refundArgs(2_500), runStats },
};

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
const fmt = (ms: number) => `${(ms * 1000).toFixed(0).padStart(5)} µs`;

const loadStart = performance.now();
const policySet = await loadPolicySet('policies');
const pdp = createDecisionPoint(policySet);
console.log(`policy set ${policySet.version} (${policySet.hash.slice(0, 12)}), ${Object.keys(policySet.policies).length} policies`);
console.log(`load + validate + pre-parse: ${(performance.now() - loadStart).toFixed(1)} ms`);
console.log(`node ${process.version}, ${calls} calls, each request kind ${calls / Object.keys(mix).length} times\n`);

const requests = Object.entries(mix);
for (let i = 0; i < 1_000; i++) pdp.decide(requests[i % requests.length]![1]); // warm-up (JIT, wasm)

const all: number[] = [];
const byKind = new Map<string, number[]>(requests.map(([kind]) => [kind, []]));
for (let i = 0; i < calls; i++) {
  const [kind, request] = requests[i % requests.length]!;
  const start = performance.now();
  const decision = pdp.decide(request);
  const elapsed = performance.now() - start;
  if (!kind.startsWith(decision.decision)) throw new Error(`${kind}: got ${decision.decision}`);
  all.push(elapsed);
  byKind.get(kind)!.push(elapsed);
}

const row = (label: string, samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  console.log(`${label.padEnd(38)} median ${fmt(percentile(sorted, 50))}   p99 ${fmt(percentile(sorted, 99))}   max ${fmt(sorted.at(-1) ?? Number.NaN)}`);
};
for (const [kind, samples] of byKind) row(kind, samples);
row('all', all);
