import { describe, expect, it } from 'vitest';
import { thrown } from '@writ/testing';
import { CATALOGUE } from './catalogue.generated.ts';
import { currentSchemaOf, decodeEvent, encodeEvent, isEventType, topicOf } from './codec.ts';
import { CURRENT_VERSIONS, ENUM_SYMBOLS, EVENT_TYPES, TOPICS } from './events.generated.ts';
import type { ActionStatus, EventPayloads, EventType } from './events.generated.ts';
import { fingerprintOf } from './fingerprint.ts';
import { partitionKeyOf } from './keys.ts';
import { encodeWithSchema, sampleEvent, sampleEvents } from './testing/index.ts';

/** Bytes that skip encodeEvent's checks: the current schema, any value it can hold. */
function rawBytes<T extends EventType>(type: T, payload: EventPayloads[T]): Buffer {
  return encodeWithSchema(currentSchemaOf(type).schema, payload);
}

function allPlainObjects(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) return value.every(allPlainObjects);
  return Object.getPrototypeOf(value) === Object.prototype && Object.values(value).every(allPlainObjects);
}

describe('encodeEvent / decodeEvent', () => {
  it.each(EVENT_TYPES)('round-trips %s with the current schema', (type) => {
    const payload = sampleEvent(type);
    const decoded = decodeEvent(encodeEvent(type, payload));
    expect(decoded.type).toBe(type);
    expect(decoded.payload).toStrictEqual(payload);
    expect(decoded.schemaVersion).toBe(CURRENT_VERSIONS[type]);
    expect(decoded.fingerprint).toBe(currentSchemaOf(type).fingerprint);
  });

  it('has a sample for every event type, each valid', () => {
    const samples = sampleEvents();
    expect(samples.map((sample) => sample.type)).toEqual([...EVENT_TYPES]);
    for (const { type, payload } of samples) expect(() => encodeEvent(type, payload as never)).not.toThrow();
  });

  it('frames bytes as C3 01 + the little-endian CRC-64-AVRO fingerprint of the writer schema', () => {
    const bytes = encodeEvent('RunEnded', sampleEvent('RunEnded'));
    const { schema, fingerprint } = currentSchemaOf('RunEnded');
    expect([bytes[0], bytes[1]]).toEqual([0xc3, 0x01]);
    expect(bytes.readBigUInt64LE(2).toString(16).padStart(16, '0')).toBe(fingerprint);
    expect(fingerprint).toBe(fingerprintOf(schema));
    expect(Buffer.from(bytes.subarray(2, 10)).reverse().toString('hex')).toBe(fingerprint);
  });

  it('records in the catalogue the true fingerprint of every version', () => {
    for (const entry of CATALOGUE) expect(entry.fingerprint, `${entry.type} v${String(entry.version)}`).toBe(fingerprintOf(entry.schema));
  });

  it('decodes into plain objects, also from a Uint8Array view at an offset', () => {
    const payload = sampleEvent('ExecutionRequested');
    const bytes = encodeEvent('ExecutionRequested', payload);
    const shared = new Uint8Array(bytes.length + 7);
    shared.set(bytes, 7);
    const decoded = decodeEvent(new Uint8Array(shared.buffer, 7, bytes.length));
    expect(decoded.payload).toStrictEqual(payload);
    expect(allPlainObjects(decoded.payload)).toBe(true);
  });

  it('encodes payloads larger than its scratch buffer', () => {
    const arguments_json = JSON.stringify({ blob: 'x'.repeat(200_000) });
    const payload = { ...sampleEvent('ActionProposed'), arguments_json };
    expect(decodeEvent(encodeEvent('ActionProposed', payload)).payload).toStrictEqual(payload);
  });

  it('narrows the payload type by the event type', () => {
    const decoded = decodeEvent(encodeEvent('BudgetSettled', sampleEvent('BudgetSettled')));
    if (decoded.type !== 'BudgetSettled') throw new Error('wrong type');
    expect(decoded.payload.released_micros).toBe(18_000);
  });
});

describe('encodeEvent rejects invalid payloads with EVENT_INVALID naming field and rule', () => {
  const sample = sampleEvent('PolicyDecided');

  it.each([
    ['a missing field', { ...sample, meta: { ...sample.meta, producer: undefined } }, 'meta.producer', /must be a string \(got nothing\)/],
    ['a symbol outside the enum', { ...sample, decision: 'maybe' }, 'decision', /must be one of allow, deny, approval_required/],
    ['a wrong type in a union', { ...sample, warrant: 'yes' }, 'warrant', /must be null or an object/],
    ['a fraction in a long', { ...sample, meta: { ...sample.meta, occurred_at: 1.5 } }, 'meta.occurred_at', /must be a safe integer/],
    ['an event_id that is no UUID', { ...sample, meta: { ...sample.meta, event_id: 'evt-1' } }, 'meta.event_id', /must be a UUID/],
    ['an empty tenant', { ...sample, meta: { ...sample.meta, tenant_id: ' ' } }, 'meta.tenant_id', /must not be empty/],
    ['a bad producer', { ...sample, meta: { ...sample.meta, producer: 'planner' } }, 'meta.producer', /service@version/],
    [
      'a bad traceparent',
      { ...sample, meta: { ...sample.meta, trace: { traceparent: 'nope', tracestate: null } } },
      'meta.trace.traceparent',
      /W3C traceparent/,
    ],
    ['an empty array item', { ...sample, determining_policies: ['p1', ''] }, 'determining_policies[1]', /must not be empty/],
    ['a bad digest inside a nullable record', { ...sample, warrant: { ...sample.warrant!, args_sha256: 'ABC' } }, 'warrant.args_sha256', /sha256/],
    ['a signature that is no base64', { ...sample, warrant: { ...sample.warrant!, signature: 'not base64!' } }, 'warrant.signature', /base64/],
  ])('%s', (_, payload, field, rule) => {
    const error = thrown(() => encodeEvent('PolicyDecided', payload as EventPayloads['PolicyDecided']));
    expect(error.code).toBe('EVENT_INVALID');
    expect(error.retriable).toBe(false);
    expect(error.field).toBe(field);
    expect(error.rule).toMatch(rule);
    expect(error.message).toContain(`PolicyDecided: ${field}`);
  });

  it('rejects negative money and a malformed currency', () => {
    const settled = sampleEvent('BudgetSettled');
    expect(thrown(() => encodeEvent('BudgetSettled', { ...settled, actual_cost_micros: -1 })).field).toBe('actual_cost_micros');
    expect(thrown(() => encodeEvent('BudgetSettled', { ...settled, currency: 'usd' })).rule).toMatch(/ISO 4217/);
  });

  it('rejects an unknown event type', () => {
    const error = thrown(() => encodeEvent('Nope' as EventType, sampleEvent('RunEnded') as never));
    expect([error.code, error.field]).toEqual(['EVENT_INVALID', 'type']);
  });
});

describe('decodeEvent errors', () => {
  const good = encodeEvent('ActionCompleted', sampleEvent('ActionCompleted'));

  it('EVENT_UNDECODABLE when shorter than the header', () => {
    const error = thrown(() => decodeEvent(good.subarray(0, 9)));
    expect(error.code).toBe('EVENT_UNDECODABLE');
    expect(error.message).toMatch(/9 bytes/);
  });

  it('EVENT_UNDECODABLE on a bad magic', () => {
    const bytes = Buffer.from(good);
    bytes[1] = 0x02;
    expect(thrown(() => decodeEvent(bytes)).message).toMatch(/bad magic c302/);
  });

  it('EVENT_UNDECODABLE on a truncated body', () => {
    const error = thrown(() => decodeEvent(good.subarray(0, good.length - 3)));
    expect(error.code).toBe('EVENT_UNDECODABLE');
    expect(error.message).toMatch(/ActionCompleted v\d+: body does not decode/);
  });

  it('EVENT_UNDECODABLE on trailing bytes', () => {
    const error = thrown(() => decodeEvent(Buffer.concat([good, Buffer.from([0])])));
    expect(error.code).toBe('EVENT_UNDECODABLE');
    expect(error.message).toMatch(/trailing/);
  });

  it('EVENT_UNDECODABLE on a body that is not Avro of that schema', () => {
    const bytes = Buffer.concat([good.subarray(0, 10), Buffer.alloc(40, 0xff)]);
    expect(thrown(() => decodeEvent(bytes)).code).toBe('EVENT_UNDECODABLE');
  });

  it('SCHEMA_UNKNOWN naming the fingerprint in hex', () => {
    const foreign = encodeWithSchema({ type: 'record', name: 'Foreign', fields: [{ name: 'a', type: 'string' }] }, { a: 'x' });
    const error = thrown(() => decodeEvent(foreign));
    expect(error.code).toBe('SCHEMA_UNKNOWN');
    expect(error.retriable).toBe(false);
    const hex = Buffer.from(foreign.subarray(2, 10)).reverse().toString('hex');
    expect(error.message).toContain(hex);
    expect(error.details).toEqual({ fingerprint: hex });
  });

  it.each([
    ['event_id is no UUID', (p: EventPayloads['ActionCompleted']) => ({ ...p, meta: { ...p.meta, event_id: 'x' } }), 'meta.event_id'],
    ['empty tenant_id', (p: EventPayloads['ActionCompleted']) => ({ ...p, meta: { ...p.meta, tenant_id: '' } }), 'meta.tenant_id'],
    ['empty run_id', (p: EventPayloads['ActionCompleted']) => ({ ...p, meta: { ...p.meta, run_id: '' } }), 'meta.run_id'],
    ['negative money', (p: EventPayloads['ActionCompleted']) => ({ ...p, cost_micros: -5 }), 'cost_micros'],
  ])('EVENT_INVALID when it decodes but %s', (_, change, field) => {
    const error = thrown(() => decodeEvent(rawBytes('ActionCompleted', change(sampleEvent('ActionCompleted')))));
    expect(error.code).toBe('EVENT_INVALID');
    expect(error.retriable).toBe(false);
    expect(error.field).toBe(field);
    expect(error.details).toMatchObject({ type: 'ActionCompleted', fingerprint: currentSchemaOf('ActionCompleted').fingerprint });
  });
});

describe('topics and keys', () => {
  it('maps every event type to one of the declared topics', () => {
    const topics = new Set<string>(Object.values(TOPICS));
    for (const type of EVENT_TYPES) expect(topics.has(topicOf(type))).toBe(true);
    expect(topicOf('ActionProposed')).toBe('writ.proposals.v1');
    expect(topicOf('ActionCompleted')).toBe('writ.actions.v1');
    expect(topicOf('RunEnded')).toBe('writ.actions.v1');
    expect(topicOf('BudgetReservationRequested')).toBe('writ.actions.v1');
    expect(topicOf('ActionExecuted')).toBe('writ.outcomes.v1');
    expect(topicOf('ToolResultRecorded')).toBe('writ.results.v1');
    expect(topicOf('ControlChanged')).toBe(TOPICS.controls);
    expect(Object.values(TOPICS).sort()).toEqual([
      'writ.actions.v1',
      'writ.approvals.v1',
      'writ.budget.v1',
      'writ.controls.v1',
      'writ.executions.v1',
      'writ.ledger.v1',
      'writ.outcomes.v1',
      'writ.policy.v1',
      'writ.policysets.v1',
      'writ.proposals.v1',
      'writ.results.v1',
    ]);
  });

  it('keys run events by run_id, controls by control_key and ledger events by chain_id', () => {
    expect(partitionKeyOf('ActionProposed', sampleEvent('ActionProposed', { run_id: 'run-9' }))).toBe('run-9');
    expect(partitionKeyOf('ControlChanged', sampleEvent('ControlChanged'))).toBe('tool_kill_switch:refunds.create');
    expect(partitionKeyOf('LedgerEntry', sampleEvent('LedgerEntry'))).toBe('chain-0');
  });

  it('lists enum symbols as the schemas declare them', () => {
    const statuses: readonly ActionStatus[] = ENUM_SYMBOLS.ActionStatus;
    const schema = currentSchemaOf('ActionCompleted').schema as { fields: { name: string; type: { symbols?: string[] } }[] };
    expect(statuses).toEqual(schema.fields.find((field) => field.name === 'status')?.type.symbols);
  });

  it('recognises event types', () => {
    expect(isEventType('RunStarted')).toBe(true);
    expect(isEventType('runstarted')).toBe(false);
    expect(isEventType(42)).toBe(false);
  });
});
