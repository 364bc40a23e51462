import { describe, expect, it } from 'vitest';
import { AGENT, MINUTE, RUN, SECOND, T0, admission, completed, propose, proposalOf, runStarted, spec } from './fixtures.spec.ts';
import type { ActionRejected, PlannerEvent } from './events.ts';
import type { RejectionReason } from './model.ts';

function rejected(actionId: string, reason_code: RejectionReason, message: string, extra: Partial<ActionRejected> = {}, at = T0 + SECOND): PlannerEvent[] {
  return [
    {
      type: 'ActionRejected',
      run_id: RUN,
      action_id: actionId,
      idempotency_key: `key-${actionId}`,
      reason_code,
      message,
      field: null,
      existing_action_id: null,
      rejected_at: at,
      ...extra,
    },
    completed(actionId, 'rejected', reason_code, message, at),
  ];
}

describe('ProposeAction: admission', () => {
  it('admits into a running run and asks the accountant at the same time as policy', () => {
    const state = spec.given([runStarted()]).when(propose('a1')).then(admission('a1'));
    expect(state.steps).toBe(1);
    expect(state.actions.get('a1')?.status).toBe('pending');
    expect(state.actions.get('a1')?.deadline).toBe(T0 + 31 * SECOND);
  });

  it('gives the PDP the run statistics: steps and spend so far, calls of this tool in the rate window', () => {
    const at = T0 + 2 * MINUTE;
    spec
      .given([
        runStarted(),
        ...admission('old', { now: T0 }),
        ...admission('recent', { now: T0 + 90 * SECOND }),
        ...admission('other-tool', { now: T0 + 100 * SECOND, tool: 'tickets.read' }),
        completed('recent', 'completed', 'succeeded', 'ok', T0 + 95 * SECOND, { cost_micros: 1_500 }),
      ])
      .when(propose('next', { now: at }))
      .then(admission('next', { now: at }, { steps: 3, spend_micros: 1_500, tool_calls_in_window: 1 }));
  });

  it('ignores the same proposal delivered again', () => {
    spec
      .given([runStarted(), ...admission('a1')])
      .when(propose('a1'))
      .thenNothing();
    spec
      .given([runStarted(), ...rejected('a1', 'kill_switch', 'x')])
      .when(propose('a1'))
      .thenNothing();
  });

  it('parks a proposal that arrives before its run started', () => {
    const command = propose('a1');
    const state = spec
      .given()
      .when(command)
      .then([{ type: 'ActionParked', run_id: RUN, action_id: 'a1', proposal: proposalOf(command), deadline: command.now + 30 * SECOND }]);
    expect(state.parked).toEqual(['a1']);
    expect(state.run_id).toBe(RUN);
  });

  it('refuses malformed proposals with the field and the rule', () => {
    spec
      .given([runStarted()])
      .when(propose('a1', { estimated_cost_micros: -1 }))
      .thenThrows('PLANNER_INVALID_COMMAND', { field: 'estimated_cost_micros' });
    spec
      .given([runStarted()])
      .when(propose('a1', { idempotency_key: '' }))
      .thenThrows('PLANNER_INVALID_COMMAND', { field: 'idempotency_key' });
    spec.given([runStarted()]).when(propose('')).thenThrows('PLANNER_INVALID_COMMAND', { field: 'action_id' });
  });
});

describe('ProposeAction: every rejection reason', () => {
  it('duplicate: the idempotency key is taken; points at the action holding it', () => {
    const message = `idempotency key key-a1 was already used in this run by action a1; that action's outcome answers this proposal`;
    const state = spec
      .given([runStarted(), ...admission('a1')])
      .when(propose('a2', { idempotency_key: 'key-a1' }))
      .then(rejected('a2', 'duplicate', message, { idempotency_key: 'key-a1', field: 'idempotency_key', existing_action_id: 'a1' }));
    expect(state.idempotency_keys.get('key-a1')).toBe('a1');
    expect(state.steps).toBe(1);
  });

  it('duplicate: also against a proposal still waiting for its run', () => {
    spec
      .given([{ type: 'ActionParked', run_id: RUN, action_id: 'a1', proposal: proposalOf(propose('a1')), deadline: T0 + 31 * SECOND }])
      .when(propose('a2', { idempotency_key: 'key-a1' }))
      .then(
        rejected('a2', 'duplicate', `idempotency key key-a1 was already used in this run by action a1; that action's outcome answers this proposal`, {
          idempotency_key: 'key-a1',
          field: 'idempotency_key',
          existing_action_id: 'a1',
        }),
      );
  });

  it('args_invalid and tool_unknown: what the service found, with the field', () => {
    spec
      .given([runStarted()])
      .when(propose('a1', { invalid: { reason_code: 'args_invalid', field: 'amount', message: 'amount must be at most 100' } }))
      .then(rejected('a1', 'args_invalid', 'amount must be at most 100', { field: 'amount' }));
    spec
      .given([runStarted()])
      .when(propose('a1', { invalid: { reason_code: 'tool_unknown', field: 'tool', message: 'no tool refunds.create' } }))
      .then(rejected('a1', 'tool_unknown', 'no tool refunds.create', { field: 'tool' }));
  });

  it('destination_not_allowed: refused before policy and budget, naming the argument and the rule, even before the run started', () => {
    const message =
      'arguments.to: "eve@evil.example" is not an allowed destination: its domain evil.example is not listed (email_domain must be one of acme.example, *.acme.example)';
    const invalid = { reason_code: 'destination_not_allowed', field: 'to', message } as const;
    const state = spec
      .given([runStarted()])
      .when(propose('a1', { invalid }))
      .then(rejected('a1', 'destination_not_allowed', message, { field: 'to' }));
    expect(state.steps).toBe(0);
    expect(state.actions.get('a1')?.status).toBe('rejected');
    spec
      .given()
      .when(propose('a1', { invalid }))
      .then(rejected('a1', 'destination_not_allowed', message, { field: 'to' }));
  });

  it('kill_switch: of the agent or of the tool, even before the run started', () => {
    spec
      .given([runStarted()])
      .when(propose('a1', { agent_killed: true }))
      .then(rejected('a1', 'kill_switch', `the kill switch of agent ${AGENT} is pulled`, { field: 'agent_id' }));
    spec
      .given()
      .when(propose('a1', { tool_killed: true }))
      .then(rejected('a1', 'kill_switch', 'the kill switch of tool refunds.create is pulled', { field: 'tool' }));
  });

  it('run_closed: the run ended', () => {
    spec
      .given([runStarted(), { type: 'RunEnded', run_id: RUN, status: 'completed', reason: 'done', ended_at: T0 }])
      .when(propose('a1'))
      .then(rejected('a1', 'run_closed', `run ${RUN} has ended (completed): it takes no more actions`));
  });

  it('agent_mismatch: another agent proposing into this run', () => {
    spec
      .given([runStarted()])
      .when(propose('a1', { agent_id: 'agent-2' }))
      .then(rejected('a1', 'agent_mismatch', `run ${RUN} belongs to agent ${AGENT}, not agent-2`, { field: 'agent_id' }));
  });

  it('wall_clock_exceeded: at and after started_at + wall_clock_ms', () => {
    const given = [runStarted({ wall_clock_ms: MINUTE })];
    spec
      .given(given)
      .when(propose('a1', { now: T0 + MINUTE - 1 }))
      .then(admission('a1', { now: T0 + MINUTE - 1 }));
    spec
      .given(given)
      .when(propose('a1', { now: T0 + MINUTE }))
      .then(rejected('a1', 'wall_clock_exceeded', `run ${RUN} reached its wall-clock limit of 60000 ms`, {}, T0 + MINUTE));
  });

  it('step_limit: admitted actions count, rejected ones do not', () => {
    const given = [
      runStarted({ max_steps: 2 }),
      ...admission('a1', { tool: 't1' }),
      ...admission('a2', { tool: 't2' }),
      ...rejected('x', 'kill_switch', 'killed'),
    ];
    spec
      .given(given)
      .when(propose('a3'))
      .then(rejected('a3', 'step_limit', `run ${RUN} reached its step limit of 2 actions`));
    spec
      .given([runStarted({ max_steps: 0 })])
      .when(propose('a1'))
      .then(rejected('a1', 'step_limit', `run ${RUN} reached its step limit of 0 actions`));
  });

  it('loop_detected: the threshold-th identical call in the window is a loop', () => {
    const same = { args_sha256: 'same'.padEnd(64, '0') };
    const given = [runStarted({ loop_threshold: 3, loop_window: 4 }), ...admission('a1', same), ...admission('a2', same)];
    spec
      .given(given)
      .when(propose('a3', same))
      .then(
        rejected(
          'a3',
          'loop_detected',
          'this would be call 3 of tool refunds.create with identical arguments among the last 4 actions (loop threshold 3); change the arguments or the approach',
        ),
      );
    // Different arguments, or the same tool with other arguments, are not a loop.
    spec
      .given(given)
      .when(propose('a3'))
      .then(admission('a3', {}, { steps: 2, tool_calls_in_window: 2 }));
    // Once the identical calls scroll out of the window, the call is allowed again.
    const scrolled = [...given, ...admission('b1'), ...admission('b2'), ...admission('b3')];
    spec
      .given(scrolled)
      .when(propose('a3', same))
      .then(admission('a3', same, { steps: 5, tool_calls_in_window: 5 }));
  });
});
