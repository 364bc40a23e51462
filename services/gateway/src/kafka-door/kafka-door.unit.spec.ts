import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkCompatibility, createSingleObjectCodec, fingerprintOf, parseSchema } from '@writ/contracts';
import type { AvroSchemaJson } from '@writ/contracts';
import { WritError } from '@writ/errors';
import { parseOpenRun, parsePropose } from '@writ/gateway-core';
import type { ActionJson, ActionState } from '@writ/gateway-core';
import { thrown } from '@writ/testing';
import { DOOR_SCHEMAS_DIR, doorCatalogue, doorCodec, doorSchema, outcomeEncoder } from './codec.ts';
import type { DoorOutcome, DoorProposal } from './codec.ts';
import { accepted, doorRunId, ended, held, isAgentError, openRunBody, proposeBody, rejected, toTell, underRun } from './translate.ts';

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
    expect(readdirSync(DOOR_SCHEMAS_DIR).sort()).toEqual(['DoorOutcome.v1.avsc', 'DoorOutcome.v2.avsc', 'DoorProposal.v1.avsc']);
    expect(doorCatalogue().map((e) => [e.type, e.version, e.fingerprint])).toEqual([
      ['DoorProposal', 1, 'b4f68116ad7ee528'],
      ['DoorOutcome', 1, '743749a7eb609401'],
      ['DoorOutcome', 2, '32585f71cbc663df'],
    ]);
  });

  it("DoorOutcome v2 reads every v1 record (the codegen's --compat does not cover schemas/_door)", () => {
    const v1 = doorSchema('DoorOutcome', 1);
    const v2 = doorSchema('DoorOutcome', 2);
    const fields = (schema: AvroSchemaJson) => (schema as unknown as { fields: { name: string }[] }).fields.map((f) => f.name);
    // v2 is v1 plus one field with a default, and one more kind; backward compatible as the catalogue's events must be.
    expect(fields(v2)).toEqual([...fields(v1), 'approval']);
    expect(checkCompatibility(doorCatalogue())).toEqual([]);
    const oldOnly = createSingleObjectCodec([{ type: 'DoorOutcome', version: 1, schema: v1, fingerprint: fingerprintOf(v1) }]);
    const acceptance = accepted({ action_id: 'a', run_id: 'r', status: 'awaiting_approval' }, 'k', { partition: 0, offset: 3 }, 1);
    const { approval: _approval, ...v1Fields } = acceptance;
    expect(codec.decode(oldOnly.encode('DoorOutcome', v1Fields))).toMatchObject({ schemaVersion: 1, payload: { ...acceptance, approval: null } });
  });

  it("DoorOutcome v2's kind reads a kind it does not know (a later version's) as accepted, its enum default", () => {
    const v2 = doorSchema('DoorOutcome', 2);
    const later = structuredClone(v2);
    (later as unknown as { fields: { type: { symbols: string[] } }[] }).fields[0]?.type.symbols.push('someday');
    const [reader, writer] = [parseSchema(v2), parseSchema(later)];
    const body = writer.toBuffer({ ...accepted({ action_id: 'a', run_id: 'r', status: 'x' }, 'k', null, 1), kind: 'someday' });
    expect(reader.fromBuffer(body, reader.createResolver(writer))).toMatchObject({ kind: 'accepted', action_id: 'a' });
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

  const waiting = {
    action_id: 'a',
    run_id: 'r',
    idempotency_key: 'k',
    status: 'awaiting_approval',
    reason: null,
    reason_code: null,
    decision: 'approval_required',
    determining_policies: ['refund-over-100-needs-manager-approval'],
    approval_requirement: {
      policy_id: 'refund-over-100-needs-manager-approval',
      count: 1,
      roles: ['manager'],
      expires_in_ms: 14_400_000,
      reason: "Refunds over $100 need a manager who is not the agent's owner.",
    },
    approval_request: { requested_at: '2026-12-07T10:00:00.000Z', expires_at: '2026-12-07T14:00:00.000Z' },
    result: null,
    cost_micros: null,
    currency: null,
  } as unknown as ActionJson;

  it('held: the decision, the policies that determined it and the approval it waits for (v2)', () => {
    const hold = held(waiting, ref, 5);
    expect(hold).toMatchObject({
      kind: 'held',
      action_id: 'a',
      run_id: 'r',
      idempotency_key: 'k',
      status: 'awaiting_approval',
      decision: 'approval_required',
      determining_policies: ['refund-over-100-needs-manager-approval'],
      approval: {
        policy_id: 'refund-over-100-needs-manager-approval',
        count: 1,
        roles: ['manager'],
        reason: "Refunds over $100 need a manager who is not the agent's owner.",
        requested_at: Date.parse('2026-12-07T10:00:00.000Z'),
        expires_at: Date.parse('2026-12-07T14:00:00.000Z'),
      },
      proposal_offset: 42,
      occurred_at: 5,
    });
    expect(codec.decode(codec.encode('DoorOutcome', hold)).payload).toEqual(hold);
    // Without the requirement in the read model yet: held all the same, approval null.
    expect(held({ ...waiting, approval_requirement: null, approval_request: null }, ref, 5)).toMatchObject({ kind: 'held', approval: null });
  });

  it('are written as v1 for the kinds v1 has (agents that know only v1 read them) and as v2 for held', () => {
    const encode = outcomeEncoder();
    const v1 = doorSchema('DoorOutcome', 1);
    const oldOnly = createSingleObjectCodec([{ type: 'DoorOutcome', version: 1, schema: v1, fingerprint: fingerprintOf(v1) }]);
    const acceptance = accepted({ action_id: 'a', run_id: 'r', status: 'awaiting_approval' }, 'k', ref, 1);
    const bytes = encode(acceptance);
    expect(codec.decode(bytes)).toMatchObject({ schemaVersion: 1, payload: acceptance });
    expect(oldOnly.decode(bytes).payload).toEqual((({ approval: _approval, ...rest }) => rest)(acceptance));
    const hold = encode(held(waiting, ref, 5));
    expect(codec.decode(hold)).toMatchObject({ schemaVersion: 2, payload: { kind: 'held', approval: { count: 1 } } });
    // An agent that knows only v1 does not know the writer of a held record: it skips it.
    expect(thrown(() => oldOnly.decode(hold)).code).toBe('SCHEMA_UNKNOWN');
  });
});

describe('what a change of an accepted action tells its agent', () => {
  const state = (patch: Partial<ActionState>): ActionState =>
    ({ status: 'proposed', run_mode: 'live', decision: null, result_json: null, result_ref: null, result_body: null, ...patch }) as ActionState;

  it('held once when it waits for approval, never for a shadow run (nobody approves it), nothing while it is on its way', () => {
    expect(toTell(state({ status: 'admitted' }), false)).toEqual({ held: false, end: null });
    expect(toTell(state({ status: 'awaiting_approval', decision: 'approval_required' }), false)).toEqual({ held: true, end: null });
    expect(toTell(state({ status: 'awaiting_approval', decision: 'approval_required' }), true)).toEqual({ held: false, end: null });
    expect(toTell(state({ status: 'awaiting_approval', run_mode: 'shadow' }), false)).toEqual({ held: false, end: null });
    expect(toTell(state({ status: 'allowed', decision: 'allow' }), true)).toEqual({ held: false, end: null });
  });

  it('its end now, or after the grace while its decision or result body is still on its way', () => {
    expect(toTell(state({ status: 'completed', decision: 'allow', result_json: '{}' }), true)).toEqual({ held: false, end: 'now' });
    expect(toTell(state({ status: 'expired' }), true)).toEqual({ held: false, end: 'now' });
    expect(toTell(state({ status: 'completed', decision: null, result_json: '{}' }), false)).toEqual({ held: false, end: 'after-grace' });
    expect(toTell(state({ status: 'completed', decision: 'allow', result_ref: 'sha' }), false)).toEqual({ held: false, end: 'after-grace' });
  });
});
