/** How long to wait between attempts: from `initialMs`, doubling per attempt, never above `maxMs`. */
export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * The one backoff of Writ: the delay after attempt `attempt` failed (counting from 1), exponential
 * and capped, with "equal jitter" (half of it fixed, half random) so that clients failing together
 * do not retry in lockstep. Used by the bus's handler retries and aborted transactions, the DLQ
 * writer, the ledger's projection, the executor's tool calls and the devstack's restarts.
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: () => number = Math.random): number {
  const exponential = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(Math.max(0, attempt - 1), 52));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
