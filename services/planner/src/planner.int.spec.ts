// The planner service in-process against the real broker: the other services' events are produced
// by the test, the planner's outputs read back from the real topics (filtered by this file's tenants).
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, StackContextManager, TracerProvider } from '@opentelemetry/sdk-trace';
import { Module } from '@nestjs/common';
import type { DynamicModule, INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventProducer, contractsSerde, createKafka, silentLogger, writEvent } from '@writ/bus';
import type { OutgoingEvent } from '@writ/bus';
import { TOPICS, actionIdFor, newMetadata } from '@writ/contracts';
import type { EventPayloads, EventType, Metadata, Reservation, Warrant } from '@writ/contracts';
import { canonicalJson, sha256Canonical } from '@writ/crypto';
import { SERVICE_CONFIG, loadServiceConfig } from '@writ/runtime';
import { WRIT_ATTR } from '@writ/telemetry';
import { testKafkaBrokers, waitFor } from '@writ/testing';
import { plannerConfigSpec } from './config.ts';
import { PlannerModule, PlannerService } from './planner.module.ts';

const brokers = testKafkaBrokers();
const TOOLS_DIR = fileURLToPath(new URL('../../../tools', import.meta.url));
const FILE_TENANTS = `t-planner-${randomUUID().slice(0, 8)}`;
const GATEWAY = 'gateway@0.1.0';
const WAIT = { timeoutMs: 30_000 } as const;

interface Seen {
  readonly type: string;
  readonly payload: { readonly meta: Metadata } & Record<string, unknown>;
}

/** Reads every run topic from the beginning (read_committed), keeping this file's tenants. */
class Collector {
  readonly seen: Seen[] = [];
  #consumer: KafkaJS.Consumer | undefined;

  async start(): Promise<void> {
    const kafka = createKafka({ brokers, clientId: 'planner-int-collector', logger: silentLogger });
    this.#consumer = kafka.consumer({
      'isolation.level': 'read_committed',
      kafkaJS: { groupId: `planner-int-collector-${randomUUID()}`, fromBeginning: true, autoCommit: false },
    });
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topics: [TOPICS.proposals, TOPICS.actions, TOPICS.budget, TOPICS.executions, TOPICS.outcomes] });
    await this.#consumer.run({
      eachMessage: ({ message }) => {
        if (message.value === null) return Promise.resolve();
        try {
          const decoded = contractsSerde.decode(message.value);
          const payload: Seen['payload'] = { ...decoded.payload };
          if (payload.meta.tenant_id.startsWith(FILE_TENANTS)) this.seen.push({ type: decoded.type, payload });
        } catch {
          // other tests' poison messages
        }
        return Promise.resolve();
      },
    });
  }

  async stop(): Promise<void> {
    await this.#consumer?.disconnect();
  }

  of(runId: string, type?: string, actionId?: string): Seen[] {
    return this.seen.filter(
      (event) =>
        event.payload.meta.run_id === runId &&
        (type === undefined || event.type === type) &&
        (actionId === undefined || event.payload.meta.action_id === actionId),
    );
  }

  /** Waits for the first `type` event of the run (and action). */
  async one(runId: string, type: string, actionId?: string): Promise<Seen> {
    return waitFor(() => this.of(runId, type, actionId)[0], {
      ...WAIT,
      what: `${type} for run ${runId}${actionId === undefined ? '' : ` action ${actionId}`}`,
    });
  }
}

/** Each planner instance of this file handles its own tenants, so two never answer the same run. */
const SHARED = `${FILE_TENANTS}-shared`;
const RESTART = `${FILE_TENANTS}-restart`;
const TWO = `${FILE_TENANTS}-two`;

async function bootPlanner(groupId: string, prefix: string, env: Record<string, string> = {}): Promise<INestApplicationContext> {
  const config = loadServiceConfig(26081, plannerConfigSpec, {
    WRIT_KAFKA_BROKERS: brokers.join(','),
    WRIT_KAFKA_GROUP_ID: groupId,
    WRIT_TOOLS_DIR: TOOLS_DIR,
    WRIT_PLANNER_TENANTS: `${prefix}*`,
    ...env,
  });
  @Module({})
  class TestRoot {}
  const root: DynamicModule = {
    module: TestRoot,
    global: true,
    imports: [PlannerModule],
    providers: [{ provide: SERVICE_CONFIG, useValue: config }],
    exports: [SERVICE_CONFIG],
  };
  return NestFactory.createApplicationContext(root, { logger: false });
}

/** One run of one test: a unique tenant, run and agent, and builders of the other services' events. */
class Scenario {
  readonly tenant: string;
  readonly run = randomUUID();
  readonly agent = `agent-${randomUUID().slice(0, 8)}`;

  constructor(
    readonly producer: EventProducer,
    prefix: string,
  ) {
    this.tenant = `${prefix}-${randomUUID().slice(0, 8)}`;
  }

  meta(actionId: string | null = null, producer = GATEWAY): Metadata {
    return newMetadata({ tenant_id: this.tenant, run_id: this.run, action_id: actionId, producer });
  }

  async send(...events: OutgoingEvent[]): Promise<void> {
    await this.producer.send(events);
  }

  event<T extends EventType>(type: T, body: Omit<EventPayloads[T], 'meta'>, actionId: string | null = null, producer = GATEWAY): OutgoingEvent {
    return writEvent(type, { meta: this.meta(actionId, producer), ...body } as EventPayloads[T]);
  }

  started(limits: Partial<EventPayloads['RunStarted']['limits']> = {}): OutgoingEvent {
    return this.event('RunStarted', {
      agent_id: this.agent,
      goal: 'work the ticket queue',
      limits: { max_steps: null, max_tool_calls: null, max_cost_micros: null, wall_clock_ms: null, currency: null, ...limits },
      mode: 'live',
    });
  }

  /** A proposal of tickets.get; returns the event and its action id. */
  proposal(key: string, args: Record<string, unknown> = { ticket_id: 'T-1' }): { event: OutgoingEvent; actionId: string } {
    const actionId = actionIdFor(this.tenant, this.run, key);
    const event = this.event(
      'ActionProposed',
      {
        agent_id: this.agent,
        tool: 'tickets.get',
        tool_version: null,
        arguments_json: canonicalJson(args),
        args_sha256: sha256Canonical(args),
        reason: 'triage',
        idempotency_key: key,
        mode: 'live',
        provenance: null,
      },
      actionId,
    );
    return { event, actionId };
  }

  warrant(args: Record<string, unknown> = { ticket_id: 'T-1' }): Warrant {
    return {
      key_id: 'warrant-1',
      agent_id: this.agent,
      tool: 'tickets.get',
      tool_version: '1.0.0',
      args_sha256: sha256Canonical(args),
      policy_set_hash: 'a'.repeat(64),
      not_after: Date.now() + 10 * 60_000,
      signature: 'c2lnbmF0dXJl',
    };
  }

  allow(actionId: string, args?: Record<string, unknown>): OutgoingEvent {
    return this.event(
      'PolicyDecided',
      {
        decision: 'allow',
        determining_policies: ['read-tools-allowed'],
        policy_set_hash: 'a'.repeat(64),
        warrant: this.warrant(args),
        errors: [],
        approval_requirement: null,
        approvals: [],
        denied_by: null,
        policy_set_version: 'test',
        run_stats: null,
        warnings: [],
        shadow_results: [],
        request_json: '',
      },
      actionId,
      'policy@0.1.0',
    );
  }

  deny(actionId: string): OutgoingEvent {
    return this.event(
      'PolicyDecided',
      {
        decision: 'deny',
        determining_policies: ['forbid-customer-delete'],
        policy_set_hash: 'a'.repeat(64),
        warrant: null,
        errors: [],
        approval_requirement: null,
        approvals: [],
        denied_by: null,
        policy_set_version: 'test',
        run_stats: null,
        warnings: [],
        shadow_results: [],
        request_json: '',
      },
      actionId,
      'policy@0.1.0',
    );
  }

  reservation(actionId: string): Reservation {
    return {
      reservation_id: actionId,
      amount_micros: 1000,
      currency: 'USD',
      expires_at: Date.now() + 60 * 60_000,
      key_id: 'reservation-1',
      signature: 'cmVzZXJ2ZWQ=',
    };
  }

  reserved(actionId: string): OutgoingEvent {
    return this.event(
      'BudgetReserved',
      { ...this.reservation(actionId), agent_id: this.agent, tool: 'tickets.get', tool_calls: 1, day: null, approval_step: null },
      actionId,
      'budget@0.1.0',
    );
  }

  refused(actionId: string): OutgoingEvent {
    return this.event(
      'BudgetRefused',
      {
        agent_id: this.agent,
        scope: 'agent_day',
        kind: 'money',
        limit: 5000,
        used: 4500,
        requested: 1000,
        currency: 'USD',
        subject: this.agent,
        rule: 'cap',
        period: new Date().toISOString().slice(0, 10),
        window_ms: null,
      },
      actionId,
      'budget@0.1.0',
    );
  }

  executed(actionId: string, result: Record<string, unknown> = { id: 'T-1', status: 'open' }): OutgoingEvent {
    return this.event(
      'ActionExecuted',
      {
        outcome: 'succeeded',
        tool: 'tickets.get',
        reservation_id: actionId,
        result_json: null,
        result_sha256: sha256Canonical(result),
        result_ref: sha256Canonical(result),
        cost_micros: 900,
        currency: 'USD',
        side_effect_refs: [],
        verified: null,
        attempts: 1,
        duration_ms: 12,
      },
      actionId,
      'executor@0.1.0',
    );
  }
}

describe('planner service (in-process, real broker)', () => {
  const collector = new Collector();
  const producer = new EventProducer({ brokers, clientId: 'planner-int-producer', logger: silentLogger });
  let app: INestApplicationContext;
  const scenario = (): Scenario => new Scenario(producer, SHARED);
  const spans = new InMemorySpanExporter();

  beforeAll(async () => {
    trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] }));
    context.setGlobalContextManager(new StackContextManager().enable());
    await producer.connect();
    await collector.start();
    // Short execution deadlines so that a stuck execution expires within the test.
    app = await bootPlanner(`writ.planner.int-${randomUUID()}`, SHARED, {
      WRIT_PLANNER_EXECUTION_START_TIMEOUT_MS: '1000',
      WRIT_PLANNER_EXECUTION_TIMEOUT_MS: '2000',
    });
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    await collector.stop();
    await producer.disconnect();
  }, 60_000);

  it('admits a proposal: ActionAdmitted with the tool version from the registry, and nothing asked of the accountant (it reads the proposal itself)', async () => {
    const s = scenario();
    const { event, actionId } = s.proposal('k1');
    const started = s.started();
    await s.send(started, event);
    const admitted = await collector.one(s.run, 'ActionAdmitted', actionId);
    expect(admitted.payload).toMatchObject({
      agent_id: s.agent,
      tool: 'tickets.get',
      tool_version: '1.0.0',
      arguments_json: '{"ticket_id":"T-1"}',
      run_stats: { steps: 0, currency: 'USD' },
    });
    expect(admitted.payload.meta.producer).toBe('planner@0.1.0');
    // RunStarted and ActionProposed share a topic and a key: the start is read first, the proposal is the cause.
    expect(admitted.payload.meta.causation_id).toBe(event.payload.meta.event_id);
    expect(collector.of(s.run, 'BudgetReservationRequested')).toHaveLength(0);
  });

  it('answers read before the proposal are held and applied at its admission: allowed and reserved first, executed right after', async () => {
    const s = scenario();
    const { event, actionId } = s.proposal('k1');
    await s.send(s.started(), s.allow(actionId), s.reserved(actionId));
    const planner = app.get(PlannerService).engine;
    await waitFor(() => (planner.runState(s.run)?.held.get(actionId)?.length ?? 0) === 2, { ...WAIT, what: 'both answers held' });
    expect(planner.runState(s.run)?.actions.get(actionId)).toBeUndefined();
    await s.send(event);
    const execution = await collector.one(s.run, 'ExecutionRequested', actionId);
    expect(execution.payload).toMatchObject({ idempotency_key: 'k1', reservation: { reservation_id: actionId }, warrant: { key_id: 'warrant-1' } });
    // One decision: the admission and the execution request share their cause, the proposal.
    const admitted = await collector.one(s.run, 'ActionAdmitted', actionId);
    expect(execution.payload.meta.causation_id).toBe(admitted.payload.meta.causation_id);
    expect(planner.runState(s.run)?.held.has(actionId)).toBe(false);
  });

  it('allow + reserved: ExecutionRequested carries the warrant and the reservation; executed: one ActionCompleted with the result', async () => {
    const s = scenario();
    const { event, actionId } = s.proposal('k1');
    await s.send(s.started(), event);
    await collector.one(s.run, 'ActionAdmitted', actionId);
    await s.send(s.allow(actionId), s.reserved(actionId));
    const execution = await collector.one(s.run, 'ExecutionRequested', actionId);
    expect(execution.payload).toMatchObject({
      tool: 'tickets.get',
      tool_version: '1.0.0',
      idempotency_key: 'k1',
      args_sha256: sha256Canonical({ ticket_id: 'T-1' }),
      warrant: { key_id: 'warrant-1', signature: 'c2lnbmF0dXJl', args_sha256: sha256Canonical({ ticket_id: 'T-1' }) },
      reservation: { reservation_id: actionId, amount_micros: 1000, key_id: 'reservation-1', signature: 'cmVzZXJ2ZWQ=' },
    });
    expect(execution.payload['deadline']).toBeGreaterThan(Date.now() - 5_000);

    await s.send(s.executed(actionId));
    const done = await collector.one(s.run, 'ActionCompleted', actionId);
    expect(done.payload).toMatchObject({
      status: 'completed',
      reason_code: 'SUCCEEDED',
      // The completion passes the result on by reference: the digest of its body, never the body.
      result_json: null,
      result_ref: sha256Canonical({ id: 'T-1', status: 'open' }),
      cost_micros: 900,
      currency: 'USD',
    });
    // A redelivered outcome changes nothing: still one terminal event.
    await s.send(s.executed(actionId));
    const { event: later, actionId: laterId } = s.proposal('k2', { ticket_id: 'T-2' });
    await s.send(later);
    await collector.one(s.run, 'ActionAdmitted', laterId);
    expect(collector.of(s.run, 'ActionCompleted', actionId)).toHaveLength(1);

    // One span per step, in the trace that came with the input, naming run, action and outcome.
    const steps = spans.getFinishedSpans().filter((span) => span.attributes[WRIT_ATTR.runId] === s.run && span.attributes[WRIT_ATTR.actionId] === actionId);
    const named = (name: string) => steps.filter((span) => span.name === name);
    expect(named('planner.admit')[0]?.attributes).toMatchObject({
      [WRIT_ATTR.tenantId]: s.tenant,
      [WRIT_ATTR.tool]: 'tickets.get',
      [WRIT_ATTR.agentId]: s.agent,
    });
    expect(
      named('planner.execute')
        .map((span) => span.attributes[WRIT_ATTR.decision] ?? span.attributes[WRIT_ATTR.budgetResult])
        .sort(),
    ).toEqual(['allow', 'reserved']);
    expect(named('planner.complete')[0]?.attributes).toMatchObject({ [WRIT_ATTR.toolOutcome]: 'succeeded', [WRIT_ATTR.terminalStatus]: 'completed' });
    const traceparent = (execution.payload.meta.trace as { traceparent: string } | null)?.traceparent ?? '';
    expect(traceparent).toContain(
      named('planner.execute')
        .find(
          (span) =>
            span.attributes['writ.planner.events'] === 'ReservationRecorded,ExecutionRequested' ||
            span.attributes['writ.planner.events'] === 'WarrantRecorded,ExecutionRequested',
        )
        ?.spanContext().spanId ?? 'no span',
    );
  });

  it('deny after the reservation: ActionCompleted(denied), the accountant releases on it; nothing executes', async () => {
    const s = scenario();
    const { event, actionId } = s.proposal('k1');
    await s.send(s.started(), event);
    await collector.one(s.run, 'ActionAdmitted', actionId);
    await s.send(s.reserved(actionId), s.deny(actionId));
    const done = await collector.one(s.run, 'ActionCompleted', actionId);
    expect(done.payload).toMatchObject({ status: 'denied', reason_code: 'POLICY_DENIED', cost_micros: 0 });
    expect(String(done.payload['reason'])).toContain('forbid-customer-delete');
    expect(collector.of(s.run, 'ExecutionRequested')).toHaveLength(0);
  });

  it('budget refused: ActionCompleted(refused), and a later allow does not execute', async () => {
    const s = scenario();
    const { event, actionId } = s.proposal('k1');
    await s.send(s.started(), event);
    await collector.one(s.run, 'ActionAdmitted', actionId);
    await s.send(s.refused(actionId), s.allow(actionId));
    const done = await collector.one(s.run, 'ActionCompleted', actionId);
    expect(done.payload).toMatchObject({ status: 'refused', reason_code: 'BUDGET_REFUSED' });
    const { event: next, actionId: nextId } = s.proposal('k2', { ticket_id: 'T-2' });
    await s.send(next);
    await collector.one(s.run, 'ActionAdmitted', nextId);
    expect(collector.of(s.run, 'ExecutionRequested')).toHaveLength(0);
  });

  it('the same proposal twice is one action: nothing new for the second', async () => {
    const s = scenario();
    const { event, actionId } = s.proposal('k1');
    await s.send(s.started(), event, event);
    const { event: marker, actionId: markerId } = s.proposal('k2', { ticket_id: 'T-2' });
    await s.send(marker);
    // Same run, same partition: once the marker is admitted, both copies were handled.
    await collector.one(s.run, 'ActionAdmitted', markerId);
    expect(collector.of(s.run, 'ActionAdmitted', actionId)).toHaveLength(1);
    expect(collector.of(s.run, 'ActionRejected')).toHaveLength(0);
  });

  it('step limit and loop: ActionRejected naming the reason, then ActionCompleted(rejected)', async () => {
    const limited = scenario();
    const first = limited.proposal('k1');
    const second = limited.proposal('k2', { ticket_id: 'T-2' });
    await limited.send(limited.started({ max_steps: 1 }), first.event, second.event);
    const rejected = await collector.one(limited.run, 'ActionRejected', second.actionId);
    expect(rejected.payload).toMatchObject({ reason_code: 'STEP_LIMIT' });
    expect((await collector.one(limited.run, 'ActionCompleted', second.actionId)).payload).toMatchObject({ status: 'rejected', reason_code: 'STEP_LIMIT' });

    const looping = scenario();
    const calls = ['a', 'b', 'c'].map((key) => looping.proposal(key));
    await looping.send(looping.started(), ...calls.map((call) => call.event));
    const third = calls[2]?.actionId ?? '';
    expect((await collector.one(looping.run, 'ActionRejected', third)).payload).toMatchObject({ reason_code: 'LOOP_DETECTED' });
    expect((await collector.one(looping.run, 'ActionCompleted', third)).payload).toMatchObject({ status: 'rejected', reason_code: 'LOOP_DETECTED' });
    expect(collector.of(looping.run, 'ActionAdmitted')).toHaveLength(2);
  });

  it('schema-invalid arguments are rejected naming the field and the rule', async () => {
    const s = scenario();
    const bad = s.proposal('k1', { ticket_id: 'not-a-ticket' });
    await s.send(s.started(), bad.event);
    const rejected = await collector.one(s.run, 'ActionRejected', bad.actionId);
    expect(rejected.payload).toMatchObject({ reason_code: 'ARGS_INVALID', field: 'ticket_id' });
    expect(String(rejected.payload['message'])).toContain('pattern');
  });

  it("an agent's kill switch rejects its proposals, in its own tenant only", async () => {
    const s = scenario();
    const control = (enabled: boolean): OutgoingEvent =>
      s.event('ControlChanged', {
        control_key: `${s.tenant}/agent:${s.agent}`,
        kind: 'agent_kill_switch',
        target: s.agent,
        enabled,
        value: null,
        reason: 'test',
        set_by: 'operator-1',
      });
    await s.send(control(true));
    const planner = app.get(PlannerService).engine;
    await waitFor(() => planner.controls.isAgentKilled(s.tenant, s.agent), { ...WAIT, what: 'the kill switch reaching the planner' });
    // The same agent id in another tenant is another agent.
    expect(planner.controls.isAgentKilled(`${s.tenant}-other`, s.agent)).toBe(false);
    const { event, actionId } = s.proposal('k1');
    await s.send(s.started(), event);
    expect((await collector.one(s.run, 'ActionRejected', actionId)).payload).toMatchObject({ reason_code: 'KILL_SWITCH', field: 'agent_id' });
    expect((await collector.one(s.run, 'ActionCompleted', actionId)).payload).toMatchObject({ status: 'rejected' });
    await s.send(control(false));
  });

  it("a tenant's tool kill switch rejects that tenant's proposals of the tool and no other tenant's", async () => {
    const killedTenant = scenario();
    const otherTenant = scenario();
    const control = (enabled: boolean): OutgoingEvent =>
      killedTenant.event('ControlChanged', {
        control_key: `${killedTenant.tenant}/tool:tickets.get`,
        kind: 'tool_kill_switch',
        target: 'tickets.get',
        enabled,
        value: null,
        reason: 'test',
        set_by: 'operator-1',
      });
    await killedTenant.send(control(true));
    const planner = app.get(PlannerService).engine;
    const ticketsGet = { name: 'tickets.get', version: '1.0.0' };
    await waitFor(() => planner.controls.isToolKilled(killedTenant.tenant, ticketsGet), { ...WAIT, what: 'the kill switch reaching the planner' });
    try {
      const stopped = killedTenant.proposal('k1');
      const free = otherTenant.proposal('k1');
      await killedTenant.send(killedTenant.started(), stopped.event, otherTenant.started(), free.event);
      expect((await collector.one(killedTenant.run, 'ActionRejected', stopped.actionId)).payload).toMatchObject({ reason_code: 'KILL_SWITCH', field: 'tool' });
      expect((await collector.one(otherTenant.run, 'ActionAdmitted', free.actionId)).payload).toMatchObject({ tool: 'tickets.get' });
      expect(collector.of(otherTenant.run, 'ActionRejected')).toEqual([]);
    } finally {
      await killedTenant.send(control(false));
    }
  });

  it('a platform-wide kill switch (tenant "*") reaches every tenant', async () => {
    // A tool of this test only, so the switch stops nothing of anyone else sharing the broker.
    const tool = { name: `probe_${randomUUID().slice(0, 8)}.tool`, version: '1.0.0' };
    const control = (enabled: boolean): OutgoingEvent =>
      writEvent('ControlChanged', {
        meta: newMetadata({ tenant_id: '*', run_id: randomUUID(), producer: GATEWAY }),
        control_key: `*/tool:${tool.name}`,
        kind: 'tool_kill_switch',
        target: tool.name,
        enabled,
        value: null,
        reason: 'platform test',
        set_by: 'root',
      });
    await producer.send([control(true)]);
    const planner = app.get(PlannerService).engine;
    await waitFor(() => planner.controls.isToolKilled(`${SHARED}-a`, tool), { ...WAIT, what: 'the platform switch reaching the planner' });
    expect(planner.controls.isToolKilled(`${SHARED}-b`, tool)).toBe(true);
    await producer.send([control(false)]);
    await waitFor(() => !planner.controls.isToolKilled(`${SHARED}-a`, tool), { ...WAIT, what: 'the release reaching the planner' });
  });

  it('an execution that never reports back expires: ActionCompleted(expired), exactly once', async () => {
    const s = scenario();
    const { event, actionId } = s.proposal('k1');
    await s.send(s.started(), event);
    await collector.one(s.run, 'ActionAdmitted', actionId);
    await s.send(s.allow(actionId), s.reserved(actionId));
    await collector.one(s.run, 'ExecutionRequested', actionId);
    const done = await collector.one(s.run, 'ActionCompleted', actionId);
    expect(done.payload).toMatchObject({ status: 'expired', reason_code: 'EXECUTION_TIMEOUT' });
    // The outcome that arrives too late is ignored.
    await s.send(s.executed(actionId));
    const { event: marker, actionId: markerId } = s.proposal('k2', { ticket_id: 'T-2' });
    await s.send(marker);
    await collector.one(s.run, 'ActionAdmitted', markerId);
    expect(collector.of(s.run, 'ActionCompleted', actionId)).toHaveLength(1);
  });

  it('a restart mid-saga finishes the saga with no event lost or repeated', async () => {
    const group = `writ.planner.int-restart-${randomUUID()}`;
    let first: INestApplicationContext | undefined = await bootPlanner(group, RESTART);
    const s = new Scenario(producer, RESTART);
    try {
      const { event, actionId } = s.proposal('k1');
      await s.send(s.started(), event);
      await collector.one(s.run, 'ActionAdmitted', actionId);
      // The warrant is recorded by the first instance; the reservation comes to the second.
      await s.send(s.allow(actionId));
      await waitFor(() => first?.get(PlannerService).engine.runState(s.run)?.actions.get(actionId)?.warrant ?? false, {
        ...WAIT,
        what: 'the warrant recorded',
      });
      // Give the transaction that consumed it time to commit before the shutdown (stop() also waits for it).
      await first.close();
      first = undefined;

      const second = await bootPlanner(group, RESTART);
      try {
        expect(second.get(PlannerService).engine.runState(s.run)?.actions.get(actionId)).toMatchObject({ status: 'pending', warrant: { key_id: 'warrant-1' } });
        await s.send(s.reserved(actionId));
        await collector.one(s.run, 'ExecutionRequested', actionId);
        await s.send(s.executed(actionId));
        await collector.one(s.run, 'ActionCompleted', actionId);
        const { event: marker, actionId: markerId } = s.proposal('k2', { ticket_id: 'T-2' });
        await s.send(marker);
        await collector.one(s.run, 'ActionAdmitted', markerId);
        for (const type of ['ActionAdmitted', 'ExecutionRequested', 'ActionCompleted']) {
          expect(collector.of(s.run, type, actionId), type).toHaveLength(1);
        }
      } finally {
        await second.close();
      }
    } finally {
      await first?.close();
    }
  }, 120_000);

  // Two instances in one group split the partitions. Each read every run at boot; a run whose
  // partition went to the other is stale here (its later events go there), so only the owner may
  // expire its actions: before, both did, and an action ended twice.
  it('two instances in one group: every open action expires once, by the instance that owns its run', async () => {
    const group = `writ.planner.int-two-${randomUUID()}`;
    const timeouts = { WRIT_PLANNER_DECISION_TIMEOUT_MS: '20000' };
    const first = await bootPlanner(group, TWO, { ...timeouts, WRIT_INSTANCE_ID: 'a' });
    let second: INestApplicationContext | undefined;
    try {
      // Twelve runs land on every partition; each has one action waiting for policy and budget.
      const waiting = Array.from({ length: 12 }, () => new Scenario(producer, TWO)).map((s) => ({ s, ...s.proposal('k1') }));
      await Promise.all(waiting.map(({ s, event }) => s.send(s.started(), event)));
      await Promise.all(waiting.map(({ s, actionId }) => collector.one(s.run, 'ActionAdmitted', actionId)));
      second = await bootPlanner(group, TWO, { ...timeouts, WRIT_INSTANCE_ID: 'b' });
      const a = first.get(PlannerService).engine;
      const b = second.get(PlannerService).engine;
      await waitFor(() => a.ownedPartitions().length > 0 && b.ownedPartitions().length > 0, {
        ...WAIT,
        what: () => `the partitions split: a ${a.ownedPartitions().join(',')}, b ${b.ownedPartitions().join(',')}`,
      });
      expect([...a.ownedPartitions(), ...b.ownedPartitions()].sort()).toEqual([0, 1, 2]);
      // The split came before any deadline: both instances hold every run, each may expire only its own.
      expect(waiting.flatMap(({ s, actionId }) => collector.of(s.run, 'ActionCompleted', actionId))).toEqual([]);
      for (const { s, actionId } of waiting) {
        const done = await collector.one(s.run, 'ActionCompleted', actionId);
        expect(done.payload).toMatchObject({ status: 'expired', reason_code: 'DECISION_TIMEOUT' });
      }
      // Time for a second expiry to show, had an instance kept a timer for a run it does not own.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      for (const { s, actionId } of waiting) expect(collector.of(s.run, 'ActionCompleted', actionId), s.run).toHaveLength(1);
    } finally {
      await second?.close();
      await first.close();
    }
  }, 120_000);
});
