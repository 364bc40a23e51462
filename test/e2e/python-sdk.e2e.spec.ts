// The Python SDK (clients/python) against a running stack of its own: pytest's e2e tests
// (clients/python/tests/e2e/test_stack.py) run in the SDK's virtualenv (test/python/pytest.ts) with
// the gateway's address and the demo directory's keys of acme's agent, manager and operator, and
// each of them is a test here: a live and a shadow run, an allowed read and its result, a denial
// naming the policy, a held refund a manager approves, an idempotent retry, a kill switch, a bad
// argument naming the field and the rule, a wrong key.
import { afterAll, beforeAll, describe } from 'vitest';
import { pytestCases, pythonSdkVenv, runPytest } from '../python/pytest.ts';
import type { PytestRun } from '../python/pytest.ts';
import { keyOf, startE2eStack, stopE2eStack } from './support.ts';
import type { E2eStack } from './support.ts';

let e2e: E2eStack | undefined;
let results: PytestRun | undefined;

beforeAll(async () => {
  // The virtualenv is made (or found) while the stack starts; the stack is kept first, so afterAll stops it whatever follows.
  const venv = pythonSdkVenv();
  venv.catch(() => undefined);
  e2e = await startE2eStack(27680);
  results = await runPytest(await venv, ['tests/e2e'], {
    WRIT_E2E_URL: e2e.stack.gatewayUrl,
    WRIT_E2E_AGENT_KEY: keyOf('triage-bot'),
    WRIT_E2E_MANAGER_KEY: keyOf('maria'),
    WRIT_E2E_OPERATOR_KEY: keyOf('oscar'),
  });
}, 300_000);

afterAll(async () => {
  await stopE2eStack(e2e);
});

describe('the Python SDK against the running stack (clients/python/tests/e2e/test_stack.py)', () => {
  pytestCases('tests/e2e/test_stack.py', () => results);
});
