// A circuit breaker per tool: after `threshold` consecutive failures it opens and refuses calls for
// `cooldownMs`; then it lets one trial call through (half-open): success closes it, failure reopens it.

export interface BreakerOptions {
  readonly threshold: number;
  readonly cooldownMs: number;
}

export const DEFAULT_BREAKER: BreakerOptions = { threshold: 5, cooldownMs: 10_000 };

export type BreakerState = 'closed' | 'open' | 'half-open';

export class CircuitBreaker {
  readonly #options: BreakerOptions;
  #failures = 0;
  #openedAt: number | undefined;
  #trialInFlight = false;

  constructor(options: BreakerOptions = DEFAULT_BREAKER) {
    this.#options = options;
  }

  state(now: number): BreakerState {
    if (this.#openedAt === undefined) return 'closed';
    return now - this.#openedAt >= this.#options.cooldownMs ? 'half-open' : 'open';
  }

  /** Whether a call may go out now; in half-open state only one trial at a time. */
  tryAcquire(now: number): boolean {
    const state = this.state(now);
    if (state === 'closed') return true;
    if (state === 'open' || this.#trialInFlight) return false;
    this.#trialInFlight = true;
    return true;
  }

  /** The tool answered (even with a 4xx: it is up). */
  success(): void {
    this.#failures = 0;
    this.#openedAt = undefined;
    this.#trialInFlight = false;
  }

  /** The tool failed in a way that says it is unwell (network, timeout, 5xx, 429). */
  failure(now: number): void {
    this.#trialInFlight = false;
    if (this.#openedAt !== undefined) {
      this.#openedAt = now;
      return;
    }
    this.#failures += 1;
    if (this.#failures >= this.#options.threshold) this.#openedAt = now;
  }
}

/** One breaker per tool name. */
export class CircuitBreakers {
  readonly #options: BreakerOptions;
  readonly #byTool = new Map<string, CircuitBreaker>();

  constructor(options: BreakerOptions = DEFAULT_BREAKER) {
    this.#options = options;
  }

  /** The state of each tool's breaker at `now` (the tools called since start), by tool name. */
  states(now: number): [string, BreakerState][] {
    return [...this.#byTool].map(([tool, breaker]) => [tool, breaker.state(now)]);
  }

  for(tool: string): CircuitBreaker {
    let breaker = this.#byTool.get(tool);
    if (breaker === undefined) {
      breaker = new CircuitBreaker(this.#options);
      this.#byTool.set(tool, breaker);
    }
    return breaker;
  }
}
