// Generates libs/contracts/src/*.generated.ts from schemas/ and checks the schema catalogue.
//   node --conditions=writ-source libs/contracts/codegen/generate.ts            write the files
//   node --conditions=writ-source libs/contracts/codegen/generate.ts --check    exit 1 if any is stale
//   node --conditions=writ-source libs/contracts/codegen/generate.ts --compat   exit 1 if the latest
//        version of an event cannot read an earlier released one (backward-transitive)
// Runs on Node 24 directly (type stripping): no enums, parameter properties or decorators here.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { checkCompatibility, describeCompatibilityProblem } from '../src/compat.ts';
import { renderFiles } from './emit.ts';
import { SchemaTreeError, loadSchemaTree } from './model.ts';
import type { SchemaTree } from './model.ts';

export const WORKSPACE_ROOT = resolve(import.meta.dirname, '../../..');
export const SCHEMAS_DIR = join(WORKSPACE_ROOT, 'schemas');
export const OUTPUT_DIR = join(WORKSPACE_ROOT, 'libs/contracts/src');

/** Generated files whose content on disk differs from what the schemas give (or that should not exist). */
export function staleFiles(expected: ReadonlyMap<string, string>, outputDir: string): string[] {
  const stale: string[] = [];
  for (const [file, content] of expected) {
    const path = join(outputDir, file);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== content) stale.push(file);
  }
  for (const file of readdirSync(outputDir)) {
    if (file.endsWith('.generated.ts') && !expected.has(file)) stale.push(file);
  }
  return stale.sort();
}

export function compatibilityReport(tree: SchemaTree): string[] {
  const versions = tree.events.flatMap((event) =>
    event.versions.map((entry) => ({ type: event.name, version: entry.version, schema: entry.schema })),
  );
  return checkCompatibility(versions).map(describeCompatibilityProblem);
}

function main(args: readonly string[]): number {
  let tree: SchemaTree;
  try {
    tree = loadSchemaTree(SCHEMAS_DIR);
  } catch (error) {
    if (error instanceof SchemaTreeError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (args.includes('--compat')) {
    const problems = compatibilityReport(tree);
    for (const problem of problems) process.stderr.write(`incompatible: ${problem}\n`);
    if (problems.length > 0) return 1;
    const count = tree.events.reduce((sum, event) => sum + event.versions.length, 0);
    process.stdout.write(`compatible: ${String(tree.events.length)} events, ${String(count)} released versions\n`);
    return 0;
  }
  const files = renderFiles(tree);
  if (args.includes('--check')) {
    const stale = staleFiles(files, OUTPUT_DIR);
    for (const file of stale) {
      process.stderr.write(`stale: ${relative(WORKSPACE_ROOT, join(OUTPUT_DIR, file))} (run the generate target)\n`);
    }
    return stale.length > 0 ? 1 : 0;
  }
  for (const file of staleFiles(files, OUTPUT_DIR)) {
    const content = files.get(file);
    if (content === undefined) continue; // an orphan: reported by --check, removed by hand
    writeFileSync(join(OUTPUT_DIR, file), content);
    process.stdout.write(`wrote ${relative(WORKSPACE_ROOT, join(OUTPUT_DIR, file))}\n`);
  }
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === import.meta.filename) {
  process.exitCode = main(process.argv.slice(2));
}
