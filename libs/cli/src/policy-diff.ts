// What differs between two policy sets (`writ policy diff`, `writ policy publish --dry-run`):
// policies added, removed and changed (with a unified line diff of their Cedar text), mode
// changes, the schema and the version labels. Pure: the CLI fetches or reads both sides.

/** One line of a line diff: kept (' '), only in the old text ('-'), only in the new text ('+'). */
export interface DiffLine {
  readonly kind: ' ' | '-' | '+';
  readonly text: string;
}

/** Above this many cells the LCS table is not built: the texts are shown as all removed, then all added. */
const MAX_LCS_CELLS = 16_000_000;

/** A text's lines; a final newline ends the last line instead of starting an empty one. */
export function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** The line diff of two texts along a longest common subsequence of their lines. */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = splitLines(before);
  const b = splitLines(after);
  let prefix = 0;
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++;
  let suffix = 0;
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++;
  const midA = a.slice(prefix, a.length - suffix);
  const midB = b.slice(prefix, b.length - suffix);
  const kept = (lines: readonly string[]): DiffLine[] => lines.map((text) => ({ kind: ' ', text }));
  return [...kept(a.slice(0, prefix)), ...middleDiff(midA, midB), ...kept(a.slice(a.length - suffix))];
}

function middleDiff(a: readonly string[], b: readonly string[]): DiffLine[] {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0 || n * m > MAX_LCS_CELLS) {
    return [...a.map((text) => ({ kind: '-' as const, text })), ...b.map((text) => ({ kind: '+' as const, text }))];
  }
  // lcs[i * (m + 1) + j]: the length of the longest common subsequence of a[i..] and b[j..].
  const width = m + 1;
  const lcs = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j] ? (lcs[(i + 1) * width + j + 1] ?? 0) + 1 : Math.max(lcs[(i + 1) * width + j] ?? 0, lcs[i * width + j + 1] ?? 0);
    }
  }
  const lines: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    const left = a[i] ?? '';
    if (left === b[j]) {
      lines.push({ kind: ' ', text: left });
      i++;
      j++;
    } else if ((lcs[(i + 1) * width + j] ?? 0) >= (lcs[i * width + j + 1] ?? 0)) {
      lines.push({ kind: '-', text: left });
      i++;
    } else {
      lines.push({ kind: '+', text: b[j] ?? '' });
      j++;
    }
  }
  for (; i < n; i++) lines.push({ kind: '-', text: a[i] ?? '' });
  for (; j < m; j++) lines.push({ kind: '+', text: b[j] ?? '' });
  return lines;
}

/**
 * A unified diff (`--- before`, `+++ after`, `@@ -l,n +l,n @@` hunks with `context` lines around
 * each change); empty when the texts are equal. A difference in the final newline alone is named.
 */
export function unifiedDiff(before: string, after: string, labels: { readonly before: string; readonly after: string }, context = 3): string[] {
  if (before === after) return [];
  const lines = lineDiff(before, after);
  const changed = lines.flatMap((line, index) => (line.kind === ' ' ? [] : [index]));
  const header = [`--- ${labels.before}`, `+++ ${labels.after}`];
  if (changed.length === 0) return [...header, `\\ the texts differ only in their final newline`];
  // Line numbers (1-based) of each diff line in either text, counted before it.
  const oldBefore: number[] = [];
  const newBefore: number[] = [];
  let oldCount = 0;
  let newCount = 0;
  for (const line of lines) {
    oldBefore.push(oldCount);
    newBefore.push(newCount);
    if (line.kind !== '+') oldCount++;
    if (line.kind !== '-') newCount++;
  }
  const out = [...header];
  let k = 0;
  while (k < changed.length) {
    const first = changed[k] ?? 0;
    let last = first;
    while (k + 1 < changed.length && (changed[k + 1] ?? 0) - last <= 2 * context + 1) last = changed[++k] ?? last;
    k++;
    const start = Math.max(0, first - context);
    const end = Math.min(lines.length, last + context + 1);
    const hunk = lines.slice(start, end);
    const oldLength = hunk.filter((line) => line.kind !== '+').length;
    const newLength = hunk.filter((line) => line.kind !== '-').length;
    const oldStart = (oldBefore[start] ?? 0) + (oldLength === 0 ? 0 : 1);
    const newStart = (newBefore[start] ?? 0) + (newLength === 0 ? 0 : 1);
    out.push(`@@ -${oldStart},${oldLength} +${newStart},${newLength} @@`);
    for (const line of hunk) out.push(`${line.kind}${line.text}`);
  }
  return out;
}

/** One side of a comparison: a published policy set or a local folder. */
export interface PolicySetView {
  /** How the user named it: a hash, "current", a folder. */
  readonly label: string;
  readonly hash: string;
  readonly version: string;
  readonly schema: string;
  readonly policies: Readonly<Record<string, string>>;
  readonly modes: Readonly<Record<string, string>>;
}

export interface PolicySetDiff {
  readonly same: boolean;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Policies in both whose text differs, with the unified diff of their text. */
  readonly changed: readonly { readonly id: string; readonly diff: readonly string[] }[];
  readonly modeChanges: readonly { readonly id: string; readonly from: string; readonly to: string }[];
  readonly schemaChanged: boolean;
  readonly schemaDiff: readonly string[];
  readonly versionChanged: boolean;
}

const ENFORCE = 'enforce';

/** What changes from `before` to `after`. */
export function diffPolicySets(before: PolicySetView, after: PolicySetView): PolicySetDiff {
  const oldIds = Object.keys(before.policies).sort();
  const newIds = Object.keys(after.policies).sort();
  const added = newIds.filter((id) => !(id in before.policies));
  const removed = oldIds.filter((id) => !(id in after.policies));
  const both = newIds.filter((id) => id in before.policies);
  const changed = both
    .filter((id) => before.policies[id] !== after.policies[id])
    .map((id) => ({
      id,
      diff: unifiedDiff(before.policies[id] ?? '', after.policies[id] ?? '', { before: `${before.label}/${id}.cedar`, after: `${after.label}/${id}.cedar` }),
    }));
  const modeChanges = both
    .map((id) => ({ id, from: before.modes[id] ?? ENFORCE, to: after.modes[id] ?? ENFORCE }))
    .filter((change) => change.from !== change.to);
  const schemaChanged = before.schema !== after.schema;
  return {
    same: before.hash === after.hash,
    added,
    removed,
    changed,
    modeChanges,
    schemaChanged,
    schemaDiff: schemaChanged ? unifiedDiff(before.schema, after.schema, { before: `${before.label}/schema`, after: `${after.label}/schema` }) : [],
    versionChanged: before.version !== after.version,
  };
}

/** Modes counted, enforce first: "5 enforce, 1 warn, 2 shadow"; "no policies" for none. */
export function modesSummary(modes: Readonly<Record<string, string>>): string {
  const counts = new Map<string, number>([
    ['enforce', 0],
    ['warn', 0],
    ['shadow', 0],
  ]);
  for (const mode of Object.values(modes)) counts.set(mode, (counts.get(mode) ?? 0) + 1);
  const parts = [...counts].filter(([, count]) => count > 0).map(([mode, count]) => `${count} ${mode}`);
  return parts.length === 0 ? 'no policies' : parts.join(', ');
}

const short = (hash: string): string => hash.slice(0, 12);

/** The diff for a terminal: sides, versions, schema, added, removed, mode changes, changed policies with their line diffs. */
export function formatPolicySetDiff(before: PolicySetView, after: PolicySetView, diff: PolicySetDiff = diffPolicySets(before, after)): string[] {
  const out = [`diff ${before.label} (${short(before.hash)}) -> ${after.label} (${short(after.hash)})`];
  out.push(diff.versionChanged ? `version: ${before.version} -> ${after.version}` : `version: ${after.version} (unchanged)`);
  if (diff.same) {
    out.push('identical: same policy_set_hash (schema and every policy text equal)');
    return out;
  }
  out.push(`schema changed: ${diff.schemaChanged ? 'yes' : 'no'}`);
  for (const line of diff.schemaDiff) out.push(`    ${line}`);
  const modeOf = (view: PolicySetView, id: string) => view.modes[id] ?? ENFORCE;
  out.push(`added (${diff.added.length})${diff.added.length === 0 ? '' : ':'}`);
  for (const id of diff.added) out.push(`  + ${id} (${modeOf(after, id)})`);
  out.push(`removed (${diff.removed.length})${diff.removed.length === 0 ? '' : ':'}`);
  for (const id of diff.removed) out.push(`  - ${id} (${modeOf(before, id)})`);
  out.push(`mode changes (${diff.modeChanges.length})${diff.modeChanges.length === 0 ? '' : ':'}`);
  for (const change of diff.modeChanges) out.push(`  ~ ${change.id}: ${change.from} -> ${change.to}`);
  out.push(`changed (${diff.changed.length})${diff.changed.length === 0 ? '' : ':'}`);
  for (const change of diff.changed) {
    out.push(`  ~ ${change.id}`);
    for (const line of change.diff) out.push(`    ${line}`);
  }
  return out;
}
