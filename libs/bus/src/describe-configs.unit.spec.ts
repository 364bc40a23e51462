import { describe, expect, it } from 'vitest';
import { decodeDescribeConfigsResponse, encodeDescribeTopicConfigs } from './describe-configs.ts';

function str(value: string | null): Buffer {
  if (value === null) return Buffer.from([0xff, 0xff]);
  const bytes = Buffer.from(value, 'utf8');
  const length = Buffer.alloc(2);
  length.writeInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}
const i8 = (v: number): Buffer => Buffer.from([v & 0xff]);
function i16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
}
function i32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v);
  return b;
}

describe('DescribeConfigs v1 wire format', () => {
  it('encodes a request for topic resources with every key and no synonyms', () => {
    const request = encodeDescribeTopicConfigs(['t1'], 7, 'c');
    const expected = Buffer.concat([i16(32), i16(1), i32(7), str('c'), i32(1), i8(2), str('t1'), i32(-1), i8(0)]);
    expect(request.readInt32BE(0)).toBe(expected.length);
    expect(request.subarray(4)).toEqual(expected);
  });

  it('decodes values, sources, nulls and skips synonyms', () => {
    const frame = Buffer.concat([
      i32(7), // correlation id
      i32(0), // throttle
      i32(1), // one result
      i16(0),
      str(null),
      i8(2),
      str('t1'),
      i32(2),
      str('retention.ms'),
      str('-1'),
      i8(0),
      i8(1), // DYNAMIC_TOPIC_CONFIG
      i8(0),
      i32(1),
      str('log.retention.ms'),
      str('1'),
      i8(4), // one synonym
      str('ssl.key.password'),
      str(null),
      i8(1),
      i8(5), // DEFAULT_CONFIG
      i8(1),
      i32(0),
    ]);
    const decoded = decodeDescribeConfigsResponse(frame);
    expect(decoded.correlationId).toBe(7);
    expect(decoded.topics).toHaveLength(1);
    const [topic] = decoded.topics;
    expect(topic?.topic).toBe('t1');
    expect(topic?.errorCode).toBe(0);
    expect(topic?.configs.get('retention.ms')).toEqual({ value: '-1', source: 'topic', sensitive: false });
    expect(topic?.configs.get('ssl.key.password')).toEqual({ value: null, source: 'default', sensitive: true });
  });
});
