import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import { CATALOGUE } from './catalogue.generated.ts';
import type { CatalogueEntry } from './catalogue.ts';
import { checkCompatibility } from './compat.ts';
import { fingerprintOf } from './fingerprint.ts';
import type { AvroSchemaJson } from './schema-json.ts';
import { createSingleObjectCodec } from './single-object.ts';
import { encodeWithSchema } from './testing/index.ts';

const FIXTURES = join(import.meta.dirname, '__fixtures__');

function fixture(folder: string, version: number): AvroSchemaJson {
  return JSON.parse(readFileSync(join(FIXTURES, folder, `v${String(version)}.avsc`), 'utf8')) as AvroSchemaJson;
}

function versions(folder: string): CatalogueEntry<'Greeting'>[] {
  return [1, 2].map((version) => {
    const schema = fixture(folder, version);
    return { type: 'Greeting', version, schema, fingerprint: fingerprintOf(schema) };
  });
}

describe('old data read with the new schema', () => {
  const catalogue = versions('evolution/Greeting');
  const codec = createSingleObjectCodec(catalogue);
  const [v1, v2] = catalogue as [CatalogueEntry<'Greeting'>, CatalogueEntry<'Greeting'>];

  it('decodes v1 bytes as v2: alias followed, defaults filled in', () => {
    const decoded = codec.decode(encodeWithSchema(v1.schema, { text: 'hello', tone: 'formal' }));
    expect(decoded).toStrictEqual({
      type: 'Greeting',
      schemaVersion: 1,
      fingerprint: v1.fingerprint,
      payload: { message: 'hello', tone: 'formal', language: 'en', priority: null },
    });
  });

  it('encodes with the latest version and decodes it unchanged', () => {
    const payload = { message: 'hola', tone: 'playful', language: 'es', priority: 2 };
    const bytes = codec.encode('Greeting', payload);
    expect(bytes.readBigUInt64LE(2).toString(16).padStart(16, '0')).toBe(v2.fingerprint);
    expect(codec.decode(bytes)).toMatchObject({ schemaVersion: 2, payload });
  });

  it('applies the current rules to data resolved from an old version', () => {
    try {
      codec.decode(encodeWithSchema(v1.schema, { text: '', tone: 'warm' }));
      expect.unreachable('an empty message must be rejected');
    } catch (error) {
      expect(isWritError(error, 'EVENT_INVALID')).toBe(true);
      expect(error).toMatchObject({ field: 'message', rule: 'must not be empty' });
    }
  });

  it('passes the compatibility check', () => {
    expect(checkCompatibility(catalogue)).toEqual([]);
  });
});

describe('compatibility check rejects changes that cannot read released data', () => {
  it.each([
    ['FieldWithoutDefault', /language/],
    ['TypeChanged', /string.*int/],
    ['EnumSymbolRemoved', /Tone/],
  ])('%s', (folder, reason) => {
    const problems = checkCompatibility(versions(`incompatible/${folder}`));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ type: 'Greeting', readerVersion: 2, writerVersion: 1 });
    expect(problems[0]?.reason).toMatch(reason);
  });

  it('checks every earlier version against the latest, not only the previous one', () => {
    const [v1] = versions('evolution/Greeting');
    const v2 = { ...v1!, version: 2, schema: fixture('evolution/Greeting', 2) };
    const v3schema = JSON.parse(JSON.stringify(fixture('evolution/Greeting', 2))) as { fields: { name: string; aliases?: string[] }[] };
    for (const field of v3schema.fields) delete field.aliases; // v3 forgets the alias that v1 data needs
    const v3 = { type: 'Greeting' as const, version: 3, schema: v3schema as unknown as AvroSchemaJson, fingerprint: '' };
    const problems = checkCompatibility([v1!, v2, v3]);
    expect(problems.map((p) => [p.readerVersion, p.writerVersion])).toEqual([[3, 1]]);
    expect(problems[0]?.reason).toMatch(/message/);
  });

  it('passes for the real catalogue', () => {
    expect(checkCompatibility(CATALOGUE)).toEqual([]);
  });
});
