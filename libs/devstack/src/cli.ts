// `./dev stack up|down|status` (or `node --conditions=writ-source libs/devstack/src/cli.ts ...`):
// the local Kafka broker, the topology, and which ClickHouse the services will use.
import { clickHouseOptionsFromEnv, describeClickHouse } from '@writ/clickhouse';
import { describeError } from '@writ/errors';
import { seconds } from './broker-process.ts';
import { kafkaDown, kafkaStatus, kafkaUp } from './kafka.ts';
import { actAsSuperUser } from './security.ts';
import { provisionTopology } from './topology.ts';

const say = (line: string) => console.log(`[stack] ${line}`);

async function up(): Promise<boolean> {
  const kafka = await kafkaUp({ log: say });
  const where = kafka.brokers.join(',');
  if (kafka.external) say(`kafka: using WRIT_KAFKA_BROKERS=${where} (answered in ${seconds(kafka.elapsedMs)})`);
  else if (kafka.started) say(`kafka: started pid ${kafka.pid} on ${where} in ${seconds(kafka.elapsedMs)}`);
  else say(`kafka: already running${kafka.pid === undefined ? '' : ` (pid ${kafka.pid})`} on ${where}`);
  if (kafka.secretsDir !== undefined) {
    // Provisioning is the super user's job; the services get their own principals (acls.json).
    actAsSuperUser(kafka.secretsDir);
    say(`kafka: SASL/SCRAM per service, ACLs from deploy/kafka/acls.json; passwords in ${kafka.secretsDir}`);
  }
  const topology = await provisionTopology(kafka.brokers);
  // Drift is reported, not fatal: the bus never alters an existing topic, a person decides.
  say(`topology: ${topology.summary}`);
  clickHouseLine();
  return true;
}

async function down(): Promise<boolean> {
  const result = await kafkaDown();
  say(`kafka: ${result.note}`);
  return true;
}

async function status(): Promise<boolean> {
  const kafka = await kafkaStatus();
  const where = kafka.brokers.join(',');
  if (kafka.healthy) {
    const who = kafka.mode === 'external' ? 'WRIT_KAFKA_BROKERS' : kafka.pid === undefined ? 'not started by devstack' : `pid ${kafka.pid}`;
    say(`kafka: running on ${where} (${who}; ${kafka.topics ?? 0} topics)`);
  } else if (kafka.running) {
    say(`kafka: running but not usable on ${where}: ${kafka.problem ?? 'no answer'}`);
  } else {
    say(`kafka: not running on ${where}${kafka.problem === undefined || kafka.problem === 'not running' ? '' : ` (${kafka.problem})`}`);
  }
  if (kafka.logFile !== undefined && kafka.mode === 'local') say(`kafka: log ${kafka.logFile}`);
  clickHouseLine();
  return kafka.healthy;
}

function clickHouseLine(): void {
  say(`clickhouse: ${describeClickHouse(clickHouseOptionsFromEnv())}`);
}

const verbs: Record<string, () => Promise<boolean>> = { up, down, status };
const verb = process.argv[2] ?? '';
const run = verbs[verb];
if (run === undefined) {
  console.error('usage: cli.ts up|down|status');
  process.exitCode = 2;
} else {
  try {
    process.exitCode = (await run()) ? 0 : 1;
  } catch (error) {
    say(`${verb} failed: ${describeError(error)}`);
    process.exitCode = 1;
  }
}
