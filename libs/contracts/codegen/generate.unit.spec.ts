import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENTS_FILE } from './emit.ts';
import { OUTPUT_DIR, SCHEMAS_DIR, compatibilityReport, expectedOutputs, staleFiles } from './generate.ts';
import { RELEASED_FILE, SchemaTreeError, checkSchemaTree, loadSchemaTree, readSchemaTree } from './model.ts';
import type { RawSchemaTree } from './model.ts';

const raw = readSchemaTree(SCHEMAS_DIR);

function problemsOf(change: (tree: { -readonly [K in keyof RawSchemaTree]: RawSchemaTree[K] } & { files: Map<string, string> }) => void): string[] {
  const tree = { ...raw, files: new Map(raw.files) };
  change(tree);
  try {
    checkSchemaTree(tree);
  } catch (error) {
    if (error instanceof SchemaTreeError) return [...error.problems];
    throw error;
  }
  return [];
}

function edit(files: Map<string, string>, path: string, change: (schema: Record<string, unknown> & { fields: Record<string, unknown>[] }) => void): void {
  const schema = JSON.parse(files.get(path) ?? 'null') as Record<string, unknown> & { fields: Record<string, unknown>[] };
  change(schema);
  files.set(path, JSON.stringify(schema));
}

describe('the generated code', () => {
  const tree = loadSchemaTree(SCHEMAS_DIR);

  it('is fresh: generating from schemas/ gives exactly the committed files and released.json', () => {
    expect(staleFiles(expectedOutputs(tree))).toEqual([]);
  });

  it('is reported stale when the schemas say otherwise', () => {
    const expected = expectedOutputs(tree);
    const events = join(OUTPUT_DIR, EVENTS_FILE);
    expected.set(events, `${expected.get(events) ?? ''}// changed\n`);
    expect(staleFiles(expected)).toEqual([events]);
  });

  it('keeps every released version readable by the current one', () => {
    expect(compatibilityReport(tree)).toEqual([]);
  });

  it('covers every event of every topic', () => {
    expect(tree.topics).toHaveLength(11);
    expect(tree.events.map((event) => event.name)).toContain('LedgerCheckpoint');
    expect(tree.events.find((event) => event.name === 'RunStarted')?.topic).toBe('writ.proposals.v1');
    expect(tree.events.find((event) => event.name === 'ApprovalSubmitted')?.topic).toBe('writ.approvals.v1');
    for (const event of tree.events) expect(event.topic).toMatch(/^writ\.[a-z]+\.v1$/);
  });
});

describe('checks of the schema tree', () => {
  it('accepts the real tree', () => {
    expect(problemsOf(() => undefined)).toEqual([]);
  });

  it('refuses a change to a released version', () => {
    const problems = problemsOf((tree) =>
      edit(tree.files, 'RunEnded/v1.avsc', (schema) => {
        schema.fields.push({ name: 'extra', type: 'string', default: '' });
      }),
    );
    expect(problems).toEqual([
      expect.stringMatching(/RunEnded\/v1\.avsc was released with fingerprint \w{16} but now has \w{16}: released schemas are immutable, add v2\.avsc/),
    ]);
  });

  it('allows doc changes to a released version (same canonical form)', () => {
    const problems = problemsOf((tree) =>
      edit(tree.files, 'RunEnded/v1.avsc', (schema) => {
        schema['doc'] = 'Reworded.';
      }),
    );
    expect(problems).toEqual([]);
  });

  it('refuses to lose a released version', () => {
    const problems = problemsOf((tree) => {
      tree.files.delete('ModelUsage/v1.avsc');
    });
    expect(problems.join('\n')).toMatch(/ModelUsage\/v1\.avsc was released .* must be kept/);
  });

  it('refuses gaps in versions, unknown rules, a stray meta and unlisted events', () => {
    const problems = problemsOf((tree) => {
      tree.files.set('RunEnded/v3.avsc', tree.files.get('RunEnded/v1.avsc') ?? '');
      edit(tree.files, 'ActionRejected/v1.avsc', (schema) => {
        schema.fields[1] = { ...schema.fields[1], 'writ.rule': 'shiny' };
      });
      edit(tree.files, 'ModelUsage/v1.avsc', (schema) => {
        schema.fields[0] = { name: 'meta', type: { type: 'record', name: 'Metadata', fields: [] } };
      });
      tree.files.set('Orphan/v1.avsc', (tree.files.get('RunEnded/v1.avsc') ?? '').replace('"RunEnded"', '"Orphan"'));
      tree.files.set('RunEnded/notes.txt', 'hello');
    });
    const text = problems.join('\n');
    expect(text).toMatch(/RunEnded\/v3\.avsc: versions must run 1\.\.N without gaps/);
    expect(text).toMatch(/RunEnded\/v3\.avsc: same canonical form .* as RunEnded\/v1\.avsc/);
    expect(text).toMatch(/ActionRejected\/v1\.avsc: .*unknown writ\.rule "shiny"/);
    expect(text).toMatch(/ModelUsage\/v1\.avsc: field "meta" must embed _shared\/Metadata\.avsc/);
    expect(text).toMatch(/Orphan: not listed in topics\.json/);
    expect(text).toMatch(/RunEnded\/notes\.txt: only v<N>\.avsc files/);
  });

  it('refuses a record named differently from its folder or outside writ.events', () => {
    const problems = problemsOf((tree) => {
      edit(tree.files, 'RunStarted/v1.avsc', (schema) => {
        schema['name'] = 'RunBegan';
      });
      edit(tree.files, 'RunEnded/v1.avsc', (schema) => {
        schema['namespace'] = 'other';
      });
    });
    expect(problems.join('\n')).toMatch(/RunStarted\/v1\.avsc: record name must be "RunStarted"/);
    expect(problems.join('\n')).toMatch(/RunEnded\/v1\.avsc: namespace must be "writ\.events"/);
  });

  it(`starts ${RELEASED_FILE} afresh when it is absent`, () => {
    expect(problemsOf((tree) => Object.assign(tree, { released: undefined }))).toEqual([]);
  });
});
