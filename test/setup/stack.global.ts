// Global setup of the int and e2e vitest projects: a Kafka broker with the topology applied,
// shared by every test file of the project. Tests never touch the developer's broker of
// `./dev stack up` (127.0.0.1:27092, the demo's topics):
// - int: a test broker (127.0.0.1:27192, data in .local/kafka-test), reused across runs; on teardown
//   it is stopped only when this run started it and no other test run still holds it;
// - e2e: a fresh broker per run (127.0.0.1:27292, data in a temporary folder), so the services
//   under test start on empty topics; stopped and deleted at the end.
// WRIT_KAFKA_BROKERS points the tests at another cluster instead.
// The local brokers run with SASL and ACLs (deploy/kafka/acls.json): every bus client of the test
// processes authenticates as the provisioning super user (WRIT_KAFKA_SASL_* set below), the ACL tests
// and the services of the e2e stack as the service principals (WRIT_KAFKA_SECRETS_DIR).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { acquireKafka, actAsSuperUser, provisionTopology, writRoot } from '@writ/devstack';
import type { KafkaStackOptions } from '@writ/devstack';
import '@writ/testing';

const say = (line: string) => console.log(`[stack] ${line}`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function brokerFor(project: string): { options: KafkaStackOptions; cleanup: () => void } {
  if (project === 'e2e') {
    const home = mkdtempSync(join(tmpdir(), 'writ-e2e-kafka-'));
    return { options: { home, port: 27292, controllerPort: 27293 }, cleanup: () => rmSync(home, { recursive: true, force: true }) };
  }
  const home = join(writRoot(), '.local', 'kafka-test');
  mkdirSync(home, { recursive: true });
  return { options: { home, port: 27192, controllerPort: 27193 }, cleanup: () => undefined };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const broker = brokerFor(project.name);
  const kafka = await acquireKafka(project.name, broker.options);
  const where = kafka.brokers.join(',');
  const how = kafka.external
    ? 'using WRIT_KAFKA_BROKERS'
    : kafka.started
      ? `started pid ${kafka.pid} in ${seconds(kafka.elapsedMs)}`
      : `reusing the running broker${kafka.pid === undefined ? '' : ` (pid ${kafka.pid})`}`;
  say(`kafka ${where}: ${how}`);
  actAsSuperUser(kafka.secretsDir);
  const teardown = async () => {
    const release = await kafka.release();
    broker.cleanup();
    say(`kafka ${where}: ${release.stopped ? 'stopped' : 'left running'} (${release.reason})`);
  };
  try {
    const topology = await provisionTopology(kafka.brokers);
    say(`topology: ${topology.summary}`);
  } catch (error) {
    await teardown();
    throw error;
  }
  process.env['WRIT_KAFKA_BROKERS'] = where;
  project.provide('kafkaBrokers', kafka.brokers);
  return teardown;
}
