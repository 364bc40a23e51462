import { describe, expect, it } from 'vitest';
import { testKafkaBrokers, uniqueName } from '@writ/testing';
import { createTestTopics } from './testing/index.ts';
import { applyTopology, formatTopologyReport, loadTopology, parseTopology } from './topology.ts';
import type { Topology } from './topology.ts';

const brokers = testKafkaBrokers();

/** The repository's topology with every topic renamed, so this test owns its topics. */
async function ownCopy(): Promise<{ topology: Topology; rename: (name: string) => string }> {
  const suffix = uniqueName('topo');
  const rename = (name: string): string => `${name}_${suffix}`;
  const real = await loadTopology();
  const topology = parseTopology({
    topics: real.topics.map((t) => ({ name: rename(t.name), partitions: t.partitions, replicationFactor: t.replicationFactor, configs: t.configs })),
    consumerGroups: real.consumerGroups.map((g) => ({ id: g.id, dlq: rename(g.dlq) })),
  });
  return { topology, rename };
}

describe('applyTopology against a real broker', () => {
  it('creates what is missing, and a second apply changes nothing and says so', async () => {
    const { topology } = await ownCopy();
    const first = await applyTopology(brokers, topology);
    expect(first.created, formatTopologyReport(first)).toEqual(topology.topics.map((t) => t.name));
    expect(first.drifted, formatTopologyReport(first)).toEqual([]);

    const second = await applyTopology(brokers, topology);
    expect(second.configsChecked).toBe(true);
    expect(second.created).toEqual([]);
    expect(second.drifted).toEqual([]);
    expect(second.unchanged).toEqual(topology.topics.map((t) => t.name));
    expect(second.topics.every((t) => t.status === 'unchanged')).toBe(true);
  });

  it('reports a topic that exists with other partitions and configs, and leaves it as it is', async () => {
    const { topology, rename } = await ownCopy();
    const actions = rename('writ.actions.v1');
    const controls = rename('writ.controls.v1');
    await createTestTopics(brokers, [
      { name: actions, partitions: 2, configs: { 'retention.ms': '86400000', 'segment.ms': '3600000' } },
      { name: controls, partitions: 1 },
    ]);

    const report = await applyTopology(brokers, topology);
    expect([...report.drifted].sort(), formatTopologyReport(report)).toEqual([actions, controls].sort());
    const byName = new Map(report.topics.map((t) => [t.name, t]));
    expect(byName.get(actions)?.drift).toEqual([
      { field: 'partitions', declared: '3', actual: '2' },
      { field: 'configs.retention.ms', declared: '-1', actual: '86400000' },
      { field: 'configs.segment.ms', declared: '(not declared)', actual: '3600000' },
    ]);
    expect(byName.get(controls)?.drift).toEqual([{ field: 'configs.cleanup.policy', declared: 'compact', actual: 'delete' }]);
    expect(report.created).toHaveLength(topology.topics.length - 2);

    // Nothing was altered: the drift is still there on the next run.
    const again = await applyTopology(brokers, topology);
    expect([...again.drifted].sort()).toEqual([actions, controls].sort());
    expect(again.created).toEqual([]);
  });
});
