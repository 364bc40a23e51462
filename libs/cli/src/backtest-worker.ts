// A worker thread of the backtest pool (backtest-pool.ts): builds its own decision point from the
// candidate policy set it is given (Cedar's WebAssembly instance is per thread), then answers
// batches of requests (their canonical JSON) with decideOrRefuse, exactly as backtest() would.
import { parentPort, workerData } from 'node:worker_threads';
import { describeError } from '@writ/errors';
import { BACKTEST_EVALUATION_CACHE, createDecisionPoint, decideOrRefuse } from '@writ/policy-engine';
import type { BacktestAnswer, DecisionPoint, DecisionRequest, LoadedPolicySet } from '@writ/policy-engine';
import type { PoolReply, PoolRequest } from './backtest-pool.ts';

const port = parentPort;
if (port === null) throw new Error('backtest-worker runs as a worker thread of the backtest pool');

let point: DecisionPoint | undefined;
try {
  point = createDecisionPoint((workerData as { policySet: LoadedPolicySet }).policySet, { evaluationCache: BACKTEST_EVALUATION_CACHE });
  port.postMessage({ kind: 'ready' } satisfies PoolReply);
} catch (error) {
  port.postMessage({ kind: 'failed', message: describeError(error) } satisfies PoolReply);
}

port.on('message', (message: PoolRequest) => {
  if (point === undefined) return;
  let reply: PoolReply;
  try {
    const answers: BacktestAnswer[] = message.requests.map((json) => {
      const { decision, determiningPolicies } = decideOrRefuse(point as DecisionPoint, JSON.parse(json) as DecisionRequest);
      return { decision, determiningPolicies };
    });
    reply = { kind: 'answers', batch: message.batch, answers };
  } catch (error) {
    reply = { kind: 'error', batch: message.batch, message: describeError(error) };
  }
  port.postMessage(reply);
});
