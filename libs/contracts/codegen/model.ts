import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseSchema } from '../src/compat.ts';
import { fingerprintOf } from '../src/fingerprint.ts';
import { compileValidator } from '../src/rules.ts';
import { isJsonObject } from '../src/schema-json.ts';
import type { AvroSchemaJson, Json, JsonObject } from '../src/schema-json.ts';

/**
 * Reads and checks the schema tree (see schemas/README.md):
 *   schemas/topics.json               topic -> event names, in a stable order
 *   schemas/_shared/Metadata.avsc     the metadata record every current schema embeds as `meta`
 *   schemas/<Event>/v<N>.avsc         every released version, 1..N, the highest is current
 */
export const NAMESPACE = 'writ.events';

export interface LoadedVersion {
  readonly version: number;
  readonly file: string;
  readonly schema: JsonObject;
  readonly fingerprint: string;
}

export interface LoadedEvent {
  readonly name: string;
  readonly topic: string;
  /** Ascending by version; the last one is current. */
  readonly versions: readonly LoadedVersion[];
}

export interface SchemaTree {
  /** In topics.json order, then the order of names inside each topic. */
  readonly events: readonly LoadedEvent[];
  readonly topics: readonly string[];
}

export class SchemaTreeError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid schema tree:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

const EVENT_NAME = /^[A-Z][A-Za-z0-9]*$/;
const VERSION_FILE = /^v([1-9][0-9]*)\.avsc$/;
const TOPIC_NAME = /^writ\.[a-z][a-z0-9-]*\.v[0-9]+$/;

function readJson(path: string): Json {
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

/** Deep equality of JSON values, key order ignored. */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((item: Json, index: number) => jsonEqual(item, (b as readonly Json[])[index]));
  }
  if (!isJsonObject(a ?? null) || !isJsonObject(b ?? null)) return false;
  const left = a as JsonObject;
  const right = b as JsonObject;
  const keys = Object.keys(left);
  return keys.length === Object.keys(right).length && keys.every((key) => jsonEqual(left[key], right[key]));
}

function withoutNamespace(schema: JsonObject): JsonObject {
  const copy: Record<string, Json> = { ...schema };
  delete copy['namespace'];
  return copy;
}

/** The schema tree as read from disk, before any check. */
export interface RawSchemaTree {
  /** Parsed topics.json. */
  readonly topics: Json;
  /** Parsed _shared/Metadata.avsc, when present. */
  readonly metadata: Json | undefined;
  /** Parsed released.json, when present. */
  readonly released: Json | undefined;
  /** Every file inside an event folder, by path relative to the schema root ("RunEnded/v1.avsc"). */
  readonly files: ReadonlyMap<string, string>;
}

export const RELEASED_FILE = 'released.json';

export function readSchemaTree(root: string): RawSchemaTree {
  const optional = (path: string): Json | undefined => (existsSync(path) ? readJson(path) : undefined);
  const files = new Map<string, string>();
  for (const entry of readdirSync(root).sort()) {
    if (entry.startsWith('_') || !statSync(join(root, entry)).isDirectory()) continue;
    for (const file of readdirSync(join(root, entry)).sort()) {
      files.set(`${entry}/${file}`, readFileSync(join(root, entry, file), 'utf8'));
    }
  }
  return {
    topics: readJson(join(root, 'topics.json')),
    metadata: optional(join(root, '_shared', 'Metadata.avsc')),
    released: optional(join(root, RELEASED_FILE)),
    files,
  };
}

export function loadSchemaTree(root: string): SchemaTree {
  return checkSchemaTree(readSchemaTree(root));
}

/** Checks a schema tree and returns it in generation order; throws SchemaTreeError listing every problem. */
export function checkSchemaTree(raw: RawSchemaTree): SchemaTree {
  const problems: string[] = [];
  const topicsJson = raw.topics;
  if (!isJsonObject(topicsJson)) throw new SchemaTreeError(['topics.json must map topic names to arrays of event names']);
  const topicOfEvent = new Map<string, string>();
  for (const [topic, names] of Object.entries(topicsJson)) {
    if (!TOPIC_NAME.test(topic)) problems.push(`topics.json: topic "${topic}" must look like writ.<stream>.v<N>`);
    if (!Array.isArray(names)) {
      problems.push(`topics.json: "${topic}" must list event names`);
      continue;
    }
    for (const name of names as readonly Json[]) {
      if (typeof name !== 'string') problems.push(`topics.json: "${topic}" lists a non-string`);
      else if (topicOfEvent.has(name)) problems.push(`topics.json: ${name} is listed under two topics`);
      else topicOfEvent.set(name, topic);
    }
  }

  const metadata = raw.metadata;
  if (!isJsonObject(metadata ?? null)) problems.push('_shared/Metadata.avsc is missing or not a record');

  const byEvent = new Map<string, LoadedVersion[]>();
  const fingerprints = new Map<string, string>();
  for (const [path, text] of raw.files) {
    const [name = '', file = ''] = path.split('/');
    if (!EVENT_NAME.test(name)) {
      problems.push(`${name}/: event folders are named in PascalCase`);
      continue;
    }
    const match = VERSION_FILE.exec(file);
    if (!match) {
      problems.push(`${path}: only v<N>.avsc files belong in an event folder`);
      continue;
    }
    let schema: Json;
    try {
      schema = JSON.parse(text) as Json;
    } catch (error) {
      problems.push(`${path}: not JSON (${(error as Error).message})`);
      continue;
    }
    const problem = checkEventSchema(name, schema);
    if (problem !== undefined || !isJsonObject(schema)) {
      problems.push(`${path}: ${problem ?? 'not a record'}`);
      continue;
    }
    const fingerprint = fingerprintOf(schema);
    const clash = fingerprints.get(fingerprint);
    if (clash !== undefined) problems.push(`${path}: same canonical form (fingerprint ${fingerprint}) as ${clash}`);
    fingerprints.set(fingerprint, path);
    const versions = byEvent.get(name) ?? [];
    versions.push({ version: Number(match[1]), file: path, schema, fingerprint });
    byEvent.set(name, versions);
  }

  const loaded = new Map<string, LoadedEvent>();
  for (const [name, versions] of byEvent) {
    const topic = topicOfEvent.get(name);
    if (topic === undefined) problems.push(`${name}: not listed in topics.json`);
    versions.sort((a, b) => a.version - b.version);
    versions.forEach((entry, index) => {
      if (entry.version !== index + 1) problems.push(`${entry.file}: versions must run 1..N without gaps`);
    });
    const current = versions.at(-1);
    if (current === undefined) continue;
    if (isJsonObject(metadata ?? null)) {
      const fields = current.schema['fields'] as readonly JsonObject[];
      if (!jsonEqual(fields[0]?.['type'], withoutNamespace(metadata as JsonObject))) {
        problems.push(`${current.file}: field "meta" must embed _shared/Metadata.avsc exactly (without its namespace)`);
      }
    }
    loaded.set(name, { name, topic: topic ?? '', versions });
  }
  for (const name of topicOfEvent.keys()) {
    if (!loaded.has(name)) problems.push(`topics.json: ${name} has no schema (expected ${name}/v1.avsc)`);
  }
  problems.push(...releasedProblems(raw.released, loaded));
  if (problems.length > 0) throw new SchemaTreeError(problems);

  const events: LoadedEvent[] = [];
  for (const names of Object.values(topicsJson)) {
    for (const name of names as readonly string[]) {
      const event = loaded.get(name);
      if (event !== undefined) events.push(event);
    }
  }
  return { events, topics: Object.keys(topicsJson) };
}

/**
 * released.json records the fingerprint of every released version. A released version is
 * immutable: its file may change only in ways that keep the canonical form (docs, rules), and it
 * may not disappear, because data written with it lives on in Kafka and the ledger.
 */
function releasedProblems(released: Json | undefined, loaded: ReadonlyMap<string, LoadedEvent>): string[] {
  if (released === undefined) return [];
  if (!isJsonObject(released)) return [`${RELEASED_FILE} must map event names to {version: fingerprint}`];
  const problems: string[] = [];
  for (const [name, versions] of Object.entries(released)) {
    if (!isJsonObject(versions)) {
      problems.push(`${RELEASED_FILE}: ${name} must map versions to fingerprints`);
      continue;
    }
    for (const [version, fingerprint] of Object.entries(versions)) {
      const file = `${name}/v${version}.avsc`;
      const found = loaded.get(name)?.versions.find((entry) => String(entry.version) === version);
      if (found === undefined) {
        problems.push(`${file} was released (fingerprint ${String(fingerprint)}) and must be kept: data written with it still exists`);
      } else if (found.fingerprint !== fingerprint) {
        const next = (loaded.get(name)?.versions.length ?? 0) + 1;
        problems.push(
          `${file} was released with fingerprint ${String(fingerprint)} but now has ${found.fingerprint}: released schemas are immutable, ` +
            `add v${String(next)}.avsc instead ` +
            `(if v${version} was never merged, delete its line from ${RELEASED_FILE} and generate again)`,
        );
      }
    }
  }
  return problems;
}

/** The content released.json must have: every version of every event, with its fingerprint. */
export function renderReleased(tree: SchemaTree): string {
  const out: Record<string, Record<string, string>> = {};
  for (const event of [...tree.events].sort((a, b) => a.name.localeCompare(b.name))) {
    out[event.name] = Object.fromEntries(event.versions.map((entry) => [String(entry.version), entry.fingerprint]));
  }
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Reasons a file cannot be a Writ event schema, or undefined when it can. */
export function checkEventSchema(name: string, schema: AvroSchemaJson): string | undefined {
  if (!isJsonObject(schema) || schema['type'] !== 'record') return 'must be a record schema';
  if (schema['name'] !== name) return `record name must be "${name}" (the folder name), not ${JSON.stringify(schema['name'])}`;
  if (schema['namespace'] !== NAMESPACE) return `namespace must be "${NAMESPACE}"`;
  if (typeof schema['doc'] !== 'string' || schema['doc'].trim() === '') return 'needs a "doc"';
  const fields = schema['fields'];
  if (!Array.isArray(fields)) return 'needs "fields"';
  const [first] = fields as readonly Json[];
  if (!isJsonObject(first ?? null) || (first as JsonObject)['name'] !== 'meta') return 'the first field must be "meta" (the Metadata record)';
  try {
    parseSchema(schema);
    compileValidator(schema);
  } catch (error) {
    return (error as Error).message;
  }
  return undefined;
}
