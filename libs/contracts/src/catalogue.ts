import type { EventType } from './events.generated.ts';
import type { AvroSchemaJson } from './schema-json.ts';

/** One released schema version as the generator records it in catalogue.generated.ts. */
export interface CatalogueEntry<T extends string = EventType> {
  readonly type: T;
  readonly version: number;
  /** CRC-64-AVRO of the schema's Parsing Canonical Form, 16 lowercase hex digits. */
  readonly fingerprint: string;
  readonly schema: AvroSchemaJson;
}
