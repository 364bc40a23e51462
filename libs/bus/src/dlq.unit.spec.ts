import { describe, expect, it } from 'vitest';
import { dlqMessage, dlqTopicOf } from './dlq.ts';

describe('dlqMessage', () => {
  const source = {
    topic: 'writ.actions.v1',
    partition: 2,
    offset: '41',
    groupId: 'writ.planner',
    key: Buffer.from('run-1'),
    value: Buffer.from([0xde, 0xad]),
    headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'event-type': 'ActionProposed' },
  };

  it('keeps the original key, bytes and headers and says why and from where', () => {
    const message = dlqMessage(source, { code: 'EVENT_INVALID', retriable: false, reason: 'meta.event_id must be a UUID' }, 1, new Date(0));
    expect(message.key).toEqual(source.key);
    expect(message.value).toEqual(source.value);
    expect(message.headers).toEqual({
      ...source.headers,
      'writ-dlq-reason': 'meta.event_id must be a UUID',
      'writ-dlq-code': 'EVENT_INVALID',
      'writ-dlq-source-topic': 'writ.actions.v1',
      'writ-dlq-source-partition': '2',
      'writ-dlq-source-offset': '41',
      'writ-dlq-group': 'writ.planner',
      'writ-dlq-timestamp': '1970-01-01T00:00:00.000Z',
      'writ-dlq-attempts': '1',
    });
  });

  it('bounds the reason so a huge error message cannot make the record too large', () => {
    const message = dlqMessage(source, { code: 'HANDLER_FAILED', retriable: false, reason: 'x'.repeat(10_000) }, 5);
    expect(String(message.headers?.['writ-dlq-reason']).length).toBeLessThanOrEqual(2_001);
  });

  it('names the DLQ after the group', () => {
    expect(dlqTopicOf('writ.planner')).toBe('writ.planner.dlq');
  });
});
