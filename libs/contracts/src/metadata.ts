import { createHash, randomFillSync } from 'node:crypto';
import type { Metadata, TraceContext } from './events.generated.ts';

/** What a producer says about a new event; newMetadata fills in the event id and the time. */
export interface NewMetadata {
  readonly tenant_id: string;
  readonly run_id: string;
  readonly action_id?: string | null;
  readonly causation_id?: string | null;
  /** service@version of the producing service. */
  readonly producer: string;
  readonly trace?: TraceContext | null;
  /** Defaults to now; set it only to reproduce a recorded event. */
  readonly occurred_at?: number;
}

/** What a decider is given to stamp its events (the runtime passes newMetadata: a fresh id and the time). */
export type MetadataFactory = (input: NewMetadata) => Metadata;

export function newMetadata(input: NewMetadata): Metadata {
  const occurredAt = input.occurred_at ?? Date.now();
  return {
    event_id: uuidv7(occurredAt),
    occurred_at: occurredAt,
    tenant_id: input.tenant_id,
    run_id: input.run_id,
    action_id: input.action_id ?? null,
    causation_id: input.causation_id ?? null,
    producer: input.producer,
    trace: input.trace ?? null,
  };
}

let lastMs = -1;
let sequence = 0;

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, a 12-bit sequence (rand_a) that
 * keeps ids from one process strictly increasing within a millisecond, then 62 random bits.
 */
export function uuidv7(ms: number = Date.now()): string {
  const bytes = new Uint8Array(16);
  randomFillSync(bytes);
  let timestamp = Math.trunc(ms);
  if (timestamp > lastMs) {
    lastMs = timestamp;
    sequence = (((bytes[6] ?? 0) & 0x07) << 8) | (bytes[7] ?? 0); // random start, room to count up
  } else if (timestamp === lastMs || timestamp >= lastMs - 10_000) {
    // Same millisecond (or the clock stepped back a little): keep counting from the last id.
    sequence += 1;
    if (sequence > 0xfff) {
      lastMs += 1;
      sequence = 0;
    }
    timestamp = lastMs;
  }
  for (let index = 5; index >= 0; index -= 1) {
    bytes[index] = timestamp % 256;
    timestamp = Math.floor(timestamp / 256);
  }
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The action id of a proposal: a UUID (version 8, RFC 9562) made from the sha256 of tenant, run
 * and idempotency key, so a retried proposal is the same action in every service.
 */
export function actionIdFor(tenantId: string, runId: string, idempotencyKey: string): string {
  return nameBasedUuid([tenantId, runId, idempotencyKey]);
}

/**
 * A UUID (version 8, RFC 9562) made from the sha256 of the JSON of `names`: the same names give
 * the same id in every process (an action's id, an event emitted at most once per subject).
 */
export function nameBasedUuid(names: readonly (string | number)[]): string {
  const digest = createHash('sha256').update(JSON.stringify(names)).digest();
  digest[6] = ((digest[6] ?? 0) & 0x0f) | 0x80;
  digest[8] = ((digest[8] ?? 0) & 0x3f) | 0x80;
  const hex = digest.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
