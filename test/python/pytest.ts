// The Python SDK's tests (clients/python, pytest) inside the vitest tiers: its virtualenv under
// .local/ (made once, reused; clients/python/scripts/venv.sh), one pytest run per suite with a JUnit
// report, and one vitest test per pytest test function, so each counts in the tiers' totals and a
// failure shows pytest's own message. Test functions are read from the test files, so a test that
// pytest did not run (an import error, a rename) fails here rather than going missing.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
export const PYTHON_SDK = join(root, 'clients', 'python');
const VENV = join(root, '.local', 'python-sdk', 'venv');

export interface Ran {
  readonly code: number;
  readonly output: string;
}

function run(command: string, args: readonly string[], options: { cwd: string; env?: Record<string, string> }): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...options.env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

/** The venv's python, with requirements-dev.txt and this checkout's SDK installed (seconds the first time, then instant). */
export async function pythonSdkVenv(): Promise<string> {
  const made = await run('bash', [join(PYTHON_SDK, 'scripts', 'venv.sh'), VENV], { cwd: root });
  if (made.code !== 0) throw new Error(`clients/python/scripts/venv.sh failed (exit ${made.code}):\n${made.output}`);
  return join(VENV, 'bin', 'python');
}

/** mypy --strict over the package, its tests and its examples (clients/python/pyproject.toml), cached under .local/python-sdk. */
export function mypyStrict(): Promise<Ran> {
  return run(join(VENV, 'bin', 'mypy'), ['--cache-dir', join(VENV, '..', 'mypy-cache')], { cwd: PYTHON_SDK });
}

export type PytestOutcome = 'passed' | 'failed' | 'error' | 'skipped';

export interface PytestCase {
  /** `tests.unit.test_client::test_name[param]` */
  readonly id: string;
  readonly module: string;
  readonly name: string;
  readonly outcome: PytestOutcome;
  readonly message: string;
}

export interface PytestRun {
  readonly code: number;
  readonly output: string;
  readonly cases: readonly PytestCase[];
}

/** Runs pytest on `paths` (relative to clients/python) with `env` added; never throws for failing tests. */
export async function runPytest(python: string, paths: readonly string[], env: Record<string, string> = {}): Promise<PytestRun> {
  const dir = mkdtempSync(join(tmpdir(), 'writ-pytest-'));
  try {
    const report = join(dir, 'junit.xml');
    const ran = await run(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', `--junitxml=${report}`, ...paths], { cwd: PYTHON_SDK, env });
    let xml = '';
    try {
      xml = readFileSync(report, 'utf8');
    } catch {
      // pytest could not start: no report; every mapped test fails with its output.
    }
    return { ...ran, cases: junitCases(xml) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const unescapeXml = (text: string) =>
  text
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCodePoint(parseInt(code, 16)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** The test cases of pytest's JUnit XML report (`--junitxml`). */
export function junitCases(xml: string): PytestCase[] {
  const cases: PytestCase[] = [];
  for (const match of xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attributes = match[1] ?? '';
    const body = match[2] ?? '';
    const attribute = (name: string) => unescapeXml(new RegExp(`\\b${name}="([^"]*)"`).exec(attributes)?.[1] ?? '');
    const module = attribute('classname');
    const name = attribute('name');
    const verdict = /^\s*<(failure|error|skipped)\b/m.exec(body)?.[1] as 'failure' | 'error' | 'skipped' | undefined;
    const outcome: PytestOutcome = verdict === undefined ? 'passed' : verdict === 'failure' ? 'failed' : verdict;
    cases.push({ id: `${module}::${name}`, module, name, outcome, message: unescapeXml(body.replace(/<\/?[a-z][^>]*>/gi, '')).trim() });
  }
  return cases;
}

/** The `def test_...` functions of a pytest file (methods of test classes too), in order, each once. */
export function pytestFunctions(file: string): string[] {
  return [...new Set([...readFileSync(file, 'utf8').matchAll(/^\s*(?:async )?def (test_\w+)\(/gm)].map((m) => m[1] ?? ''))];
}

/**
 * One vitest test per test function of `file` (under clients/python): it passes when pytest ran that
 * function (each of its parameters) and every case passed. Call at collection, inside a describe.
 */
export function pytestCases(file: string, results: () => PytestRun | undefined): void {
  const module = basename(file, '.py');
  for (const name of pytestFunctions(join(PYTHON_SDK, file))) {
    it(name.replace(/^test_/, '').replaceAll('_', ' '), () => {
      const ran = results();
      if (ran === undefined) throw new Error('pytest did not run (see the suite setup)');
      const cases = ran.cases.filter((c) => c.module.split('.').includes(module) && c.name.split('[')[0] === name);
      expect(cases.length, `pytest ran no ${module}::${name} (exit ${ran.code}):\n${ran.output.slice(-6_000)}`).toBeGreaterThan(0);
      for (const c of cases) expect(c.outcome, `${c.id}\n${c.message}`).toBe('passed');
    });
  }
}
