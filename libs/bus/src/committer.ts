import type { KafkaJS } from '@confluentinc/kafka-javascript';
import type { BusLogger } from './logger.ts';
import { topicPartitionKey } from './window.ts';

/**
 * Commits handled offsets without a broker round trip per batch: the latest offset of each
 * partition waits at most `intervalMs`, one commit request is in flight at a time, and `flush()`
 * (on stop) commits what is left. Only offsets of handled messages ever get here, so a crash
 * can only repeat the last interval's messages, never skip one.
 */
export class OffsetCommitter {
  readonly #commit: (offsets: KafkaJS.TopicPartitionOffset[]) => Promise<void>;
  readonly #owns: (topic: string, partition: number) => boolean;
  readonly #intervalMs: number;
  readonly #logger: BusLogger;
  readonly #pending = new Map<string, KafkaJS.TopicPartitionOffset>();
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(options: {
    commit: (offsets: KafkaJS.TopicPartitionOffset[]) => Promise<void>;
    /**
     * Whether the partition is assigned to this member now (the AssignmentTracker's view: asking
     * the client blocks the event loop on a round trip to its group thread); offsets of others,
     * lost in a rebalance, are dropped.
     */
    owns: (topic: string, partition: number) => boolean;
    intervalMs: number;
    logger: BusLogger;
  }) {
    this.#commit = options.commit;
    this.#owns = options.owns;
    this.#intervalMs = options.intervalMs;
    this.#logger = options.logger;
  }

  /** Records that everything before `offset` (the next one to read) is handled. */
  mark(topic: string, partition: number, offset: string): void {
    this.#pending.set(topicPartitionKey(topic, partition), { topic, partition, offset });
    if (this.#intervalMs === 0) void this.flush();
    else this.#schedule();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#inFlight !== undefined || this.#pending.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#intervalMs);
  }

  /**
   * Commits everything marked so far; resolves when the broker answered (errors are logged).
   * `handingOver`: partitions being revoked, no longer owned but still this member's to commit
   * (the rebalance waits for this last commit before another member takes them).
   */
  async flush(handingOver: readonly KafkaJS.TopicPartition[] = []): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    while (this.#inFlight !== undefined) await this.#inFlight;
    if (this.#pending.size === 0) return;
    const leaving = new Set(handingOver.map((p) => topicPartitionKey(p.topic, p.partition)));
    const offsets = [...this.#pending.entries()].filter(([key, o]) => leaving.has(key) || this.#owns(o.topic, o.partition)).map(([, offset]) => offset);
    this.#pending.clear();
    if (offsets.length === 0) return;
    this.#inFlight = this.#commit(offsets)
      .catch((error: unknown) => {
        // The messages were handled; they come again after a restart or rebalance (at-least-once).
        this.#logger.warn('offset commit failed; handled messages may be redelivered', { error: String(error), offsets });
      })
      .finally(() => {
        this.#inFlight = undefined;
        this.#schedule();
      });
    await this.#inFlight;
  }

  /** Stops the timer; pending offsets are dropped unless flushed first. */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
