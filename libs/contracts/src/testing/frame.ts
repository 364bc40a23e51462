import { parseSchema } from '../compat.ts';
import { HEADER_LENGTH, MAGIC } from '../single-object.ts';
import { crc64Avro, parsingCanonicalForm } from '../fingerprint.ts';
import type { AvroSchemaJson } from '../schema-json.ts';

/**
 * Frames `value` written with an arbitrary schema as a single object (C3 01, fingerprint, body),
 * the way a foreign or future producer would: for unknown-fingerprint and evolution tests.
 */
export function encodeWithSchema(schema: AvroSchemaJson, value: unknown): Buffer {
  const body = parseSchema(schema).toBuffer(value);
  const header = Buffer.alloc(HEADER_LENGTH);
  header[0] = MAGIC[0];
  header[1] = MAGIC[1];
  header.writeBigUInt64LE(crc64Avro(Buffer.from(parsingCanonicalForm(schema), 'utf8')), 2);
  return Buffer.concat([header, body]);
}
