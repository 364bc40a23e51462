/** How one message's handling ended: handled (or parked in the DLQ), or cut short by stop(). */
export type MessageOutcome = 'done' | 'interrupted';

interface Started {
  readonly offset: string;
  done: boolean;
}

interface PartitionWindow {
  /** Started and not yet part of the handled prefix, in offset order. */
  readonly started: Started[];
  /** Settles when its message's handling does (never rejects). */
  readonly running: Set<Promise<void>>;
}

/** One map key per topic partition (the bus's committer, assignment tracker and window share it). */
export const topicPartitionKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * Messages in hand per partition, for a consumer whose batch handler returns once its messages
 * are started rather than handled, so that the client goes on fetching (it hands out no new
 * message, of any partition, while a batch handler runs). At most `limit` messages of a
 * partition run at once, started in offset order; a partition's offset is reported to
 * `onHandled` (as the next one to read) only once every message before it is handled, so a
 * commit never skips one. A message cut short by stop() is never reported, nor is anything after it.
 */
export class InFlightWindow {
  readonly #limit: number;
  readonly #onHandled: (topic: string, partition: number, next: string) => void;
  readonly #partitions = new Map<string, PartitionWindow>();

  constructor(limit: number, onHandled: (topic: string, partition: number, next: string) => void) {
    this.#limit = Math.max(1, limit);
    this.#onHandled = onHandled;
  }

  /** Waits until the partition has room for one more message. */
  async room(topic: string, partition: number): Promise<void> {
    const window = this.#partitions.get(topicPartitionKey(topic, partition));
    while (window !== undefined && window.running.size >= this.#limit) await Promise.race(window.running);
  }

  /**
   * Starts handling a message (call in offset order, after room()). The promise is the
   * handler's: it rejects on an unexpected error, and the message then counts as never handled.
   */
  start(topic: string, partition: number, offset: string, handle: () => Promise<MessageOutcome>): Promise<MessageOutcome> {
    const key = topicPartitionKey(topic, partition);
    let window = this.#partitions.get(key);
    if (window === undefined) {
      window = { started: [], running: new Set() };
      this.#partitions.set(key, window);
    }
    const { started, running } = window;
    const entry: Started = { offset, done: false };
    started.push(entry);
    const work = handle().then((outcome) => {
      if (outcome === 'done') {
        entry.done = true;
        let last: string | undefined;
        while (started[0]?.done === true) last = started.shift()?.offset;
        if (last !== undefined) this.#onHandled(topic, partition, (BigInt(last) + 1n).toString());
      }
      return outcome;
    });
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    running.add(settled);
    void settled.then(() => running.delete(settled));
    return work;
  }

  /** Resolves once every message started of these partitions (of all, by default) has settled. */
  async settled(partitions?: readonly { readonly topic: string; readonly partition: number }[]): Promise<void> {
    const windows =
      partitions === undefined ? [...this.#partitions.values()] : partitions.map((p) => this.#partitions.get(topicPartitionKey(p.topic, p.partition)));
    await Promise.all(windows.flatMap((window) => [...(window?.running ?? [])]));
  }

  /** Drops what it knows of these partitions (taken away: their next messages come from the committed offset). */
  forget(partitions: readonly { readonly topic: string; readonly partition: number }[]): void {
    for (const { topic, partition } of partitions) this.#partitions.delete(topicPartitionKey(topic, partition));
  }
}
