import { describe, expect, inject, it } from 'vitest';
import { createKafka, loadTopology } from '@writ/bus';
import { testKafkaBrokers } from '@writ/testing';

// What the global setup promises every int/e2e test: a reachable broker, named the same way
// through `inject` and WRIT_KAFKA_BROKERS, with every topic of deploy/kafka/topology.json present.
describe('test stack (global setup)', () => {
  it('provides the brokers through inject and WRIT_KAFKA_BROKERS alike', () => {
    const brokers = testKafkaBrokers();
    expect(brokers.length).toBeGreaterThan(0);
    expect(inject('kafkaBrokers')).toEqual(brokers);
    expect(process.env['WRIT_KAFKA_BROKERS']).toBe(brokers.join(','));
  });

  it('has applied the topology to that broker', async () => {
    const topology = await loadTopology();
    const admin = createKafka({ brokers: testKafkaBrokers(), clientId: 'writ-stack-test' }).admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics({ timeout: 5_000 }));
      const missing = topology.topics.map((t) => t.name).filter((name) => !existing.has(name));
      expect(missing).toEqual([]);
      expect(topology.topics.length).toBeGreaterThan(0);
    } finally {
      await admin.disconnect();
    }
  });
});
