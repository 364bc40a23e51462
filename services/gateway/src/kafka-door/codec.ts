import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createSingleObjectCodec, fingerprintOf } from '@writ/contracts';
import type { AvroSchemaJson, CatalogueEntry, SingleObjectCodec } from '@writ/contracts';

// The Kafka door's records (docs/kafka-door.md): schemas/_door/*.avsc, in Avro single-object
// encoding (C3 01, the writer schema's CRC-64-AVRO fingerprint, the body), as every Writ event.
// They are not events of Writ's own topics (no `meta`: the agent cannot state who it is), so they
// live beside the catalogue, not in it; a change is a new file DoorProposal.v2.avsc, never an edit.

export type DoorRecordType = 'DoorProposal' | 'DoorOutcome';

/** schemas/_door, from src/kafka-door or dist/kafka-door of services/gateway. */
export const DOOR_SCHEMAS_DIR = fileURLToPath(new URL('../../../../schemas/_door/', import.meta.url));

/** Every released version of the door's records: add a line for a new version. */
const RELEASED: readonly { readonly type: DoorRecordType; readonly version: number }[] = [
  { type: 'DoorProposal', version: 1 },
  { type: 'DoorOutcome', version: 1 },
  { type: 'DoorOutcome', version: 2 },
];

export function doorSchema(type: DoorRecordType, version: number, dir = DOOR_SCHEMAS_DIR): AvroSchemaJson {
  return JSON.parse(readFileSync(`${dir}${type}.v${String(version)}.avsc`, 'utf8')) as AvroSchemaJson;
}

export function doorCatalogue(dir = DOOR_SCHEMAS_DIR): CatalogueEntry<DoorRecordType>[] {
  return RELEASED.map(({ type, version }) => {
    const schema = doorSchema(type, version, dir);
    return { type, version, schema, fingerprint: fingerprintOf(schema) };
  });
}

/** A codec of the door's records; decoding throws WritError EVENT_UNDECODABLE or SCHEMA_UNKNOWN for anything else. */
export function doorCodec(dir = DOOR_SCHEMAS_DIR): SingleObjectCodec<DoorRecordType> {
  return createSingleObjectCodec(doorCatalogue(dir));
}

/**
 * Encodes a DoorOutcome with the oldest released version that can say it: accepted, rejected and
 * ended as v1 (what agents that know only v1 read, byte for byte as before v2), held as v2. A
 * single-object record names its writer schema, so a reader that does not know v2 cannot read a
 * v2 record at all (its enum default would not help): writing every kind as v2 would leave such
 * agents with no answers. Readers of v2 read both (v1 resolves to v2: `approval` null).
 */
export function outcomeEncoder(dir = DOOR_SCHEMAS_DIR): (outcome: DoorOutcome) => Buffer {
  const catalogue = doorCatalogue(dir);
  const latest = createSingleObjectCodec(catalogue);
  const v1 = createSingleObjectCodec(catalogue.filter((entry) => entry.type === 'DoorOutcome' && entry.version === 1));
  return (outcome) => {
    if (outcome.kind === 'held') return latest.encode('DoorOutcome', outcome);
    const { approval: _approval, ...v1Fields } = outcome;
    return v1.encode('DoorOutcome', v1Fields);
  };
}

/** A DoorProposal v1 as decoded (Avro unions unwrapped: `run` is a run id or an OpenRun). */
export interface DoorProposal {
  readonly idempotency_key: string;
  readonly run: string | DoorOpenRun;
  readonly tool: string;
  readonly tool_version: string | null;
  readonly arguments: string;
  readonly reason: string;
  readonly provenance: DoorProvenance | null;
}

export interface DoorOpenRun {
  readonly goal: string;
  readonly mode: string | null;
  readonly limits: {
    readonly max_steps: number | null;
    readonly max_cost_micros: number | null;
    readonly max_tool_calls: number | null;
    readonly wall_clock_ms: number | null;
    readonly currency: string | null;
  } | null;
}

export interface DoorProvenance {
  readonly model: { readonly name: string; readonly provider: string | null; readonly version: string | null } | null;
  readonly prompt_version: string | null;
  readonly retrieved_documents: readonly { readonly id: string; readonly version: string | null; readonly sha256: string }[];
}

export type DoorOutcomeKind = 'accepted' | 'rejected' | 'ended' | 'held';

/** What a held action waits for (DoorOutcome v2 `approval`): times in milliseconds since the epoch. */
export interface DoorApproval {
  readonly policy_id: string;
  readonly count: number;
  readonly roles: readonly string[];
  readonly reason: string | null;
  readonly requested_at: number | null;
  readonly expires_at: number | null;
}

export interface DoorOutcome {
  readonly kind: DoorOutcomeKind;
  readonly idempotency_key: string | null;
  readonly run_id: string | null;
  readonly action_id: string | null;
  readonly status: string | null;
  readonly reason: string | null;
  readonly reason_code: string | null;
  readonly decision: string | null;
  readonly determining_policies: readonly string[];
  readonly result: string | null;
  readonly cost_micros: number | null;
  readonly currency: string | null;
  readonly error: { readonly code: string; readonly message: string; readonly field: string | null; readonly rule: string | null } | null;
  readonly proposal_partition: number | null;
  readonly proposal_offset: number | null;
  readonly occurred_at: number;
  /** v2, kind held only (null otherwise; a v1 record decodes with null). */
  readonly approval: DoorApproval | null;
}
