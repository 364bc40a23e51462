import { applyTopology, loadTopology } from '@writ/bus';
import { demoDirectory, kafkaDoorTopics } from './kafka-door.ts';
import { writRoot } from './settings.ts';
import type { TopologyReport } from '@writ/bus';

export interface TopologyOutcome {
  readonly report: TopologyReport;
  /** One line: counts of created, unchanged and drifted topics. */
  readonly summary: string;
}

/**
 * Applies deploy/kafka/topology.json (the bus library's applyTopology), plus the Kafka door's topics
 * of the demo directory's agents (libs/devstack kafka-door.ts), and sums it up.
 */
export async function provisionTopology(brokers: readonly string[]): Promise<TopologyOutcome> {
  const base = await loadTopology();
  const report = await applyTopology(brokers, { ...base, topics: [...base.topics, ...kafkaDoorTopics(demoDirectory(writRoot()))] });
  const drifted = report.drifted.length === 0 ? '' : ` (drifted: ${report.drifted.join(', ')})`;
  const note = report.configsChecked ? '' : `; ${report.configsNote ?? 'configs not compared'}`;
  const summary = `${report.topics.length} topics: ${report.created.length} created, ${report.unchanged.length} unchanged, ${report.drifted.length} drifted${drifted}${note}`;
  return { report, summary };
}
