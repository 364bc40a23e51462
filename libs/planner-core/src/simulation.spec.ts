// The saga under a hostile bus, shared by the invariant and the replay specs (no tests here).
import { evolveAll } from '@writ/decider';
import type { SeededRandom } from '@writ/decider/testing';
import { AGENT, MINUTE, RUN, SECOND, T0, TENANT, planner, propose, reservationFor, warrantFor } from './fixtures.spec.ts';
import type { PlannerCommand, ProposeAction } from './commands.ts';
import type { PlannerEvent } from './events.ts';
import type { PlannerState } from './model.ts';

/**
 * The saga under a hostile bus: proposals, policy and budget answers and execution outcomes are
 * delivered in random order, some of them twice, with timer ticks in between, a run that may
 * start late or be ended early, and a final sweep. Whatever the order, every proposal ends in
 * exactly one ActionCompleted, nothing executes without both a warrant and a reservation, and
 * every reservation is either spent by an execution or released exactly once.
 */
export interface World {
  readonly log: PlannerEvent[];
  readonly proposed: Set<string>;
  readonly reservedDelivered: Set<string>;
  readonly state: PlannerState;
  readonly delivered: PlannerCommand[];
  readonly maxSteps: number | null;
}

export function simulate(random: SeededRandom): World {
  let now = T0;
  let state = planner.initialState();
  const log: PlannerEvent[] = [];
  const proposed = new Set<string>();
  const reservedDelivered = new Set<string>();
  const delivered: PlannerCommand[] = [];
  const inbox: PlannerCommand[] = [];
  const maxSteps = random.chance(0.3) ? random.between(1, 6) : null;
  const tools = ['refunds.create', 'tickets.read'];

  inbox.push({
    type: 'StartRun',
    run_id: RUN,
    tenant_id: TENANT,
    agent_id: AGENT,
    goal: 'fuzz',
    limits: { max_steps: maxSteps, wall_clock_ms: random.chance(0.2) ? random.between(5, 60) * SECOND : null },
    now,
  });
  function answer(proposal: ProposeAction): void {
    const id = proposal.action_id;
    const warrant = warrantFor(id, {
      tool: proposal.tool,
      args_sha256: random.chance(0.03) ? 'f'.repeat(64) : proposal.args_sha256,
      not_after: now + (random.chance(0.1) ? SECOND : 10 * MINUTE),
    });
    const roll = random.next();
    if (roll < 0.65) inbox.push({ type: 'RecordPolicyDecision', run_id: RUN, action_id: id, verdict: { decision: 'allow', warrant }, now });
    else if (roll < 0.8)
      inbox.push({ type: 'RecordPolicyDecision', run_id: RUN, action_id: id, verdict: { decision: 'deny', determining_policies: ['p'] }, now });
    else {
      inbox.push({ type: 'RecordPolicyDecision', run_id: RUN, action_id: id, verdict: { decision: 'approval_required' }, now });
      const approved = random.chance(0.6);
      inbox.push({
        type: 'RecordPolicyDecision',
        run_id: RUN,
        action_id: id,
        verdict: approved ? { decision: 'allow', warrant } : { decision: 'deny', determining_policies: ['approver-said-no'] },
        now,
      });
    }
    if (random.chance(0.8)) {
      const reservation = reservationFor(id, { amount_micros: proposal.estimated_cost_micros, expires_at: now + (random.chance(0.05) ? SECOND : 60 * MINUTE) });
      inbox.push({ type: 'RecordBudgetResult', run_id: RUN, action_id: id, result: { outcome: 'reserved', reservation }, now });
    } else {
      inbox.push({
        type: 'RecordBudgetResult',
        run_id: RUN,
        action_id: id,
        result: { outcome: 'refused', scope: 'run', kind: 'money', limit: 1, used: 1, requested: proposal.estimated_cost_micros },
        now,
      });
    }
  }

  const proposals = random.between(3, 14);
  for (let i = 0; i < proposals; i += 1) {
    const id = `a${i}`;
    proposed.add(id);
    const args = `args-${random.int(3)}`;
    const proposal = propose(id, {
      tool: random.pick(tools),
      args_sha256: args.padEnd(64, '0'),
      idempotency_key: random.chance(0.1) ? `key-a${random.int(i + 1)}` : `key-${id}`,
      agent_id: random.chance(0.05) ? 'intruder' : AGENT,
      agent_killed: random.chance(0.05),
      invalid: random.chance(0.05) ? { reason_code: 'args_invalid', field: 'amount', message: 'too much' } : null,
      now,
    });
    inbox.push(proposal);
    // The PDP and the accountant react to the same proposal as the planner: their answers may be
    // delivered before it (held), after it, or around a rejection.
    answer(proposal);
  }
  if (random.chance(0.15)) inbox.push({ type: 'EndRun', run_id: RUN, status: random.pick(['completed', 'killed'] as const), reason: 'fuzz', now });

  const react = (event: PlannerEvent): void => {
    switch (event.type) {
      case 'ExecutionRequested':
        // Now and then the executor never answers (a crash): the timer must end the action.
        if (random.chance(0.93)) {
          inbox.push({
            type: 'RecordExecutionOutcome',
            run_id: RUN,
            action_id: event.action_id,
            outcome: random.pick(['succeeded', 'succeeded', 'failed', 'unknown'] as const),
            cost_micros: random.int(3_000),
            currency: 'USD',
            result_json: null,
            result_ref: null,
            error_code: null,
            message: 'fuzz',
            now,
          });
        }
        return;
      default:
        return;
    }
  };

  const deliver = (command: PlannerCommand): void => {
    const timed = { ...command, now } as PlannerCommand;
    const events = planner.decide(timed, state);
    state = evolveAll(planner, events, state);
    log.push(...events);
    delivered.push(timed);
    if (timed.type === 'RecordBudgetResult' && timed.result.outcome === 'reserved') reservedDelivered.add(timed.action_id);
    for (const event of events) react(event);
  };

  let steps = 0;
  while (inbox.length > 0 && steps < 2_000) {
    steps += 1;
    now += random.int(3 * SECOND);
    const [command] = inbox.splice(random.int(inbox.length), 1);
    if (command === undefined) break;
    deliver(command);
    if (random.chance(0.2)) inbox.push(command); // Kafka redelivers
    if (random.chance(0.1)) deliver({ type: 'ExpireActions', run_id: RUN, now });
    if (random.chance(0.02)) now += random.between(1, 40) * MINUTE; // a long pause: approvals and executions time out
  }
  now += 3 * 60 * MINUTE;
  deliver({ type: 'ExpireActions', run_id: RUN, now });
  return { log, proposed, reservedDelivered, state, delivered, maxSteps };
}
