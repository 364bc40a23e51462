// How many model calls one gateway lets into the pipeline at once, adapted to how long the pipeline
// takes them: the time from a call's arrival to the executor's call of the provider, the
// provider's own time left out (a model may take seconds; that is no congestion of Writ). A call
// past the limit is refused at once (429, Retry-After) instead of queueing: under more load than the
// pipeline carries, the calls let in keep a bounded latency and the others are told to come back,
// where a fixed limit let hundreds queue for seconds each (docs/benchmarks.md, "Model proxy").
//
// Additive increase, multiplicative decrease, as a TCP sender's window: a call that took no longer
// than the target raises the limit by one; one that took longer lowers it in proportion (target ÷
// its time, between a half and nine tenths), at most once per `decreaseEveryMs` (a queue's worth of
// slow calls is one congestion signal, not many). The limit stays within [min, max]. Calls held for a person's approval leave the gate when they are
// held (their wait is no congestion either), as do calls that end without running.

export interface PipelineGateOptions {
  /** The most calls in the pipeline at once (the gateway's WRIT_MODEL_MAX_IN_FLIGHT). */
  readonly max: number;
  /** The limit never goes below this: calls keep flowing, and measuring, under any load. */
  readonly min: number;
  /** A call's pipeline time above this is congestion; 0 turns the gate off (the limit stays `max`). */
  readonly targetMs: number;
  /** Decreases at most this often (ms). */
  readonly decreaseEveryMs: number;
}

export class PipelineGate {
  readonly #options: PipelineGateOptions;
  #limit: number;
  #inside = 0;
  #lastDecrease = Number.NEGATIVE_INFINITY;

  constructor(options: PipelineGateOptions) {
    if (!(options.min >= 1 && options.min <= options.max)) throw new RangeError(`min must be within [1, max], got ${options.min} (max ${options.max})`);
    this.#options = options;
    this.#limit = options.max;
  }

  /** The calls the pipeline takes at once now. */
  get limit(): number {
    return Math.floor(this.#limit);
  }

  /** The calls in the pipeline now. */
  get inside(): number {
    return this.#inside;
  }

  /** Lets a call in, or refuses it (false) when the pipeline holds its limit already. */
  enter(): boolean {
    if (this.#inside >= this.limit) return false;
    this.#inside += 1;
    return true;
  }

  /**
   * A call let in leaves the pipeline: the provider is being called, after `pipelineMs` (at `now`,
   * ms), or it left without a measure (null: it ended without running, or was held for approval).
   */
  leave(pipelineMs: number | null, now: number): void {
    if (this.#inside > 0) this.#inside -= 1;
    const { targetMs, min, max, decreaseEveryMs } = this.#options;
    if (pipelineMs === null || targetMs === 0) return;
    if (pipelineMs <= targetMs) {
      this.#limit = Math.min(max, this.#limit + 1);
    } else if (now - this.#lastDecrease >= decreaseEveryMs) {
      this.#limit = Math.max(min, this.#limit * Math.min(0.9, Math.max(0.5, targetMs / pipelineMs)));
      this.#lastDecrease = now;
    }
  }
}
