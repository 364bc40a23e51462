// Every service's consumer lag as a gauge (writ_consumer_lag{group, topic}): its own group's
// committed offsets against the ends of the topics it consumes, read on one admin connection and
// sampled at most every LAG_SAMPLE_MS whatever the scrape interval, so that nothing is asked of the
// broker when nobody scrapes and little when someone does.
import { LagReader } from '@writ/bus';
import type { GroupLag } from '@writ/bus';
import { WRIT_METRIC, observeWritGauge, sampledEvery } from '@writ/telemetry';

/** How often the lag is read from the broker at most. */
export const LAG_SAMPLE_MS = 5_000;

export interface ConsumerLagGauge {
  /** The lag last sampled (sampling it now when it is older than LAG_SAMPLE_MS); undefined when it could not be read. */
  read(): Promise<GroupLag | undefined>;
  /** Stops observing and closes the admin connection. */
  stop(): Promise<void>;
}

/** Records behind per topic (a group's lag summed over the topic's partitions). */
export function lagByTopic(lag: GroupLag): Map<string, number> {
  const byTopic = new Map<string, number>();
  for (const partition of lag.partitions) byTopic.set(partition.topic, (byTopic.get(partition.topic) ?? 0) + partition.behind);
  return byTopic;
}

/**
 * Observes `groupId`'s lag on `topics` as writ_consumer_lag, one series per topic. Start it once the
 * group consumes (its committed offsets are what is measured), and stop it at shutdown.
 */
export function observeConsumerLag(brokers: readonly string[], groupId: string, topics: readonly string[]): ConsumerLagGauge {
  const reader = new LagReader(brokers, `${groupId}.lag`);
  const read = sampledEvery(LAG_SAMPLE_MS, () => reader.groupLag(groupId, topics));
  const stopObserving = observeWritGauge(WRIT_METRIC.consumerLag, async (gauge) => {
    const lag = await read();
    if (lag === undefined) return;
    for (const [topic, behind] of lagByTopic(lag)) gauge.observe(behind, { group: groupId, topic });
  });
  return {
    read,
    async stop() {
      stopObserving();
      await reader.close();
    },
  };
}
