import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import type { TopicConfigEntry } from './describe-configs.ts';
import { formatTopologyReport, loadTopology, parseTopology, topicDrift } from './topology.ts';
import type { TopicSpec } from './topology.ts';

function failure(run: () => unknown): { field: string | undefined; message: string } {
  try {
    run();
  } catch (error) {
    if (isWritError(error, 'TOPOLOGY_INVALID')) return { field: error.field, message: error.message };
    throw error;
  }
  throw new Error('expected TOPOLOGY_INVALID');
}

const minimal = { topics: [{ name: 'a.v1' }] };

describe('the topology file of this repository', () => {
  it('declares every stream, the compacted controls topic and one DLQ per consumer group', async () => {
    const topology = await loadTopology();
    const byName = new Map(topology.topics.map((t) => [t.name, t]));
    for (const audit of [
      'writ.proposals.v1',
      'writ.actions.v1',
      'writ.policy.v1',
      'writ.approvals.v1',
      'writ.budget.v1',
      'writ.executions.v1',
      'writ.outcomes.v1',
      'writ.ledger.v1',
    ]) {
      expect(byName.get(audit)).toMatchObject({ partitions: 3, configs: { 'retention.ms': '-1', 'cleanup.policy': 'delete' } });
    }
    expect(byName.get('writ.controls.v1')).toMatchObject({ partitions: 1, configs: { 'cleanup.policy': 'compact' } });
    const groups = ['writ.gateway', 'writ.planner', 'writ.policy', 'writ.budget', 'writ.executor', 'writ.ledger'];
    expect(topology.consumerGroups).toEqual(expect.arrayContaining(groups.map((id) => ({ id, dlq: `${id}.dlq` }))));
    // Dead letters are operational detail (docs/retention.md): 30 days; each is a copy of a record its audit topic keeps forever.
    for (const id of groups) expect(byName.get(`${id}.dlq`)?.configs['retention.ms']).toBe(String(30 * 86_400_000));
  });
});

describe('parseTopology', () => {
  it('fills partitions and replication from defaults', () => {
    const topology = parseTopology({ defaults: { partitions: 4, replicationFactor: 2 }, topics: [{ name: 'a.v1' }, { name: 'b', partitions: 1 }] });
    expect(topology.topics).toEqual([
      { name: 'a.v1', partitions: 4, replicationFactor: 2, configs: {} },
      { name: 'b', partitions: 1, replicationFactor: 2, configs: {} },
    ]);
  });

  it.each([
    [{ ...minimal, extra: 1 }, 'extra'],
    [{ topics: [] }, 'topics'],
    [{ topics: [{ name: 'a', partitons: 3 }] }, 'topics[0].partitons'],
    [{ topics: [{ name: 'a', partitions: 0 }] }, 'topics[0].partitions'],
    [{ topics: [{ name: 'a', partitions: 1.5 }] }, 'topics[0].partitions'],
    [{ topics: [{ name: 'bad name' }] }, 'topics[0].name'],
    [{ topics: [{ name: 'a' }, { name: 'a' }] }, 'topics[1].name'],
    [{ topics: [{ name: 'a', configs: { 'retention.ms': -1 } }] }, 'topics[0].configs.retention.ms'],
    [{ topics: [{ name: 'a', configs: { 'retention.ms': 'forever' } }] }, 'topics[0].configs.retention.ms'],
    [{ topics: [{ name: 'a', configs: { 'cleanup.policy': 'compacted' } }] }, 'topics[0].configs.cleanup.policy'],
    [{ ...minimal, defaults: { partitions: -2 } }, 'defaults.partitions'],
    [{ ...minimal, consumerGroups: [{ id: 'g' }] }, 'consumerGroups[0].dlq'],
    [
      {
        ...minimal,
        consumerGroups: [
          { id: 'g', dlq: 'a.v1' },
          { id: 'g', dlq: 'a.v1' },
        ],
      },
      'consumerGroups[1].id',
    ],
  ])('rejects %j naming %s', (document, field) => {
    const error = failure(() => parseTopology(document, 'test.json'));
    expect(error.field).toBe(field);
    expect(error.message).toContain('test.json');
    expect(error.message).toContain(field);
  });

  it('rejects a file that is not JSON, naming the file', async () => {
    await expect(loadTopology('/nonexistent/topology.json')).rejects.toMatchObject({ code: 'TOPOLOGY_INVALID', field: 'path' });
  });
});

describe('topicDrift', () => {
  const spec: TopicSpec = {
    name: 't',
    partitions: 3,
    replicationFactor: 1,
    configs: { 'retention.ms': '-1', 'cleanup.policy': 'compact,delete' },
  };
  const entry = (value: string, source: TopicConfigEntry['source'] = 'topic'): TopicConfigEntry => ({ value, source, sensitive: false });

  it('finds nothing when partitions, replication and configs match (list order of cleanup.policy aside)', () => {
    const configs = new Map([
      ['retention.ms', entry('-1')],
      ['cleanup.policy', entry('delete,compact')],
      ['segment.bytes', entry('1073741824', 'default')],
    ]);
    expect(topicDrift(spec, { partitions: 3, replicationFactor: 1, configs })).toEqual([]);
  });

  it('reports partitions, replication, differing configs and undeclared topic overrides', () => {
    const configs = new Map([
      ['retention.ms', entry('604800000', 'default')],
      ['cleanup.policy', entry('delete,compact')],
      ['segment.ms', entry('1000')],
    ]);
    expect(topicDrift(spec, { partitions: 6, replicationFactor: 3, configs })).toEqual([
      { field: 'partitions', declared: '3', actual: '6' },
      { field: 'replicationFactor', declared: '1', actual: '3' },
      { field: 'configs.retention.ms', declared: '-1', actual: '604800000' },
      { field: 'configs.segment.ms', declared: '(not declared)', actual: '1000' },
    ]);
  });

  it('compares partitions only when configs could not be read', () => {
    expect(topicDrift(spec, { partitions: 3, replicationFactor: 1 })).toEqual([]);
  });

  it('formats a report a human can act on', () => {
    const text = formatTopologyReport({
      topics: [
        { name: 'a', status: 'created', drift: [] },
        { name: 'b', status: 'drifted', drift: [{ field: 'partitions', declared: '3', actual: '1' }] },
      ],
      created: ['a'],
      unchanged: [],
      drifted: ['b'],
      configsChecked: false,
      configsNote: 'topic configs not compared: no answer',
    });
    expect(text).toContain('drifted   b  (partitions: declared 3, actual 1)');
    expect(text).toContain('1 created, 0 unchanged, 1 drifted — topic configs not compared: no answer');
  });
});
