import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { WritError } from '@writ/errors';
import { parseOpenRun, parsePropose } from '@writ/gateway-core';
import type { ActionJson } from '@writ/gateway-core';
import { thrown } from '@writ/testing';
import { DOOR_SCHEMAS_DIR, doorCatalogue, doorCodec } from './codec.ts';
import type { DoorOutcome, DoorProposal } from './codec.ts';
import { accepted, doorRunId, ended, isAgentError, openRunBody, proposeBody, rejected, underRun } from './translate.ts';

const codec = doorCodec();

const proposal: DoorProposal = {
  idempotency_key: 'T-1001:refund',
  run: { goal: 'triage', mode: null, limits: { max_steps: 5, max_cost_micros: null, max_tool_calls: null, wall_clock_ms: null, currency: null } },
  tool: 'refunds.issue',
  tool_version: null,
  arguments: '{"amount_cents":2500}',
  reason: 'charged twice',
  provenance: null,
};

describe("the Kafka door's records", () => {
  it('are the released files of schemas/_door, with pinned fingerprints (a change is a new version file)', () => {
    expect(readdirSync(DOOR_SCHEMAS_DIR).sort()).toEqual(['DoorOutcome.v1.avsc', 'DoorProposal.v1.avsc']);
    expect(doorCatalogue().map((e) => [e.type, e.version, e.fingerprint])).toEqual([
      ['DoorProposal', 1, 'b4f68116ad7ee528'],
      ['DoorOutcome', 1, '743749a7eb609401'],
    ]);
  });

  it('round-trip in single-object encoding: a run id or an OpenRun, an outcome of each kind', () => {
    const bytes = codec.encode('DoorProposal', proposal);
    expect([...bytes.subarray(0, 2)]).toEqual([0xc3, 0x01]);
    expect(codec.decode(bytes)).toMatchObject({ type: 'DoorProposal', schemaVersion: 1, payload: proposal });
    const inRun = { ...proposal, run: '0190a0b0-0000-7000-8000-000000000001' };
    expect(codec.decode(codec.encode('DoorProposal', inRun)).payload).toEqual(inRun);
    const outcome = rejected(
      thrown(() => parsePropose({ tool: 'x' })),
      'k',
      { partition: 0, offset: 7 },
      1_700_000_000_000,
    );
    expect(codec.decode(codec.encode('DoorOutcome', outcome)).payload).toEqual(outcome);
  });

  it('refuse bytes that are not a released door record (the door dead-letters and rejects them)', () => {
    expect(thrown(() => codec.decode(Buffer.from('not avro at all'))).code).toBe('EVENT_UNDECODABLE');
    const unknown = Buffer.from(codec.encode('DoorProposal', proposal));
    unknown[5] = (unknown[5] ?? 0) ^ 0xff;
    expect(thrown(() => codec.decode(unknown)).code).toBe('SCHEMA_UNKNOWN');
  });
});

describe('from a DoorProposal to the HTTP door', () => {
  it('builds the bodies the HTTP door parses, leaving absent values out', () => {
    expect(parseOpenRun(openRunBody(proposal.run as Exclude<DoorProposal['run'], string>))).toMatchObject({
      goal: 'triage',
      mode: 'live',
      limits: { max_steps: 5 },
    });
    const body = proposeBody(proposal);
    expect(body).toEqual({ tool: 'refunds.issue', arguments: { amount_cents: 2500 }, reason: 'charged twice', idempotency_key: 'T-1001:refund' });
    expect(parsePropose(body)).toMatchObject({ tool: 'refunds.issue', tool_version: null, provenance: null });
  });

  it('names the field and the rule: arguments that are not JSON, an argument list that is not an object, a run field', () => {
    expect(thrown(() => proposeBody({ ...proposal, arguments: '{"a": ' }))).toMatchObject({ code: 'REQUEST_INVALID', field: 'arguments', rule: 'type' });
    expect(thrown(() => parsePropose(proposeBody({ ...proposal, arguments: '[1]' })))).toMatchObject({ field: 'arguments', rule: 'type' });
    const mode = underRun(thrown(() => parseOpenRun(openRunBody({ goal: 'g', mode: 'turbo', limits: null }))));
    expect(mode).toMatchObject({ code: 'REQUEST_INVALID', field: 'run.mode', rule: 'enum' });
    expect((mode as Error).message).toMatch(/^run\.mode /);
    const currency = underRun(thrown(() => parseOpenRun(openRunBody({ goal: 'g', mode: null, limits: { ...noLimits, max_cost_micros: 5 } }))));
    expect(currency).toMatchObject({ field: 'run.limits.currency', rule: 'required' });
  });

  it("derives an opened run's id from the tenant, the agent and the idempotency key only", () => {
    expect(doorRunId('acme', 'bot', 'k')).toBe(doorRunId('acme', 'bot', 'k'));
    expect(new Set([doorRunId('acme', 'bot', 'k'), doorRunId('acme', 'bot', 'k2'), doorRunId('acme', 'bot2', 'k'), doorRunId('globex', 'bot', 'k')]).size).toBe(
      4,
    );
  });

  it("tells the agent its own errors (4xx) and retries Writ's (5xx)", () => {
    expect(isAgentError(thrown(() => parsePropose({})))).toBe(true);
    expect(isAgentError(new WritError('KAFKA_UNREACHABLE', 'kafka down', { retriable: true }))).toBe(false);
    expect(isAgentError(new Error('kafka down'))).toBe(false);
  });
});

const noLimits = { max_steps: null, max_cost_micros: null, max_tool_calls: null, wall_clock_ms: null, currency: null };

describe('DoorOutcome records', () => {
  const ref = { partition: 0, offset: 42 };

  it('accepted, rejected (code, field, rule) and ended (status, reason, result as JSON, cost)', () => {
    expect(accepted({ action_id: 'a', run_id: 'r', status: 'proposed' }, 'k', ref, 1)).toMatchObject({
      kind: 'accepted',
      action_id: 'a',
      run_id: 'r',
      status: 'proposed',
      idempotency_key: 'k',
      proposal_offset: 42,
      error: null,
    });
    const rejection: DoorOutcome = rejected(
      thrown(() => parsePropose({ tool: 'Bad' })),
      'k',
      ref,
      1,
    );
    expect(rejection).toMatchObject({ kind: 'rejected', action_id: null, error: { code: 'REQUEST_INVALID', field: 'tool', rule: 'pattern' } });
    expect(rejected(new Error('boom'), null, null, 1).error).toMatchObject({ code: 'HANDLER_FAILED', field: null, rule: null });
    const action = {
      action_id: 'a',
      run_id: 'r',
      idempotency_key: 'k',
      status: 'completed',
      reason: null,
      reason_code: null,
      decision: 'allow',
      determining_policies: ['acme-refunds-small'],
      result: { refund_id: 'R-1' },
      cost_micros: 1_500_000,
      currency: 'USD',
    } as unknown as ActionJson;
    const end = ended(action, ref, 1);
    expect(end).toMatchObject({
      kind: 'ended',
      status: 'completed',
      decision: 'allow',
      determining_policies: ['acme-refunds-small'],
      result: '{"refund_id":"R-1"}',
      cost_micros: 1_500_000,
      currency: 'USD',
    });
    expect(codec.decode(codec.encode('DoorOutcome', end)).payload).toEqual(end);
  });
});
