// How many model calls one gateway holds at once: each holds a client connection and a request
// body parked at the executor until its action ends, a person's approval included. Past either
// limit a call is refused at once (429, Retry-After) instead of queueing behind the others; the
// per-agent limit keeps one agent (a burst, or calls held for approval) from taking every slot.
// With a pipeline gate, a call must also find room in it (PipelineGate: as many as the pipeline
// takes in time); its place there is given back to the gate, earlier than its slot.
import type { PipelineGate } from './pipeline-gate.ts';

export type SlotRefusal = { readonly scope: 'gateway' | 'agent' | 'pipeline'; readonly held: number; readonly limit: number };

export class CallSlots {
  readonly #total: number;
  readonly #perAgent: number;
  readonly #gate: PipelineGate | undefined;
  readonly #byAgent = new Map<string, number>();
  #held = 0;

  constructor(total: number, perAgent: number, gate?: PipelineGate) {
    this.#total = total;
    this.#perAgent = Math.min(perAgent, total);
    this.#gate = gate;
  }

  get held(): number {
    return this.#held;
  }

  /** Takes a slot for `agent` (tenant and id) and a place in the gate, or says which limit refuses it (and takes neither). */
  take(agent: string): SlotRefusal | undefined {
    const mine = this.#byAgent.get(agent) ?? 0;
    if (mine >= this.#perAgent) return { scope: 'agent', held: mine, limit: this.#perAgent };
    if (this.#held >= this.#total) return { scope: 'gateway', held: this.#held, limit: this.#total };
    if (this.#gate !== undefined && !this.#gate.enter()) return { scope: 'pipeline', held: this.#gate.inside, limit: this.#gate.limit };
    this.#byAgent.set(agent, mine + 1);
    this.#held += 1;
    return undefined;
  }

  /** Gives back a slot `take` gave `agent`. */
  release(agent: string): void {
    const mine = this.#byAgent.get(agent) ?? 0;
    if (mine === 0) return;
    if (mine === 1) this.#byAgent.delete(agent);
    else this.#byAgent.set(agent, mine - 1);
    this.#held -= 1;
  }
}
