import avro from 'avsc';
import type { AvroSchemaJson } from './schema-json.ts';

/** One released version of one event's schema. */
export interface SchemaVersion {
  readonly type: string;
  readonly version: number;
  readonly schema: AvroSchemaJson;
}

/** The latest schema of `type` cannot read data written with `writerVersion`. */
export interface CompatibilityProblem {
  readonly type: string;
  readonly readerVersion: number;
  readonly writerVersion: number;
  readonly reason: string;
}

/**
 * How Writ parses schemas everywhere: unions as plain values (`string | null`), never wrapped.
 * A fresh options object per parse: avsc stores its type registry in the options it is given.
 */
export function parseSchema(schema: AvroSchemaJson): avro.Type {
  const registry: Record<string, avro.Type> = {};
  const type = avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false, omitRecordMethods: true, registry });
  // Decoded records come out as plain objects (no avsc class per record): they compare, clone and
  // serialise like any payload built by hand. avsc builds them with `new recordConstructor(...)`.
  for (const named of Object.values(registry)) {
    if (named instanceof avro.types.RecordType) named.recordConstructor.prototype = Object.prototype;
  }
  return type;
}

/**
 * Backward-transitive compatibility: for every event, the latest version must read data written
 * with every earlier released version (Avro schema resolution: new fields need defaults, types
 * may only be promoted, enum symbols may not disappear without a default, renames need aliases).
 */
export function checkCompatibility(versions: readonly SchemaVersion[]): CompatibilityProblem[] {
  const byType = new Map<string, SchemaVersion[]>();
  for (const entry of versions) {
    const list = byType.get(entry.type) ?? [];
    list.push(entry);
    byType.set(entry.type, list);
  }
  const problems: CompatibilityProblem[] = [];
  for (const [type, list] of [...byType].sort(([a], [b]) => a.localeCompare(b))) {
    const sorted = [...list].sort((a, b) => a.version - b.version);
    const latest = sorted.at(-1);
    if (latest === undefined) continue;
    const reader = parseSchema(latest.schema);
    for (const writer of sorted.slice(0, -1)) {
      try {
        reader.createResolver(parseSchema(writer.schema));
      } catch (error) {
        problems.push({
          type,
          readerVersion: latest.version,
          writerVersion: writer.version,
          reason: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }
  return problems;
}

export function describeCompatibilityProblem(problem: CompatibilityProblem): string {
  return `${problem.type}: v${String(problem.readerVersion)} cannot read v${String(problem.writerVersion)}: ${problem.reason}`;
}
