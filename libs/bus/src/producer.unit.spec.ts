import { ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { sampleEvent } from '@writ/contracts/testing';
import { contractsSerde } from './contracts-serde.ts';
import { eventKey, parentContextOf, producerConfig, toRecord } from './producer.ts';
import type { OutgoingEvent } from './serde.ts';

/** An event from outside TypeScript (Nest's emit() carries `any`): no type checks it. */
const untyped = (event: { type: string; payload: unknown }): OutgoingEvent => event as OutgoingEvent;

describe('eventKey', () => {
  it('prefers an explicit key, then the serde, then meta.run_id', () => {
    const payload = sampleEvent('ActionProposed', { run_id: 'run-7' });
    expect(eventKey({ type: 'ActionProposed', payload, key: 'k' }, contractsSerde)).toBe('k');
    expect(eventKey({ type: 'ActionProposed', payload }, contractsSerde)).toBe('run-7');
    expect(eventKey(untyped({ type: 'X', payload: { meta: { run_id: 'run-8' } } }))).toBe('run-8');
    const control = sampleEvent('ControlChanged');
    expect(eventKey({ type: 'ControlChanged', payload: control }, contractsSerde)).toBe(control.control_key);
  });

  it('refuses an event that belongs to no run and has no key, naming the field', () => {
    expect(() => eventKey(untyped({ type: 'X', payload: { meta: {} } }))).toThrow(expect.objectContaining({ code: 'EVENT_KEY_MISSING', field: 'meta.run_id' }));
  });
});

describe('toRecord', () => {
  it('encodes with the contracts, routes to the type topic and tags the event type', () => {
    const payload = sampleEvent('PolicyDecided');
    const record = toRecord(contractsSerde, { type: 'PolicyDecided', payload, headers: { 'x-a': '1' } });
    expect(record.topic).toBe('writ.policy.v1');
    expect(record.key).toBe(payload.meta.run_id);
    expect(record.headers).toEqual({ 'x-a': '1', 'event-type': 'PolicyDecided' });
    expect(contractsSerde.decode(record.value as Buffer)).toMatchObject({ type: 'PolicyDecided', payload });
  });

  it('lets a caller override the topic', () => {
    const record = toRecord(contractsSerde, { type: 'RunStarted', payload: sampleEvent('RunStarted'), topic: 'elsewhere' });
    expect(record.topic).toBe('elsewhere');
  });
});

describe('parentContextOf', () => {
  const payload = sampleEvent('RunStarted');
  it('uses the active span when there is one', () => {
    const active = trace.setSpanContext(ROOT_CONTEXT, { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: TraceFlags.SAMPLED });
    expect(trace.getSpanContext(parentContextOf({ type: 'RunStarted', payload }, active))?.traceId).toBe('a'.repeat(32));
  });

  it('falls back to the trace the event carries in meta.trace', () => {
    const parent = parentContextOf({ type: 'RunStarted', payload }, ROOT_CONTEXT);
    expect(trace.getSpanContext(parent)?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });
});

describe('producerConfig', () => {
  it('is idempotent with acks=all and the asked linger, whatever else is passed', () => {
    const config = producerConfig(0.5, { 'compression.type': 'lz4' }, { transactionalId: 'tx' });
    expect(config).toMatchObject({
      'linger.ms': 0.5,
      'compression.type': 'lz4',
      kafkaJS: { acks: -1, idempotent: true, allowAutoTopicCreation: false, transactionalId: 'tx' },
    });
  });

  it('rejects a negative linger, naming the option', () => {
    expect(() => producerConfig(-1, undefined, {})).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID', field: 'lingerMs' }));
  });
});
