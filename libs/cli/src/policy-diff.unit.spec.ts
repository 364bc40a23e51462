// The pure diff of `writ policy diff`: the LCS line diff, unified hunks, and the policy-set diff.
import { describe, expect, it } from 'vitest';
import { diffPolicySets, formatPolicySetDiff, lineDiff, modesSummary, splitLines, unifiedDiff } from './policy-diff.ts';
import type { DiffLine, PolicySetView } from './policy-diff.ts';
import { seededRandom } from '@writ/decider/testing';

const render = (lines: readonly DiffLine[]) => lines.map((l) => `${l.kind}${l.text}`);
const text = (...lines: string[]) => lines.map((l) => `${l}\n`).join('');

/** The length of a longest common subsequence, by plain recursion (small inputs only). */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  const memo = new Map<string, number>();
  const go = (i: number, j: number): number => {
    if (i === a.length || j === b.length) return 0;
    const key = `${i},${j}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const value = a[i] === b[j] ? go(i + 1, j + 1) + 1 : Math.max(go(i + 1, j), go(i, j + 1));
    memo.set(key, value);
    return value;
  };
  return go(0, 0);
}

describe('splitLines', () => {
  it('ends the last line at a final newline instead of adding an empty one', () => {
    expect(splitLines('a\nb\n')).toEqual(['a', 'b']);
    expect(splitLines('a\nb')).toEqual(['a', 'b']);
    expect(splitLines('a\n\n')).toEqual(['a', '']);
    expect(splitLines('')).toEqual([]);
  });
});

describe('lineDiff', () => {
  it('keeps every line of equal texts', () => {
    expect(render(lineDiff(text('a', 'b'), text('a', 'b')))).toEqual([' a', ' b']);
  });

  it('shows an insertion, a deletion and a replacement around kept lines', () => {
    expect(render(lineDiff(text('a', 'b', 'c', 'd'), text('a', 'c', 'd', 'e')))).toEqual([' a', '-b', ' c', ' d', '+e']);
    expect(render(lineDiff(text('a', 'x', 'c'), text('a', 'y', 'c')))).toEqual([' a', '-x', '+y', ' c']);
    expect(render(lineDiff('', text('a', 'b')))).toEqual(['+a', '+b']);
    expect(render(lineDiff(text('a', 'b'), '')).join('|')).toBe('-a|-b');
  });

  it('keeps a longest common subsequence, and rebuilds both texts (random inputs)', () => {
    const random = seededRandom(42).next;
    const pick = (n: number) => Array.from({ length: Math.floor(random() * n) }, () => 'abcde'[Math.floor(random() * 5)] ?? 'a');
    for (let round = 0; round < 300; round++) {
      const a = pick(12);
      const b = pick(12);
      const lines = lineDiff(a.join('\n'), b.join('\n'));
      expect(lines.filter((l) => l.kind !== '+').map((l) => l.text)).toEqual(a);
      expect(lines.filter((l) => l.kind !== '-').map((l) => l.text)).toEqual(b);
      expect(lines.filter((l) => l.kind === ' ').length).toBe(lcsLength(a, b));
    }
  });
});

describe('unifiedDiff', () => {
  const before = text('1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12', '13', '14', '15', '16', '17', '18', '19', '20');

  it('is empty for equal texts', () => {
    expect(unifiedDiff(before, before, { before: 'a', after: 'b' })).toEqual([]);
  });

  it('writes one hunk per separated change with three lines of context and 1-based ranges', () => {
    const after = before.replace('2\n', 'two\n').replace('18\n', '');
    expect(unifiedDiff(before, after, { before: 'old/p.cedar', after: 'new/p.cedar' })).toEqual([
      '--- old/p.cedar',
      '+++ new/p.cedar',
      '@@ -1,5 +1,5 @@',
      ' 1',
      '-2',
      '+two',
      ' 3',
      ' 4',
      ' 5',
      '@@ -15,6 +15,5 @@',
      ' 15',
      ' 16',
      ' 17',
      '-18',
      ' 19',
      ' 20',
    ]);
  });

  it('merges changes whose context touches into one hunk', () => {
    const after = before.replace('5\n', 'five\n').replace('12\n', 'twelve\n');
    const hunks = unifiedDiff(before, after, { before: 'a', after: 'b' }).filter((l) => l.startsWith('@@'));
    expect(hunks).toEqual(['@@ -2,14 +2,14 @@']);
  });

  it('counts an insertion into an empty text from line 0', () => {
    expect(unifiedDiff('', text('x'), { before: 'a', after: 'b' })).toEqual(['--- a', '+++ b', '@@ -0,0 +1,1 @@', '+x']);
  });

  it('names a difference in the final newline alone', () => {
    expect(unifiedDiff('a\n', 'a', { before: 'a', after: 'b' })).toEqual(['--- a', '+++ b', '\\ the texts differ only in their final newline']);
  });
});

describe('diffPolicySets / formatPolicySetDiff', () => {
  const base: PolicySetView = {
    label: 'current',
    hash: 'a'.repeat(64),
    version: '1.0.0',
    schema: 'namespace Writ {}\n',
    policies: {
      keep: '@id("keep")\npermit(principal, action, resource);\n',
      gone: '@id("gone")\nforbid(principal, action, resource);\n',
      edit: text('@id("edit")', 'permit(', '  principal,', ');'),
    },
    modes: { keep: 'enforce', gone: 'enforce', edit: 'enforce' },
  };
  const next: PolicySetView = {
    label: 'policies',
    hash: 'b'.repeat(64),
    version: '1.1.0',
    schema: base.schema,
    policies: {
      keep: base.policies['keep'] ?? '',
      edit: text('@id("edit")', '@mode("shadow")', 'permit(', '  principal,', ');'),
      fresh: '@id("fresh")\n@mode("warn")\n',
    },
    modes: { keep: 'enforce', edit: 'shadow', fresh: 'warn' },
  };

  it('names added, removed, changed policies, mode changes, schema and version', () => {
    const diff = diffPolicySets(base, next);
    expect(diff).toMatchObject({
      same: false,
      added: ['fresh'],
      removed: ['gone'],
      modeChanges: [{ id: 'edit', from: 'enforce', to: 'shadow' }],
      schemaChanged: false,
      schemaDiff: [],
      versionChanged: true,
    });
    expect(diff.changed.map((c) => c.id)).toEqual(['edit']);
    expect(diff.changed[0]?.diff).toEqual([
      '--- current/edit.cedar',
      '+++ policies/edit.cedar',
      '@@ -1,4 +1,5 @@',
      ' @id("edit")',
      '+@mode("shadow")',
      ' permit(',
      '   principal,',
      ' );',
    ]);
    expect(formatPolicySetDiff(base, next)).toEqual([
      `diff current (aaaaaaaaaaaa) -> policies (bbbbbbbbbbbb)`,
      'version: 1.0.0 -> 1.1.0',
      'schema changed: no',
      'added (1):',
      '  + fresh (warn)',
      'removed (1):',
      '  - gone (enforce)',
      'mode changes (1):',
      '  ~ edit: enforce -> shadow',
      'changed (1):',
      '  ~ edit',
      '    --- current/edit.cedar',
      '    +++ policies/edit.cedar',
      '    @@ -1,4 +1,5 @@',
      '     @id("edit")',
      '    +@mode("shadow")',
      '     permit(',
      '       principal,',
      '     );',
    ]);
  });

  it('shows a schema change with its line diff', () => {
    const lines = formatPolicySetDiff(base, { ...base, hash: 'c'.repeat(64), schema: 'namespace Writ { entity X; }\n' });
    expect(lines).toContain('schema changed: yes');
    expect(lines).toContain('    -namespace Writ {}');
    expect(lines).toContain('    +namespace Writ { entity X; }');
    expect(lines).toContain('added (0)');
    expect(lines).toContain('changed (0)');
  });

  it('says identical for the same hash', () => {
    expect(formatPolicySetDiff(base, { ...base, label: 'policies' })).toEqual([
      'diff current (aaaaaaaaaaaa) -> policies (aaaaaaaaaaaa)',
      'version: 1.0.0 (unchanged)',
      'identical: same policy_set_hash (schema and every policy text equal)',
    ]);
  });
});

describe('modesSummary', () => {
  it('counts each mode present, enforce first', () => {
    expect(modesSummary({ a: 'shadow', b: 'warn', c: 'shadow', d: 'enforce' })).toBe('1 enforce, 1 warn, 2 shadow');
    expect(modesSummary({ a: 'shadow', b: 'shadow', c: 'warn' })).toBe('1 warn, 2 shadow');
    expect(modesSummary({})).toBe('no policies');
  });
});
