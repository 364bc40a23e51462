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

export function loadSchemaTree(root: string): SchemaTree {
  const problems: string[] = [];
  const topicsFile = join(root, 'topics.json');
  const topicsJson = readJson(topicsFile);
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

  const metadataFile = join(root, '_shared', 'Metadata.avsc');
  const metadata = existsSync(metadataFile) ? readJson(metadataFile) : null;
  if (!isJsonObject(metadata)) problems.push('_shared/Metadata.avsc is missing or not a record');

  const directories = readdirSync(root)
    .filter((entry) => !entry.startsWith('_') && statSync(join(root, entry)).isDirectory())
    .sort();
  const loaded = new Map<string, LoadedEvent>();
  const fingerprints = new Map<string, string>();
  for (const name of directories) {
    if (!EVENT_NAME.test(name)) {
      problems.push(`${name}/: event folders are named in PascalCase`);
      continue;
    }
    const topic = topicOfEvent.get(name);
    if (topic === undefined) problems.push(`${name}: not listed in topics.json`);
    const files = readdirSync(join(root, name));
    const versions: LoadedVersion[] = [];
    for (const file of files) {
      const match = VERSION_FILE.exec(file);
      if (!match) {
        problems.push(`${name}/${file}: only v<N>.avsc files belong in an event folder`);
        continue;
      }
      const relative = `${name}/${file}`;
      let schema: Json;
      try {
        schema = readJson(join(root, name, file));
      } catch (error) {
        problems.push(`${relative}: not JSON (${(error as Error).message})`);
        continue;
      }
      const problem = checkEventSchema(name, schema);
      if (problem !== undefined || !isJsonObject(schema)) {
        problems.push(`${relative}: ${problem ?? 'not a record'}`);
        continue;
      }
      const fingerprint = fingerprintOf(schema);
      const clash = fingerprints.get(fingerprint);
      if (clash !== undefined) problems.push(`${relative}: same canonical form (fingerprint ${fingerprint}) as ${clash}`);
      fingerprints.set(fingerprint, relative);
      versions.push({ version: Number(match[1]), file: relative, schema, fingerprint });
    }
    versions.sort((a, b) => a.version - b.version);
    versions.forEach((entry, index) => {
      if (entry.version !== index + 1) problems.push(`${entry.file}: versions must run 1..N without gaps`);
    });
    const current = versions.at(-1);
    if (current === undefined) {
      problems.push(`${name}: no v1.avsc`);
      continue;
    }
    if (isJsonObject(metadata)) {
      const fields = current.schema['fields'] as readonly JsonObject[];
      if (!jsonEqual(fields[0]?.['type'], withoutNamespace(metadata))) {
        problems.push(`${current.file}: field "meta" must embed _shared/Metadata.avsc exactly (without its namespace)`);
      }
    }
    loaded.set(name, { name, topic: topic ?? '', versions });
  }
  for (const name of topicOfEvent.keys()) {
    if (!loaded.has(name) && !directories.includes(name)) problems.push(`topics.json: ${name} has no schema folder`);
  }
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
