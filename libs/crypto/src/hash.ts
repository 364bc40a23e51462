import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.ts';

/** Lower-case hex SHA-256 of a UTF-8 string or of raw bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 of the canonical JSON of a value: the hash two services agree on for the same data. */
export function sha256Canonical(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
