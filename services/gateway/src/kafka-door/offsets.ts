// The Kafka door's outbox is its consumer offset (docs/kafka-door.md, "Delivery"): a proposal
// record counts as answered once it was rejected (or dead-lettered), or accepted and its action's
// end was sent. The group's committed offset of a partition never passes a record that is not
// answered yet, so a gateway that stops (or loses the partition) before an action ends leaves the
// record to be read again: by itself after a restart, or by the partition's next owner, which
// proposes it again (the same action: idempotent) and answers it. Pure bookkeeping, no client.

/** One partition of a proposals topic, as this instance read it since it was assigned. */
export interface PartitionProgress {
  /** One past the highest offset read. */
  readonly next: number;
  /** Offsets read and not answered yet (accepted but not ended, or still being handled). */
  readonly open: ReadonlySet<number>;
}

/**
 * The offset to commit for a partition (the next record a new owner reads): the lowest record
 * not answered yet, or, when every record read is answered, the one after the last read.
 */
export function commitPoint(progress: PartitionProgress): number {
  let lowest = progress.next;
  for (const offset of progress.open) if (offset < lowest) lowest = offset;
  return lowest;
}

/** A committable position of one partition (offset as the client takes it: a decimal string). */
export interface DoorCommit {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

interface Tracked {
  readonly topic: string;
  readonly partition: number;
  next: number;
  readonly open: Set<number>;
  /** The last commit point handed out by `advanced` (undefined: none yet since assigned). */
  committed: number | undefined;
}

/**
 * Per partition of this instance: what was read and what is still open. `read` opens a record as
 * it is handed to the door, `answered` closes it, `advanced` says which partitions' commit points
 * moved since it last said so, `forget` drops a partition this instance no longer owns.
 */
export class ProposalOffsets {
  readonly #partitions = new Map<string, Tracked>();

  read(topic: string, partition: number, offset: number): void {
    const key = partitionKey(topic, partition);
    let tracked = this.#partitions.get(key);
    if (tracked === undefined) {
      tracked = { topic, partition, next: offset + 1, open: new Set(), committed: undefined };
      this.#partitions.set(key, tracked);
    }
    tracked.open.add(offset);
    if (offset + 1 > tracked.next) tracked.next = offset + 1;
  }

  /** The record is answered (no-op for a partition forgotten meanwhile: its new owner answers). */
  answered(topic: string, partition: number, offset: number): void {
    this.#partitions.get(partitionKey(topic, partition))?.open.delete(offset);
  }

  /** Whether this instance reads the partition (it read a record of it since it was assigned). */
  tracks(topic: string, partition: number): boolean {
    return this.#partitions.has(partitionKey(topic, partition));
  }

  forget(topic: string, partition: number): void {
    this.#partitions.delete(partitionKey(topic, partition));
  }

  /** Partitions whose commit point moved since the last call, with it (each taken as committed). */
  advanced(): DoorCommit[] {
    const commits: DoorCommit[] = [];
    for (const tracked of this.#partitions.values()) {
      const point = commitPoint(tracked);
      if (tracked.committed !== undefined && point <= tracked.committed) continue;
      tracked.committed = point;
      commits.push({ topic: tracked.topic, partition: tracked.partition, offset: String(point) });
    }
    return commits;
  }

  /** The open offsets of a partition (for tests and logs). */
  progress(topic: string, partition: number): PartitionProgress | undefined {
    const tracked = this.#partitions.get(partitionKey(topic, partition));
    return tracked === undefined ? undefined : { next: tracked.next, open: new Set(tracked.open) };
  }
}

function partitionKey(topic: string, partition: number): string {
  return `${topic}:${String(partition)}`;
}
