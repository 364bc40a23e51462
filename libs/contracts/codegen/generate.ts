// Generates libs/contracts/src/*.generated.ts and schemas/released.json from schemas/, and checks
// the schema catalogue. Runs on Node 24 directly (type stripping: no enums, parameter properties
// or decorators in codegen/):
//   node --conditions=writ-source libs/contracts/codegen/generate.ts            write what is stale
//   node --conditions=writ-source libs/contracts/codegen/generate.ts --check    exit 1 naming stale files
//   node --conditions=writ-source libs/contracts/codegen/generate.ts --compat   exit 1 when the latest
//        version of an event cannot read one of its earlier released versions (backward-transitive)
// Every mode first checks the schema tree (layout, names, rules, released versions unchanged).
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { checkCompatibility, describeCompatibilityProblem } from '../src/compat.ts';
import { renderFiles } from './emit.ts';
import { RELEASED_FILE, SchemaTreeError, loadSchemaTree, renderReleased } from './model.ts';
import type { SchemaTree } from './model.ts';

export const WORKSPACE_ROOT = resolve(import.meta.dirname, '../../..');
export const SCHEMAS_DIR = join(WORKSPACE_ROOT, 'schemas');
export const OUTPUT_DIR = join(WORKSPACE_ROOT, 'libs/contracts/src');

/** Every generated file, by absolute path, with the content the schemas give. */
export function expectedOutputs(tree: SchemaTree, schemasDir = SCHEMAS_DIR, outputDir = OUTPUT_DIR): Map<string, string> {
  const outputs = new Map<string, string>();
  for (const [file, content] of renderFiles(tree)) outputs.set(join(outputDir, file), content);
  outputs.set(join(schemasDir, RELEASED_FILE), renderReleased(tree));
  return outputs;
}

/** Generated files whose content on disk differs from `expected`, plus orphaned *.generated.ts files. */
export function staleFiles(expected: ReadonlyMap<string, string>, outputDir = OUTPUT_DIR): string[] {
  const stale: string[] = [];
  for (const [path, content] of expected) {
    if (!existsSync(path) || readFileSync(path, 'utf8') !== content) stale.push(path);
  }
  for (const file of readdirSync(outputDir)) {
    const path = join(outputDir, file);
    if (file.endsWith('.generated.ts') && !expected.has(path)) stale.push(path);
  }
  return stale.sort();
}

export function compatibilityReport(tree: SchemaTree): string[] {
  const versions = tree.events.flatMap((event) => event.versions.map((entry) => ({ type: event.name, version: entry.version, schema: entry.schema })));
  return checkCompatibility(versions).map(describeCompatibilityProblem);
}

function main(args: readonly string[]): number {
  const unknown = args.filter((arg) => arg !== '--check' && arg !== '--compat');
  if (unknown.length > 0) {
    process.stderr.write(`unknown argument ${unknown.join(' ')} (use --check or --compat)\n`);
    return 2;
  }
  let tree: SchemaTree;
  try {
    tree = loadSchemaTree(SCHEMAS_DIR);
  } catch (error) {
    if (!(error instanceof SchemaTreeError)) throw error;
    process.stderr.write(`${error.message}\n`);
    return 1;
  }
  const show = (path: string): string => relative(WORKSPACE_ROOT, path);
  if (args.includes('--compat')) {
    const problems = compatibilityReport(tree);
    for (const problem of problems) process.stderr.write(`incompatible: ${problem}\n`);
    if (problems.length > 0) return 1;
    const count = tree.events.reduce((sum, event) => sum + event.versions.length, 0);
    process.stdout.write(`compatible: ${String(tree.events.length)} events, ${String(count)} versions\n`);
    return 0;
  }
  const expected = expectedOutputs(tree);
  const stale = staleFiles(expected);
  if (args.includes('--check')) {
    for (const path of stale) process.stderr.write(`stale: ${show(path)} (run: npx nx run @writ/contracts:generate)\n`);
    return stale.length > 0 ? 1 : 0;
  }
  for (const path of stale) {
    const content = expected.get(path);
    if (content === undefined) {
      process.stderr.write(`orphan: ${show(path)} is generated from nothing; delete it\n`);
      continue;
    }
    writeFileSync(path, content);
    process.stdout.write(`wrote ${show(path)}\n`);
  }
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  process.exitCode = main(process.argv.slice(2));
}
