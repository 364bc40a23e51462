// The Python SDK's unit tests (clients/python/tests/unit: the client against a scripted gateway,
// governed_tool and the framework examples) and its strict type check, in the unit tier. The
// virtualenv is made once under .local/python-sdk (PyPI), then reused. The SDK against the running
// stack: test/e2e/python-sdk.e2e.spec.ts.
import { beforeAll, describe, expect, it } from 'vitest';
import { junitCases, mypyStrict, pytestCases, pythonSdkVenv, runPytest } from './pytest.ts';
import type { PytestRun } from './pytest.ts';

let results: PytestRun | undefined;

beforeAll(async () => {
  results = await runPytest(await pythonSdkVenv(), ['tests/unit']);
}, 300_000);

describe('the Python SDK client (clients/python/tests/unit/test_client.py)', () => {
  pytestCases('tests/unit/test_client.py', () => results);
});

describe('governed_tool and the framework examples (clients/python/tests/unit/test_tools.py)', () => {
  pytestCases('tests/unit/test_tools.py', () => results);
});

describe('the Python SDK package', () => {
  it('passes mypy --strict: the package, its tests and its examples', { timeout: 120_000 }, async () => {
    const mypy = await mypyStrict();
    expect(mypy.output).toMatch(/^Success: no issues found/m);
    expect(mypy.code).toBe(0);
  });

  it('reads pytest JUnit reports: passed, failed with the message, skipped', () => {
    const xml = `<testsuite><testcase classname="tests.unit.test_a" name="test_ok" time="0.1"/>
      <testcase classname="tests.unit.test_a" name="test_bad[x]" time="0.1"><failure message="assert 1 == 2">a &lt; b &amp;&#10;c</failure></testcase>
      <testcase classname="tests.e2e.test_b" name="test_later"><skipped type="pytest.skip" message="no stack">skipped</skipped></testcase></testsuite>`;
    expect(junitCases(xml).map((c) => [c.id, c.outcome])).toEqual([
      ['tests.unit.test_a::test_ok', 'passed'],
      ['tests.unit.test_a::test_bad[x]', 'failed'],
      ['tests.e2e.test_b::test_later', 'skipped'],
    ]);
    expect(junitCases(xml)[1]?.message).toBe('a < b &\nc');
  });
});
