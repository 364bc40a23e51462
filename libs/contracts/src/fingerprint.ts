import { PRIMITIVE_TYPES, fullNameOf, isJsonObject, namespaceOf, resolveReference } from './schema-json.ts';
import type { AvroSchemaJson, JsonObject } from './schema-json.ts';

/**
 * Parsing Canonical Form and the CRC-64-AVRO fingerprint, as defined by the Avro specification
 * ("Parsing Canonical Form for Schemas" and "Schema Fingerprints"). Single-object encoding frames
 * each message with the fingerprint of the writer schema's canonical form.
 */

/**
 * The Parsing Canonical Form of a schema: primitives in their simple form, full names, only the
 * attributes that matter for parsing (name, type, fields, symbols, items, values, size) in that
 * order, no whitespace. A named type appears in full the first time and by full name afterwards.
 */
export function parsingCanonicalForm(schema: AvroSchemaJson): string {
  return canonical(schema, undefined, new Set<string>());
}

function canonical(schema: AvroSchemaJson, namespace: string | undefined, seen: Set<string>): string {
  if (typeof schema === 'string') {
    if (PRIMITIVE_TYPES.has(schema)) return JSON.stringify(schema);
    return JSON.stringify(resolveReference(schema, namespace, seen));
  }
  if (Array.isArray(schema)) {
    return `[${schema.map((branch: AvroSchemaJson) => canonical(branch, namespace, seen)).join(',')}]`;
  }
  if (!isJsonObject(schema)) throw new TypeError(`not an Avro schema: ${JSON.stringify(schema)}`);
  const type = schema['type'];
  if (typeof type !== 'string') {
    // {"type": {...}} or {"type": [...]}: the wrapper adds nothing to parsing.
    if (type === undefined) throw new TypeError(`schema without a type: ${JSON.stringify(schema)}`);
    return canonical(type, namespace, seen);
  }
  switch (type) {
    case 'record':
    case 'error':
    case 'enum':
    case 'fixed':
      return canonicalNamed(schema, type, namespace, seen);
    case 'array':
      return `{"type":"array","items":${canonical(required(schema, 'items'), namespace, seen)}}`;
    case 'map':
      return `{"type":"map","values":${canonical(required(schema, 'values'), namespace, seen)}}`;
    default:
      // A primitive with attributes (logicalType, doc...) or a reference written as {"type":"Name"}.
      return canonical(type, namespace, seen);
  }
}

function canonicalNamed(schema: JsonObject, type: string, enclosing: string | undefined, seen: Set<string>): string {
  const name = schema['name'];
  if (typeof name !== 'string') throw new TypeError(`${type} without a name`);
  const own = schema['namespace'];
  const fullName = fullNameOf(name, typeof own === 'string' ? own : enclosing);
  if (seen.has(fullName)) return JSON.stringify(fullName);
  seen.add(fullName);
  const head = `{"name":${JSON.stringify(fullName)},"type":${JSON.stringify(type === 'error' ? 'record' : type)}`;
  if (type === 'enum') {
    const symbols = required(schema, 'symbols');
    return `${head},"symbols":${JSON.stringify(symbols)}}`;
  }
  if (type === 'fixed') {
    const size = required(schema, 'size');
    if (typeof size !== 'number' || !Number.isInteger(size)) throw new TypeError(`fixed ${fullName}: bad size`);
    return `${head},"size":${String(size)}}`;
  }
  const fields = required(schema, 'fields');
  if (!Array.isArray(fields)) throw new TypeError(`record ${fullName}: fields must be an array`);
  const inner = namespaceOf(fullName);
  const parts = fields.map((field: AvroSchemaJson) => {
    if (!isJsonObject(field) || typeof field['name'] !== 'string') {
      throw new TypeError(`record ${fullName}: every field needs a name`);
    }
    return `{"name":${JSON.stringify(field['name'])},"type":${canonical(required(field, 'type'), inner, seen)}}`;
  });
  return `${head},"fields":[${parts.join(',')}]}`;
}

function required(schema: JsonObject, key: string): AvroSchemaJson {
  const value = schema[key];
  if (value === undefined) throw new TypeError(`schema ${JSON.stringify(schema['name'] ?? schema['type'])} lacks "${key}"`);
  return value;
}

/** The CRC-64-AVRO polynomial's "empty" value, which is also the initial fingerprint. */
const EMPTY = 0xc15d213aa4d7a795n;
const MASK_64 = 0xffffffffffffffffn;

const TABLE: readonly bigint[] = Array.from({ length: 256 }, (_, index) => {
  let fp = BigInt(index);
  for (let bit = 0; bit < 8; bit += 1) fp = (fp >> 1n) ^ (EMPTY & -(fp & 1n) & MASK_64);
  return fp;
});

/** CRC-64-AVRO (Rabin) fingerprint of some bytes, as an unsigned 64-bit integer. */
export function crc64Avro(bytes: Uint8Array): bigint {
  let fp = EMPTY;
  for (const byte of bytes) {
    fp = (fp >> 8n) ^ (TABLE[Number((fp ^ BigInt(byte)) & 0xffn)] as bigint);
  }
  return fp;
}

/** CRC-64-AVRO of a schema's Parsing Canonical Form, as 16 lowercase hex digits (big-endian). */
export function fingerprintOf(schema: AvroSchemaJson): string {
  return fingerprintHex(crc64Avro(Buffer.from(parsingCanonicalForm(schema), 'utf8')));
}

export function fingerprintHex(fingerprint: bigint): string {
  return fingerprint.toString(16).padStart(16, '0');
}
