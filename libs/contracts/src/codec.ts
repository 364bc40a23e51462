import avro from 'avsc';
import { WritError } from '@writ/errors';
import { CATALOGUE } from './catalogue.generated.ts';
import type { CatalogueEntry } from './catalogue.ts';
import { parseSchema } from './compat.ts';
import { EVENT_TOPICS, EVENT_TYPES } from './events.generated.ts';
import type { EventPayloads, EventType, Topic } from './events.generated.ts';
import { fingerprintHex } from './fingerprint.ts';
import { compileValidator } from './rules.ts';
import type { RuleViolation, Validator } from './rules.ts';

/**
 * Avro single-object encoding (Avro specification, "Single-object encoding"):
 *   C3 01 | CRC-64-AVRO fingerprint of the writer schema, 8 bytes little-endian | Avro binary body
 * Readers find the writer schema by fingerprint in the catalogue (every released version) and
 * resolve it to the current version of the same event.
 */
export const MAGIC = Object.freeze([0xc3, 0x01] as const);
export const HEADER_LENGTH = 10;

/** A decoded event: payload in the current schema version, whatever version wrote it. */
export type DecodedEvent = {
  readonly [T in EventType]: {
    readonly type: T;
    readonly payload: EventPayloads[T];
    /** Version of the schema that wrote the bytes. */
    readonly schemaVersion: number;
    /** Fingerprint of that writer schema, 16 hex digits. */
    readonly fingerprint: string;
  };
}[EventType];

interface CurrentCodec {
  readonly entry: CatalogueEntry;
  readonly type: avro.Type;
  readonly header: Buffer;
  readonly validate: Validator;
}

interface WriterSchema {
  readonly entry: CatalogueEntry;
  /** Parsed on first use. */
  decoder?: { readonly reader: avro.Type; readonly resolver: avro.Resolver | undefined };
}

const latest = new Map<EventType, CatalogueEntry>();
const writers = new Map<bigint, WriterSchema>();
for (const entry of CATALOGUE) {
  writers.set(BigInt(`0x${entry.fingerprint}`), { entry });
  const known = latest.get(entry.type);
  if (known === undefined || known.version < entry.version) latest.set(entry.type, entry);
}
const currentCodecs = new Map<EventType, CurrentCodec>();

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);

export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && EVENT_TYPE_SET.has(value);
}

export function topicOf(type: EventType): Topic {
  return EVENT_TOPICS[type];
}

/** The catalogue entry of an event's current schema (what encodeEvent writes). */
export function currentSchemaOf(type: EventType): CatalogueEntry {
  const entry = latest.get(type);
  if (entry === undefined) throw new WritError('SCHEMA_UNKNOWN', `no schema for event type ${String(type)}`);
  return entry;
}

function currentCodec(type: EventType): CurrentCodec {
  let codec = currentCodecs.get(type);
  if (codec === undefined) {
    const entry = currentSchemaOf(type);
    const header = Buffer.alloc(HEADER_LENGTH);
    header[0] = MAGIC[0];
    header[1] = MAGIC[1];
    header.writeBigUInt64LE(BigInt(`0x${entry.fingerprint}`), 2);
    codec = { entry, type: parseSchema(entry.schema), header, validate: compileValidator(entry.schema) };
    currentCodecs.set(type, codec);
  }
  return codec;
}

function decoderOf(writer: WriterSchema): NonNullable<WriterSchema['decoder']> {
  if (writer.decoder === undefined) {
    const current = currentCodec(writer.entry.type);
    const resolver =
      current.entry === writer.entry ? undefined : current.type.createResolver(parseSchema(writer.entry.schema));
    writer.decoder = { reader: current.type, resolver };
  }
  return writer.decoder;
}

let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * Encodes a payload with the current schema of its event type, framed as a single object.
 * Throws EVENT_INVALID (not retriable) naming the field and the rule when the payload does not
 * fit the schema or breaks one of its rules.
 */
export function encodeEvent<T extends EventType>(type: T, payload: EventPayloads[T]): Buffer {
  if (!isEventType(type)) {
    throw new WritError('EVENT_INVALID', `unknown event type ${JSON.stringify(type)}`, { field: 'type', rule: 'must be a known event type' });
  }
  const codec = currentCodec(type);
  let end: number;
  try {
    end = codec.type.encode(payload, scratch, HEADER_LENGTH);
    if (end < 0) {
      scratch = Buffer.allocUnsafe(Math.max(scratch.length * 2, HEADER_LENGTH - end + scratch.length));
      end = codec.type.encode(payload, scratch, HEADER_LENGTH);
    }
  } catch (error) {
    throw invalid(type, structuralViolation(codec.type, payload), error);
  }
  const broken = codec.validate(payload);
  if (broken !== undefined) throw invalid(type, broken);
  const out = Buffer.allocUnsafe(end);
  codec.header.copy(out, 0);
  scratch.copy(out, HEADER_LENGTH, HEADER_LENGTH, end);
  return out;
}

/**
 * Decodes a single-object encoded event, resolving the writer's schema version to the current
 * one. Errors, all WritError and not retriable (send the message to the DLQ):
 *   EVENT_UNDECODABLE  too short, bad magic, a body that does not decode or has trailing bytes
 *   SCHEMA_UNKNOWN     the fingerprint is in no released version (hex in the message)
 *   EVENT_INVALID      it decodes but breaks a rule (field and rule named)
 */
export function decodeEvent(bytes: Uint8Array): DecodedEvent {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.length < HEADER_LENGTH) {
    throw undecodable(`${String(buffer.length)} bytes is too short for a single-object encoded event (header is ${String(HEADER_LENGTH)})`);
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
    throw undecodable(
      `${entry.type} v${String(entry.version)} body does not decode: ${error instanceof Error ? error.message : String(error)}`,
      error,
      { type: entry.type, fingerprint: entry.fingerprint },
    );
  }
  const broken = currentCodec(entry.type).validate(payload);
  if (broken !== undefined) throw invalid(entry.type, broken, undefined, entry.fingerprint);
  return { type: entry.type, payload, schemaVersion: entry.version, fingerprint: entry.fingerprint } as DecodedEvent;
}

function undecodable(message: string, cause?: unknown, details?: Record<string, unknown>): WritError {
  return new WritError('EVENT_UNDECODABLE', message, { cause, details });
}

function invalid(type: EventType, violation: RuleViolation, cause?: unknown, fingerprint?: string): WritError {
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
  const name = type.typeName;
  if (type instanceof avro.types.EnumType) return `must be one of ${type.symbols.join(', ')}`;
  if (type instanceof avro.types.UnwrappedUnionType) return `must be ${type.types.map(typeWord).join(' or ')}`;
  if (name === 'record') return 'must be an object with the schema\'s fields';
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
    case 'enum':
      return `one of ${(type as avro.types.EnumType).symbols.join(', ')}`;
    case 'record':
      return 'an object';
    default:
      return `a ${type.typeName}`;
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') return value.length > 40 ? `a string of ${String(value.length)} characters` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
