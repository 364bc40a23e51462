// Global setup of the int and e2e vitest projects: a Kafka broker with the topology applied,
// shared by every test file. It reuses a broker that is already running (a developer's
// `./dev stack up`, another test run) or starts one, and on teardown stops it only when this run
// started it and no other test run still holds it. KAFKA_BROKERS points the tests elsewhere.
import type { TestProject } from 'vitest/node';
import { acquireKafka, provisionTopology } from '@writ/devstack';
import '@writ/testing';

const say = (line: string) => console.log(`[stack] ${line}`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const kafka = await acquireKafka(project.name);
  const where = kafka.brokers.join(',');
  const how = kafka.external
    ? 'using KAFKA_BROKERS'
    : kafka.started
      ? `started pid ${kafka.pid} in ${seconds(kafka.elapsedMs)}`
      : `reusing the running broker${kafka.pid === undefined ? '' : ` (pid ${kafka.pid})`}`;
  say(`kafka ${where}: ${how}`);
  try {
    const topology = await provisionTopology(kafka.brokers);
    say(`topology: ${topology.summary}`);
  } catch (error) {
    await kafka.release();
    throw error;
  }
  process.env['KAFKA_BROKERS'] = where;
  project.provide('kafkaBrokers', kafka.brokers);
  return async () => {
    const release = await kafka.release();
    say(`kafka ${where}: ${release.stopped ? 'stopped' : 'left running'} (${release.reason})`);
  };
}
