import avro from 'avsc';
import { WritError } from '@writ/errors';
import type { CatalogueEntry } from './catalogue.ts';
import { parseSchema } from './compat.ts';
import { fingerprintHex } from './fingerprint.ts';
import { compileValidator } from './rules.ts';
import type { RuleViolation, Validator } from './rules.ts';

/**
 * Avro single-object encoding (Avro specification, "Single-object encoding"):
 *   C3 01 | CRC-64-AVRO fingerprint of the writer schema, 8 bytes little-endian | Avro binary body
 * A codec encodes with the latest version of each type in its catalogue, and decodes any version
 * in the catalogue by resolving it (Avro schema resolution) to that latest version.
 */
export const MAGIC = Object.freeze([0xc3, 0x01] as const);
export const HEADER_LENGTH = 10;

export interface Decoded<T extends string = string> {
  readonly type: T;
  readonly payload: unknown;
  /** Version of the schema that wrote the bytes. */
  readonly schemaVersion: number;
  /** Fingerprint of that writer schema, 16 hex digits. */
  readonly fingerprint: string;
}

export interface SingleObjectCodec<T extends string = string> {
  readonly types: readonly T[];
  has(type: string): type is T;
  /** Catalogue entry of the current (latest) version of `type`. */
  current(type: T): CatalogueEntry<T>;
  encode(type: T, payload: unknown): Buffer;
  decode(bytes: Uint8Array): Decoded<T>;
}

interface CurrentSchema<T extends string> {
  readonly entry: CatalogueEntry<T>;
  readonly type: avro.Type;
  readonly header: Buffer;
  readonly validate: Validator;
}

interface WriterSchema<T extends string> {
  readonly entry: CatalogueEntry<T>;
  /** Parsed on first use, then reused for every message of that version. */
  decoder?: { readonly reader: avro.Type; readonly resolver: avro.Resolver | undefined };
}

/** Shared scratch space for encoding: one copy per message instead of two. Grows as needed. */
let scratch = Buffer.allocUnsafe(64 * 1024);

export function createSingleObjectCodec<T extends string>(catalogue: readonly CatalogueEntry<T>[]): SingleObjectCodec<T> {
  const latest = new Map<string, CatalogueEntry<T>>();
  const writers = new Map<bigint, WriterSchema<T>>();
  for (const entry of catalogue) {
    const fingerprint = BigInt(`0x${entry.fingerprint}`);
    if (writers.has(fingerprint)) throw new Error(`fingerprint ${entry.fingerprint} appears twice in the catalogue`);
    writers.set(fingerprint, { entry });
    const known = latest.get(entry.type);
    if (known === undefined || known.version < entry.version) latest.set(entry.type, entry);
  }
  const currents = new Map<string, CurrentSchema<T>>();

  const has = (type: string): type is T => latest.has(type);

  function current(type: T): CurrentSchema<T> {
    let schema = currents.get(type);
    if (schema === undefined) {
      const entry = latest.get(type);
      if (entry === undefined) {
        throw new WritError('EVENT_INVALID', `unknown event type ${JSON.stringify(type)}`, {
          field: 'type',
          rule: 'must be a known event type',
        });
      }
      const header = Buffer.alloc(HEADER_LENGTH);
      header[0] = MAGIC[0];
      header[1] = MAGIC[1];
      header.writeBigUInt64LE(BigInt(`0x${entry.fingerprint}`), 2);
      schema = { entry, type: parseSchema(entry.schema), header, validate: compileValidator(entry.schema) };
      currents.set(type, schema);
    }
    return schema;
  }

  function decoderOf(writer: WriterSchema<T>): NonNullable<WriterSchema<T>['decoder']> {
    if (writer.decoder === undefined) {
      const reader = current(writer.entry.type);
      const resolver = reader.entry === writer.entry ? undefined : reader.type.createResolver(parseSchema(writer.entry.schema));
      writer.decoder = { reader: reader.type, resolver };
    }
    return writer.decoder;
  }

  function encode(type: T, payload: unknown): Buffer {
    const schema = current(type);
    let end: number;
    try {
      end = schema.type.encode(payload, scratch, HEADER_LENGTH);
      if (end < 0) {
        scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, scratch.length - end));
        end = schema.type.encode(payload, scratch, HEADER_LENGTH);
      }
    } catch (error) {
      throw invalid(type, structuralViolation(schema.type, payload), error);
    }
    const broken = schema.validate(payload);
    if (broken !== undefined) throw invalid(type, broken);
    const out = Buffer.allocUnsafe(end);
    schema.header.copy(out, 0);
    scratch.copy(out, HEADER_LENGTH, HEADER_LENGTH, end);
    return out;
  }

  function decode(bytes: Uint8Array): Decoded<T> {
    const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (buffer.length < HEADER_LENGTH) {
      throw undecodable(`${String(buffer.length)} bytes are too few for a single-object encoded event (the header alone is ${String(HEADER_LENGTH)})`);
    }
    if (buffer[0] !== MAGIC[0] || buffer[1] !== MAGIC[1]) {
      throw undecodable(`bad magic ${buffer.subarray(0, 2).toString('hex')}: expected c301 (Avro single-object encoding)`);
    }
    const fingerprint = buffer.readBigUInt64LE(2);
    const writer = writers.get(fingerprint);
    if (writer === undefined) {
      const hex = fingerprintHex(fingerprint);
      throw new WritError('SCHEMA_UNKNOWN', `no released schema has fingerprint ${hex}`, { details: { fingerprint: hex } });
    }
    const { entry } = writer;
    const decoder = decoderOf(writer);
    let payload: unknown;
    try {
      payload = decoder.reader.fromBuffer(buffer.subarray(HEADER_LENGTH), decoder.resolver);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw undecodable(`${entry.type} v${String(entry.version)}: body does not decode (${reason})`, error, {
        type: entry.type,
        fingerprint: entry.fingerprint,
      });
    }
    const broken = current(entry.type).validate(payload);
    if (broken !== undefined) throw invalid(entry.type, broken, undefined, entry.fingerprint);
    return { type: entry.type, payload, schemaVersion: entry.version, fingerprint: entry.fingerprint };
  }

  return {
    types: [...latest.keys()] as T[],
    has,
    current: (type) => current(type).entry,
    encode,
    decode,
  };
}

function undecodable(message: string, cause?: unknown, details?: Record<string, unknown>): WritError {
  return new WritError('EVENT_UNDECODABLE', message, { cause, details });
}

function invalid(type: string, violation: RuleViolation, cause?: unknown, fingerprint?: string): WritError {
  return new WritError('EVENT_INVALID', `${type}: ${violation.field} ${violation.rule}`, {
    field: violation.field,
    rule: violation.rule,
    cause,
    details: { type, ...(fingerprint === undefined ? {} : { fingerprint }) },
  });
}

/** Finds where a value departs from an Avro type, for an error that names the field. */
function structuralViolation(type: avro.Type, value: unknown): RuleViolation {
  let found: RuleViolation | undefined;
  type.isValid(value, {
    errorHook(path: string[], actual: unknown, at: avro.Type) {
      found ??= { field: formatPath(path), rule: `${describeType(at)} (got ${describeValue(actual)})` };
    },
  });
  return found ?? { field: '(payload)', rule: 'must match the schema' };
}

function formatPath(path: readonly string[]): string {
  let out = '';
  for (const part of path) out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  return out === '' ? '(payload)' : out;
}

function describeType(type: avro.Type): string {
  if (type instanceof avro.types.UnwrappedUnionType) return `must be ${type.types.map(typeWord).join(' or ')}`;
  return `must be ${typeWord(type)}`;
}

function typeWord(type: avro.Type): string {
  switch (type.typeName) {
    case 'null':
      return 'null';
    case 'int':
      return 'a 32-bit integer';
    case 'long':
      return 'a safe integer';
    case 'float':
    case 'double':
      return 'a number';
    case 'array':
      return 'an array';
    case 'map':
      return 'an object of values';
    case 'enum':
      return `one of ${(type as avro.types.EnumType).symbols.join(', ')}`;
    case 'record':
      return "an object with the schema's fields";
    default:
      return `a ${type.typeName}`;
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${String(value.length)} characters` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
