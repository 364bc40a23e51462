// Backtest on several cores: the distinct requests of a history are decided by a pool of worker
// threads, each with its own decision point built from the candidate policy set (Cedar's
// WebAssembly runs one evaluation at a time per thread, and a cache miss costs a few tenths of a
// millisecond of it), while this thread keys the records and tallies them with backtest() of
// @writ/policy-engine, in their order. backtestParallel gives the report backtest() gives on the
// same records and cache, whatever the number of workers: the workers only fill the cache (with
// decideOrRefuse, the answer backtest() would cache), and backtest() then finds every answer there.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { backtest, backtestKeyOfJson, canonicalRequestJson } from '@writ/policy-engine';
import type { BacktestAnswer, BacktestCache, BacktestReport, DecisionPoint, LoadedPolicySet, RecordedDecision } from '@writ/policy-engine';
import { emptyReport, mergeBacktestReports } from './policy-backtest-report.ts';

/** To a worker: requests (their canonical JSON) to decide. */
export interface PoolRequest {
  readonly batch: number;
  readonly requests: readonly string[];
}

/** From a worker. */
export type PoolReply =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'answers'; readonly batch: number; readonly answers: readonly BacktestAnswer[] }
  | { readonly kind: 'error'; readonly batch: number; readonly message: string };

/** Worker threads deciding requests against one candidate policy set. */
export interface BacktestPool {
  readonly workers: number;
  /** The candidate's policy_set_hash: backtestParallel refuses a decision point of another set. */
  readonly policySetHash: string;
  /** The candidate's answers to requests given as their canonical JSON (canonicalRequestJson), in their order. */
  decide(requests: readonly string[]): Promise<BacktestAnswer[]>;
  /** Ends the workers; pending decisions fail. */
  close(): Promise<void>;
}

export interface BacktestPoolOptions {
  /** Worker threads (default: the cores available, at most 8). */
  readonly workers?: number;
  /** Requests per message to a worker (default 32). */
  readonly batchSize?: number;
}

/** Worker threads by default: one per core the process may use, at most 8. */
export function defaultBacktestWorkers(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

/** Batches a worker holds at once: one it decides, one waiting, so it never waits for this thread. */
const BATCHES_PER_WORKER = 2;

interface Batch {
  readonly id: number;
  readonly requests: readonly string[];
  readonly resolve: (answers: readonly BacktestAnswer[]) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  readonly holding: Map<number, Batch>;
}

/** The worker's module next to this one: its TypeScript source when run from source (--conditions=writ-source), else the build's JavaScript. */
function workerModule(): { url: URL; execArgv: string[] | undefined } {
  const fromSource = import.meta.url.endsWith('.ts');
  const url = new URL(fromSource ? './backtest-worker.ts' : './backtest-worker.js', import.meta.url);
  const execArgv = fromSource && !process.execArgv.some((arg) => arg.includes('writ-source')) ? [...process.execArgv, '--conditions=writ-source'] : undefined;
  return { url, execArgv };
}

/**
 * Starts `workers` threads, each building the candidate's decision point from `policySet` (as
 * createDecisionPoint does here: a set that fails to build fails the pool), and resolves once all
 * of them are ready.
 */
export async function createBacktestPool(policySet: LoadedPolicySet, options: BacktestPoolOptions = {}): Promise<BacktestPool> {
  const count = Math.max(1, Math.floor(options.workers ?? defaultBacktestWorkers()));
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? 32));
  const { url, execArgv } = workerModule();
  const slots: Slot[] = [];
  const waiting: Batch[] = [];
  let nextBatch = 0;
  let broken: Error | undefined;
  let closed = false;

  const fail = (error: Error) => {
    if (broken !== undefined) return;
    broken = error;
    for (const batch of waiting.splice(0)) batch.reject(error);
    for (const slot of slots) {
      for (const batch of slot.holding.values()) batch.reject(error);
      slot.holding.clear();
    }
  };
  /** Hands waiting batches to the workers holding the fewest. */
  const pump = () => {
    while (waiting.length > 0) {
      let target: Slot | undefined;
      for (const slot of slots) if (slot.holding.size < BATCHES_PER_WORKER && (target === undefined || slot.holding.size < target.holding.size)) target = slot;
      if (target === undefined) return;
      const batch = waiting.shift() as Batch;
      target.holding.set(batch.id, batch);
      target.worker.postMessage({ batch: batch.id, requests: batch.requests } satisfies PoolRequest);
    }
  };

  const ready = Array.from({ length: count }, () => {
    const worker = new Worker(url, { workerData: { policySet }, ...(execArgv === undefined ? {} : { execArgv }) });
    const slot: Slot = { worker, holding: new Map() };
    slots.push(slot);
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (reply: PoolReply) => {
        switch (reply.kind) {
          case 'ready':
            resolve();
            return;
          case 'failed':
            reject(new Error(reply.message));
            return;
          case 'answers':
          case 'error': {
            const batch = slot.holding.get(reply.batch);
            if (batch === undefined) return;
            slot.holding.delete(reply.batch);
            if (reply.kind === 'answers') batch.resolve(reply.answers);
            else batch.reject(new Error(reply.message));
            pump();
            return;
          }
        }
      });
      worker.on('error', (error) => {
        reject(error);
        fail(new Error(`backtest: a worker thread failed: ${error.message}`));
      });
      worker.on('exit', (code) => {
        const error = new Error(`backtest: a worker thread exited (code ${code})`);
        reject(error);
        if (!closed) fail(error);
      });
    });
  });

  const close = async () => {
    closed = true;
    fail(new Error('backtest: the pool is closed'));
    await Promise.all(slots.map((slot) => slot.worker.terminate()));
  };
  try {
    await Promise.all(ready);
  } catch (error) {
    await close();
    throw error;
  }

  return {
    workers: count,
    policySetHash: policySet.hash,
    async decide(requests) {
      if (broken !== undefined) throw broken;
      const parts: Promise<readonly BacktestAnswer[]>[] = [];
      for (let start = 0; start < requests.length; start += batchSize) {
        const chunk = requests.slice(start, start + batchSize);
        parts.push(new Promise((resolve, reject) => waiting.push({ id: nextBatch++, requests: chunk, resolve, reject })));
      }
      pump();
      return (await Promise.all(parts)).flat();
    },
    close,
  };
}

export interface BacktestParallelOptions {
  readonly examplesPerTransition?: number;
  readonly cache?: BacktestCache;
  /** Fewer records than this are replayed in this thread by backtest() alone (default 1,000). */
  readonly minRecords?: number;
  /** Records keyed, dispatched and tallied together (default 2,048). */
  readonly sliceSize?: number;
}

interface Slice {
  readonly records: RecordedDecision[];
  /** The key of each record's request (undefined: none), computed once for the lookup and the tally. */
  readonly keys: (string | undefined)[];
  readonly missing: { keys: string[]; json: string[] };
  done?: Promise<void>;
  settled: boolean;
}

const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * backtest() with the cache misses decided by `pool`: the same report for the same records,
 * candidate and cache. Records are keyed in order, slice by slice; the requests no answer is
 * cached or awaited for go to the pool; each slice is tallied by backtest() (oldest first) once
 * its answers are in, while the workers decide the next ones. Below `minRecords`, backtest() alone.
 * A candidate with history facts needs records that already carry them (withCandidateFacts of
 * @writ/policy-engine, over the whole history in order): a slice alone knows no history.
 */
export async function backtestParallel(
  records: readonly RecordedDecision[],
  candidate: DecisionPoint,
  pool: BacktestPool,
  options: BacktestParallelOptions = {},
): Promise<BacktestReport> {
  if (pool.policySetHash !== candidate.policySetHash) {
    throw new Error(`backtest: the pool decides for policy set ${pool.policySetHash}, not the candidate ${candidate.policySetHash}`);
  }
  const examplesPerTransition = options.examplesPerTransition ?? 3;
  const cache: BacktestCache = options.cache ?? new Map();
  if (records.length < (options.minRecords ?? 1_000)) return backtest(records, candidate, { examplesPerTransition, cache });
  const sliceSize = Math.max(1, Math.floor(options.sliceSize ?? 2_048));

  let report = emptyReport(candidate.policySetHash, candidate.version);
  const awaited = new Set<string>();
  const queue: Slice[] = [];
  const tally = (slice: Slice) => {
    report = mergeBacktestReports(
      report,
      backtest(slice.records, candidate, { examplesPerTransition, cache, keys: slice.keys }),
      examplesPerTransition,
      cache.size,
    );
  };
  const dispatch = (slice: Slice) => {
    const { keys, json } = slice.missing;
    if (keys.length === 0) {
      slice.settled = true;
      return;
    }
    slice.done = pool.decide(json).then((answers) => {
      keys.forEach((key, i) => {
        cache.set(key, answers[i] as BacktestAnswer);
        awaited.delete(key);
      });
      slice.settled = true;
    });
    // Observed now, awaited in order below: a failure is not unhandled meanwhile.
    slice.done.catch(() => undefined);
  };
  /** Tallies the slices whose answers are in, oldest first; with `all`, waits for each in turn. */
  const drain = async (all: boolean) => {
    while (queue.length > 0) {
      const head = queue[0] as Slice;
      if (!head.settled && !all) return;
      await head.done;
      queue.shift();
      tally(head);
    }
  };

  for (let start = 0; start < records.length; start += sliceSize) {
    const slice: Slice = { records: records.slice(start, start + sliceSize), keys: [], missing: { keys: [], json: [] }, settled: false };
    for (const record of slice.records) {
      if (record.request === undefined) {
        slice.keys.push(undefined);
        continue;
      }
      const json = canonicalRequestJson(record.request);
      const key = backtestKeyOfJson(json);
      slice.keys.push(key);
      if (cache.has(key) || awaited.has(key)) continue;
      awaited.add(key);
      slice.missing.keys.push(key);
      slice.missing.json.push(json);
    }
    dispatch(slice);
    queue.push(slice);
    // Let the workers' answers in (they are events), and tally what they completed.
    await yieldToEvents();
    await drain(false);
  }
  await drain(true);
  return { ...report, distinctRequests: cache.size };
}
