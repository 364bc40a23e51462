// Boot-time reading of the run topics: what the planner published (to the end of each partition)
// and what it had consumed (up to its group's committed offsets), grouped by run, in the order
// read. Putting them in replay order is planner-core's (runHistoryOf).
import { contractsSerde, createKafka, replayCommitted, silentLogger } from '@writ/bus';
import type { BusLogger } from '@writ/bus';
import type { Metadata } from '@writ/contracts';
import type { RecordedEvent } from '@writ/planner-core';

/** One record of the history, decoded, with the topic it came from. */
export interface HistoryRecord extends RecordedEvent {
  readonly topic: string;
}

export interface ReadHistoryOptions {
  readonly brokers: readonly string[];
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly isOwn: (type: string, meta: Metadata) => boolean;
  readonly inScope: (meta: Metadata) => boolean;
  readonly timeoutMs: number;
  readonly logger?: BusLogger;
}

const tp = (topic: string, partition: number): string => `${topic}:${partition}`;

/** Where the planner's group had committed, per partition: records before it were consumed. */
async function committedOffsets(options: ReadHistoryOptions): Promise<Map<string, bigint>> {
  const admin = createKafka({ brokers: options.brokers, clientId: `${options.groupId}.replay-admin`, logger: options.logger ?? silentLogger }).admin();
  await admin.connect();
  try {
    const committed = new Map<string, bigint>();
    const fetched = await admin.fetchOffsets({ groupId: options.groupId, topics: [...options.topics], requireStableOffsets: true });
    for (const topic of fetched) {
      for (const p of topic.partitions) committed.set(tp(topic.topic, p.partition), BigInt(p.offset));
    }
    return committed;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads every partition of `topics` from its start to its last stable offset (read_committed,
 * replayCommitted: a partition ends at the consumer's position, since the last offsets of a
 * transactional topic are often a commit marker that is never delivered), keeping the records in
 * scope, grouped by run in the order read. Records are marked `consumed` when the group had
 * committed past them, and `own` when the planner published them.
 */
export async function readHistory(options: ReadHistoryOptions): Promise<Map<string, HistoryRecord[]>> {
  const committed = await committedOffsets(options);
  const runs = new Map<string, HistoryRecord[]>();
  await replayCommitted(
    options.brokers,
    options.topics,
    (record) => {
      if (record.value === null) return;
      let decoded;
      try {
        decoded = contractsSerde.decode(record.value);
      } catch {
        return; // poison: it went to the dead-letter queue when it first came
      }
      const meta = decoded.payload.meta;
      if (!options.inScope(meta)) return;
      let run = runs.get(meta.run_id);
      if (run === undefined) {
        run = [];
        runs.set(meta.run_id, run);
      }
      const offset = BigInt(record.offset);
      run.push({
        event: decoded,
        meta,
        topic: record.topic,
        topicIndex: options.topics.indexOf(record.topic),
        partition: record.partition,
        offset,
        timestamp: Number(record.timestamp) || meta.occurred_at,
        own: options.isOwn(decoded.type, meta),
        consumed: offset < (committed.get(tp(record.topic, record.partition)) ?? 0n),
      });
    },
    { timeoutMs: options.timeoutMs, clientId: `${options.groupId}.replay` },
  );
  return runs;
}
