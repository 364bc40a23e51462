import { describe, expect, it } from 'vitest';
import { crc64Avro, fingerprintOf, parsingCanonicalForm } from './fingerprint.ts';
import type { AvroSchemaJson } from './schema-json.ts';

/**
 * Test vectors published by Apache Avro in share/test/data/schema-tests.txt (the file every Avro
 * implementation's test suite reads; the Java implementation cross-checks its fingerprints):
 * input schema text, its Parsing Canonical Form, and its CRC-64-AVRO fingerprint as a signed
 * 64-bit decimal. https://github.com/apache/avro/blob/main/share/test/data/schema-tests.txt
 */
const AVRO_SCHEMA_TESTS: readonly { id: string; input: string; canonical: string; fingerprint?: bigint }[] = [
  { id: '000', input: '"null"', canonical: '"null"', fingerprint: 7195948357588979594n },
  { id: '001', input: '{"type":"null"}', canonical: '"null"' },
  { id: '002', input: '"boolean"', canonical: '"boolean"', fingerprint: -6970731678124411036n },
  { id: '004', input: '"int"', canonical: '"int"', fingerprint: 8247732601305521295n },
  { id: '005', input: '{"type":"int"}', canonical: '"int"' },
  { id: '006', input: '"long"', canonical: '"long"', fingerprint: -3434872931120570953n },
  { id: '008', input: '"float"', canonical: '"float"', fingerprint: 5583340709985441680n },
  { id: '010', input: '"double"', canonical: '"double"', fingerprint: -8181574048448539266n },
  { id: '012', input: '"bytes"', canonical: '"bytes"', fingerprint: 5746618253357095269n },
  { id: '014', input: '"string"', canonical: '"string"', fingerprint: -8142146995180207161n },
  { id: '016', input: '[  ]', canonical: '[]', fingerprint: -1241056759729112623n },
  { id: '017', input: '[ "int"  ]', canonical: '["int"]', fingerprint: -5232228896498058493n },
  { id: '018', input: '[ "int" , {"type":"boolean"} ]', canonical: '["int","boolean"]', fingerprint: 5392556393470105090n },
  {
    id: '019',
    input: '{"fields":[], "type":"record", "name":"foo"}',
    canonical: '{"name":"foo","type":"record","fields":[]}',
    fingerprint: -4824392279771201922n,
  },
  {
    id: '020',
    input: '{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
    canonical: '{"name":"x.y.foo","type":"record","fields":[]}',
    fingerprint: 5916914534497305771n,
  },
  {
    id: '021',
    input: '{"fields":[], "type":"record", "name":"a.b.foo", "namespace":"x.y"}',
    canonical: '{"name":"a.b.foo","type":"record","fields":[]}',
    fingerprint: -4616218487480524110n,
  },
  {
    id: '024',
    input: '{"fields":[], "type":"record", "name":"foo", "doc":"foo", "aliases":["foo","bar"]}',
    canonical: '{"name":"foo","type":"record","fields":[]}',
    fingerprint: -4824392279771201922n,
  },
  {
    id: '025',
    input: '{"fields":[{"type":{"type":"boolean"}, "name":"f1"}], "type":"record", "name":"foo"}',
    canonical: '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"}]}',
    fingerprint: 7843277075252814651n,
  },
  {
    id: '026',
    input:
      '{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},\n' +
      '            {"order":"descending","name":"f2","doc":"Hello","type":"int"}],\n' +
      '  "type":"record", "name":"foo"\n}',
    canonical: '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},{"name":"f2","type":"int"}]}',
    fingerprint: -4860222112080293046n,
  },
  {
    id: '027',
    input: '{"type":"enum", "name":"foo", "symbols":["A1"]}',
    canonical: '{"name":"foo","type":"enum","symbols":["A1"]}',
    fingerprint: -6342190197741309591n,
  },
  {
    id: '028',
    input: '{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
    canonical: '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}',
    fingerprint: -4448647247586288245n,
  },
  {
    id: '029',
    input: '{"name":"foo","type":"fixed","size":15}',
    canonical: '{"name":"foo","type":"fixed","size":15}',
    fingerprint: 1756455273707447556n,
  },
  {
    id: '030',
    input: '{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}',
    canonical: '{"name":"x.y.z.foo","type":"fixed","size":32}',
    fingerprint: -3064184465700546786n,
  },
  {
    id: '031',
    input: '{ "items":{"type":"null"}, "type":"array"}',
    canonical: '{"type":"array","items":"null"}',
    fingerprint: -589620603366471059n,
  },
  {
    id: '032',
    input: '{ "values":"string", "type":"map"}',
    canonical: '{"type":"map","values":"string"}',
    fingerprint: -8732877298790414990n,
  },
  {
    id: '033',
    input: '{"name":"PigValue","type":"record","fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
    canonical: '{"name":"PigValue","type":"record","fields":[{"name":"value","type":["null","int","long","PigValue"]}]}',
    fingerprint: -1759257747318642341n,
  },
];

const parse = (text: string): AvroSchemaJson => JSON.parse(text) as AvroSchemaJson;
const crcOf = (text: string): bigint => crc64Avro(Buffer.from(text, 'utf8'));

describe('Parsing Canonical Form and CRC-64-AVRO against the Avro test vectors', () => {
  it.each(AVRO_SCHEMA_TESTS)('schema-tests.txt $id', ({ input, canonical, fingerprint }) => {
    expect(parsingCanonicalForm(parse(input))).toBe(canonical);
    if (fingerprint !== undefined) {
      expect(BigInt.asIntN(64, crcOf(canonical))).toBe(fingerprint);
      expect(fingerprintOf(parse(input))).toBe(BigInt.asUintN(64, fingerprint).toString(16).padStart(16, '0'));
    }
  });

  it('gives the single-object header that Avro Ruby publishes for "int"', () => {
    // lang/ruby/test/test_fingerprints.rb: C3 01 8F 5C 39 3F 1A D5 75 72 (fingerprint 0x7275d51a3f395c8f).
    const header = Buffer.alloc(10);
    header.set([0xc3, 0x01]);
    header.writeBigUInt64LE(crcOf('"int"'), 2);
    expect(header.toString('hex')).toBe('c3018f5c393f1ad57572');
    expect(fingerprintOf('int')).toBe('7275d51a3f395c8f');
  });

  it('fingerprints the empty input as the polynomial seed', () => {
    expect(crc64Avro(new Uint8Array())).toBe(0xc15d213aa4d7a795n);
  });
});

describe('parsingCanonicalForm rules', () => {
  it('strips docs, aliases, defaults, order, logical types and custom attributes', () => {
    const schema = parse(`{
      "type": "record", "name": "Event", "namespace": "writ.events", "doc": "d", "aliases": ["Old"],
      "fields": [
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}, "doc": "x", "writ.rule": "non-negative"},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}, "default": "", "order": "ignore", "aliases": ["uid"]}
      ]
    }`);
    expect(parsingCanonicalForm(schema)).toBe(
      '{"name":"writ.events.Event","type":"record","fields":[{"name":"at","type":"long"},{"name":"id","type":"string"}]}',
    );
  });

  it('orders attributes name, type, fields/symbols/items/values/size whatever the input order', () => {
    const schema = parse('{"symbols":["B","A"],"name":"E","type":"enum"}');
    expect(parsingCanonicalForm(schema)).toBe('{"name":"E","type":"enum","symbols":["B","A"]}');
  });

  it('writes full names, inherits namespaces and refers to a named type by full name after its definition', () => {
    const schema = parse(`{
      "type": "record", "name": "Outer", "namespace": "a.b",
      "fields": [
        {"name": "first", "type": {"type": "record", "name": "Inner", "fields": [{"name": "v", "type": "int"}]}},
        {"name": "second", "type": "Inner"},
        {"name": "third", "type": ["null", {"type": "enum", "name": "c.Kind", "symbols": ["X"]}]},
        {"name": "fourth", "type": {"type": "array", "items": "c.Kind"}},
        {"name": "fifth", "type": {"type": "record", "name": "Other", "namespace": "", "fields": []}}
      ]
    }`);
    expect(parsingCanonicalForm(schema)).toBe(
      '{"name":"a.b.Outer","type":"record","fields":[' +
        '{"name":"first","type":{"name":"a.b.Inner","type":"record","fields":[{"name":"v","type":"int"}]}},' +
        '{"name":"second","type":"a.b.Inner"},' +
        '{"name":"third","type":["null",{"name":"c.Kind","type":"enum","symbols":["X"]}]},' +
        '{"name":"fourth","type":{"type":"array","items":"c.Kind"}},' +
        '{"name":"fifth","type":{"name":"Other","type":"record","fields":[]}}]}',
    );
  });

  it('keeps non-ASCII text as UTF-8 rather than escapes', () => {
    expect(parsingCanonicalForm(parse('{"type":"enum","name":"E","symbols":["\\u00e9t\\u00e9"]}'))).toBe('{"name":"E","type":"enum","symbols":["été"]}');
  });

  it('changes the fingerprint when the shape changes, not when the docs do', () => {
    const base = { type: 'record', name: 'R', fields: [{ name: 'a', type: 'string' }] };
    const documented = { ...base, doc: 'now documented', fields: [{ name: 'a', type: 'string', doc: 'field a' }] };
    const reshaped = { ...base, fields: [{ name: 'a', type: 'long' }] };
    expect(fingerprintOf(documented)).toBe(fingerprintOf(base));
    expect(fingerprintOf(reshaped)).not.toBe(fingerprintOf(base));
  });
});
