// The Kubernetes chart (deploy/helm/writ) and the image's build definition, checked offline with
// the real tools built from Go modules by deploy/helm/tools.sh: `helm lint` and `helm template` of
// every values file, every rendered manifest validated strictly by writ-manifest-check (Kubernetes
// kinds decoded into their API types refusing unknown fields; Strimzi, KEDA, Prometheus-operator and
// ClickHouse-operator resources against schemas derived from the operators' own CRDs, pinned in
// deploy/helm/schemas/crds.json and fetched into .local/ by deploy/helm/schemas/fetch.mjs). Then what the manifests say is
// compared with the sources they come from: the topics with deploy/kafka/topology.json, the users'
// ACLs with the grants the local broker gets (aclBindings of libs/devstack), each service's keys
// with serviceKeyEnvironment. The image is built for real by deploy/images/build.sh (./dev image:
// minutes, so not here); this checks its build definition as text.
import { execFileSync, spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { clusterDdl } from '@writ/cli';
import { createClickHouse, sqlStatements } from '@writ/clickhouse';
import {
  aclBindings,
  demoDirectory,
  kafkaDoorTopics,
  keyLayout,
  loadAclTable,
  serviceKeyEnvironment,
  serviceNodeFlags,
  withKafkaDoor,
  WRIT_SERVICES,
  writRoot,
} from '@writ/devstack';
import { kafkaDoorAgents } from '@writ/directory';
import { analystViewStatements } from '@writ/ledger-core';

const ROOT = writRoot();
const CHART = join(ROOT, 'deploy', 'helm', 'writ');
const BIN = join(ROOT, '.local', 'go-tools', 'bin');
const VALUES_FILES = ['values.yaml', 'values-evaluation.yaml', 'values-production.yaml'] as const;

interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  readonly spec?: Record<string, unknown>;
  readonly data?: Record<string, string>;
  readonly stringData?: Record<string, string>;
}
interface Topology {
  readonly defaults: { readonly partitions: number };
  readonly topics: readonly { readonly name: string; readonly partitions?: number; readonly configs: Record<string, string> }[];
}
interface Container {
  readonly env: readonly { readonly name: string; readonly value?: string }[];
  readonly livenessProbe: { readonly httpGet: { readonly path: string } };
  readonly readinessProbe: { readonly httpGet: { readonly path: string } };
  readonly volumeMounts: readonly { readonly name: string }[];
}
interface PodSpec {
  readonly containers: readonly Container[];
  readonly volumes: readonly { readonly name: string; readonly secret?: { readonly secretName: string } }[];
  readonly securityContext: { readonly runAsUser: number; readonly runAsNonRoot: boolean };
}

const work = mkdtempSync(join(tmpdir(), 'writ-helm-'));

/** Evaluation keys (what `--set-file` would pass): a PEM per signing service, its public half. */
function keyArgs(): string[] {
  const args: string[] = [];
  for (const [service, publicKind, file] of [
    ['policy', 'warrants', 'warrant-1'],
    ['budget', 'reservations', 'reservation-1'],
    ['ledger', 'ledger', 'ledger-1'],
    ['executor', 'toolTokens', 'tool-token-1'],
  ] as const) {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = join(work, `${file}.pem`);
    writeFileSync(pem, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const pub = join(work, `${file}.pub.pem`);
    writeFileSync(pub, createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }));
    args.push('--set-file', `keys.${service}.pem=${pem}`, '--set-file', `publicKeys.${publicKind}.${file}\\.pub\\.pem=${pub}`);
  }
  return args;
}

function helm(args: readonly string[]): { code: number; output: string } {
  const result = spawnSync(join(BIN, 'helm'), args, { cwd: ROOT, encoding: 'utf8' });
  return { code: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

/** Renders the chart with a values file (and keys where the file leaves them to the installer). */
function render(valuesFile: string, extra: readonly string[] = []): { code: number; output: string } {
  const keys = valuesFile === 'values-production.yaml' ? [] : keyArgs();
  return helm(['template', 'writ', CHART, '--namespace', 'writ', '-f', join(CHART, valuesFile), ...keys, ...extra]);
}

/** Validates a rendered stream strictly; returns the checker's verdict and the documents as JSON. */
function validate(yamlText: string, name: string): { code: number; output: string; manifests: Manifest[] } {
  const file = join(work, `${name}.yaml`);
  const dump = join(work, `${name}.json`);
  writeFileSync(file, yamlText);
  const result = spawnSync(join(BIN, 'writ-manifest-check'), ['-schemas', schemas, '-dump', dump, file], {
    encoding: 'utf8',
  });
  const manifests = result.status === 0 || result.status === 1 ? (JSON.parse(readFileSync(dump, 'utf8')) as Manifest[]) : [];
  return { code: result.status ?? -1, output: `${result.stdout}${result.stderr}`, manifests };
}

/** The folder of the custom resources' JSON schemas (deploy/helm/schemas/fetch.mjs), set before the tests. */
let schemas = '';
const rendered = new Map<string, Manifest[]>();
const of = (valuesFile: string, kind: string) => (rendered.get(valuesFile) ?? []).filter((m) => m.kind === kind);
const podSpec = (m: Manifest) => (m.spec as { template: { spec: PodSpec } }).template.spec;

beforeAll(() => {
  // Cold, this builds helm from source (minutes); cached in .local/go-tools afterwards.
  execFileSync('bash', [join(ROOT, 'deploy', 'helm', 'tools.sh')], { cwd: ROOT, stdio: 'inherit' });
  // The operators' CRDs, pinned by version and sha256, as strict JSON schemas (cold: about 30 s).
  schemas = execFileSync(process.execPath, [join(ROOT, 'deploy', 'helm', 'schemas', 'fetch.mjs')], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}, 1_200_000);

describe('deploy/helm/writ', () => {
  it('keeps its copies of the topology and the ACL table identical to deploy/kafka', () => {
    for (const file of ['topology.json', 'acls.json']) {
      expect(readFileSync(join(CHART, 'files', file), 'utf8'), `deploy/helm/writ/files/${file}: cp deploy/kafka/${file} there`).toBe(
        readFileSync(join(ROOT, 'deploy', 'kafka', file), 'utf8'),
      );
    }
  });

  for (const valuesFile of VALUES_FILES) {
    it(`${valuesFile}: passes helm lint`, () => {
      const keys = valuesFile === 'values-production.yaml' ? [] : keyArgs();
      const result = helm(['lint', '--strict', CHART, '-f', join(CHART, valuesFile), ...keys]);
      expect(result.output).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(result.code).toBe(0);
    });

    it(`${valuesFile}: renders, and every manifest is valid against its schema`, () => {
      const result = render(valuesFile);
      expect(result.code, result.output).toBe(0);
      const checked = validate(result.output, valuesFile);
      expect(checked.output).not.toContain('INVALID');
      expect(checked.code, checked.output).toBe(0);
      rendered.set(valuesFile, checked.manifests);
      for (const kind of [
        'StatefulSet',
        'Kafka',
        'KafkaNodePool',
        'KafkaTopic',
        'KafkaUser',
        'ClickHouseInstallation',
        'Job',
        'NetworkPolicy',
        'PodDisruptionBudget',
      ]) {
        expect(of(valuesFile, kind).length, `${valuesFile} renders a ${kind}`).toBeGreaterThan(0);
      }
    });

    it(`${valuesFile}: a KafkaTopic per topic of topology.json, with its partitions, replication and configs`, () => {
      const topology = JSON.parse(readFileSync(join(ROOT, 'deploy', 'kafka', 'topology.json'), 'utf8')) as Topology;
      const values = valuesOf(valuesFile);
      const topics = of(valuesFile, 'KafkaTopic');
      expect(topics.map((t) => t.spec?.['topicName']).sort()).toEqual(topology.topics.map((t) => t.name).sort());
      for (const topic of topology.topics) {
        const spec = topics.find((t) => t.spec?.['topicName'] === topic.name)?.spec ?? {};
        expect(spec['partitions'], topic.name).toBe(topic.partitions ?? values.partitions ?? topology.defaults.partitions);
        expect(spec['replicas'], topic.name).toBe(values.replicationFactor);
        expect(spec['config'], topic.name).toEqual({ ...topic.configs, 'min.insync.replicas': String(values.minInsyncReplicas) });
      }
      const kafka = of(valuesFile, 'Kafka')[0]?.spec as { kafka: { config: Record<string, unknown> } };
      expect(kafka.kafka.config['min.insync.replicas']).toBe(values.minInsyncReplicas);
      expect(kafka.kafka.config['allow.everyone.if.no.acl.found']).toBe(false);
    });

    it(`${valuesFile}: a KafkaUser per principal of acls.json, with exactly the broker's grants`, () => {
      const table = loadAclTable(ROOT);
      const expected = aclBindings(table)
        .map((b) => `${b.principal} ${b.resourceType} ${b.patternType} ${b.name} ${b.operation}`)
        .sort();
      const strimziType: Record<string, string> = { topic: 'TOPIC', group: 'GROUP', transactionalId: 'TRANSACTIONAL_ID' };
      const strimziPattern: Record<string, string> = { literal: 'LITERAL', prefix: 'PREFIXED' };
      const actual: string[] = [];
      for (const user of of(valuesFile, 'KafkaUser')) {
        const acls = (user.spec as { authorization: { acls: { resource: { type: string; name: string; patternType: string }; operations: string[] }[] } })
          .authorization.acls;
        for (const acl of acls) {
          for (const op of acl.operations) {
            actual.push(
              `User:${user.metadata.name} ${strimziType[acl.resource.type]} ${strimziPattern[acl.resource.patternType]} ${acl.resource.name} ${op.toUpperCase()}`,
            );
          }
        }
      }
      expect(actual.sort()).toEqual(expected.map((line) => (line.startsWith('User:') ? line : `User:${line}`)).sort());
      expect(
        of(valuesFile, 'KafkaUser')
          .map((u) => u.metadata.name)
          .sort(),
      ).toEqual(Object.keys(table.principals).sort());
    });

    it(`${valuesFile}: each service holds only its own keys and its own Kafka principal`, () => {
      const layout = keyLayout('/keys');
      const statefulSets = of(valuesFile, 'StatefulSet');
      expect(statefulSets.map((s) => s.metadata.labels?.['app.kubernetes.io/component']).sort()).toEqual([...WRIT_SERVICES].sort());
      const secretOwners = new Map<string, string>();
      for (const set of statefulSets) {
        const service = set.metadata.labels?.['app.kubernetes.io/component'] ?? '';
        const spec = podSpec(set);
        const env = spec.containers[0]?.env ?? [];
        const keyVariables = env.map((e) => e.name).filter((n) => /_(SIGNING_KEY|KEYS_DIR)$/.test(n) && n !== 'WRIT_TENANT_KEYS_DIR');
        expect(keyVariables.sort(), service).toEqual(Object.keys(serviceKeyEnvironment(layout, service)).sort());
        expect(env.find((e) => e.name === 'WRIT_KAFKA_SASL_USERNAME')?.value, service).toBe(`writ-${service}`);
        const secrets = spec.volumes.flatMap((v) => (v.secret === undefined ? [] : [v.secret.secretName]));
        for (const secret of secrets) {
          if (secret === 'writ-tenant-keys') continue; // the gateway seals, the executor opens (docs/configuration.md)
          expect(secretOwners.get(secret) ?? service, `Secret ${secret} is mounted by two services`).toBe(service);
          secretOwners.set(secret, service);
        }
        expect(secrets, service).toContain(`writ-${service}`);
        expect(spec.securityContext.runAsNonRoot).toBe(true);
        // Live while HTTP answers; ready only while the service reaches Kafka (/health/ready answers 503 otherwise).
        expect(spec.containers[0]?.livenessProbe.httpGet.path).toBe('/health');
        expect(spec.containers[0]?.readinessProbe.httpGet.path).toBe('/health/ready');
      }
      // The chart's own key Secrets (evaluation): one data key each, the owner's key file.
      for (const secret of of(valuesFile, 'Secret').filter((s) => s.metadata.name.endsWith('-keys'))) {
        const owner = secret.metadata.labels?.['app.kubernetes.io/component'] ?? '';
        expect(Object.keys(secret.data ?? {}), secret.metadata.name).toEqual([ownKeyFile(owner)]);
        expect(secretOwners.get(secret.metadata.name), secret.metadata.name).toBe(owner);
      }
    });
  }

  it("exposes only the gateway: the others accept metrics scrapes, and the ledger the gateway's calls to its door", () => {
    for (const policy of of('values.yaml', 'NetworkPolicy')) {
      const service = policy.metadata.labels?.['app.kubernetes.io/component'];
      const ingress = (policy.spec as { ingress: { from?: { podSelector?: { matchLabels: Record<string, string> } }[]; ports: { port: string }[] }[] }).ingress;
      const open = ingress.filter((rule) => rule.from === undefined).flatMap((rule) => rule.ports.map((p) => p.port));
      expect(open, `${service ?? '?'}`).toEqual(service === 'gateway' ? ['http'] : []);
      const fromPods = ingress.filter((rule) => rule.from?.some((from) => from.podSelector !== undefined) === true);
      expect(
        fromPods.map((rule) => [rule.from?.[0]?.podSelector?.matchLabels['app.kubernetes.io/component'], rule.ports.map((p) => p.port)]),
        `${service ?? '?'}`,
      ).toEqual(service === 'ledger' ? [['gateway', ['http']]] : []);
      const fromNamespaces = ingress.filter((rule) => rule.from !== undefined && !fromPods.includes(rule));
      expect(fromNamespaces.flatMap((rule) => rule.ports.map((p) => p.port))).toEqual(['metrics']);
    }
    // The gateway reaches the ledger's door by its Service.
    const gateway = of('values.yaml', 'StatefulSet').find((s) => s.metadata.labels?.['app.kubernetes.io/component'] === 'gateway');
    const env = (gateway?.spec as { template: { spec: PodSpec } } | undefined)?.template.spec.containers[0]?.env ?? [];
    expect(env.find((e) => e.name === 'WRIT_CONSOLE_LEDGER_URL')?.value).toMatch(/^http:\/\/[a-z0-9-]+-ledger:8080$/);
  });

  it("takes the operator's files as ConfigMaps in place of the image's demo files, and without them keeps the image's", () => {
    const esc = (name: string) => name.replace(/\./g, '\\.');
    const files = {
      directory: join(ROOT, 'deploy', 'demo', 'directory.json'),
      budgets: join(ROOT, 'deploy', 'demo', 'budgets.json'),
      tool: join(ROOT, 'tools', 'tickets.get@1.0.0.json'),
      policy: join(ROOT, 'policies', 'read-tools-allowed.cedar'),
    };
    const result = render('values.yaml', [
      ...['--set-file', `config.directory=${files.directory}`, '--set-file', `config.budgets=${files.budgets}`],
      ...['--set-file', `config.tools.${esc('tickets.get@1.0.0.json')}=${files.tool}`],
      ...['--set-file', `config.policies.${esc('read-tools-allowed.cedar')}=${files.policy}`],
    ]);
    expect(result.code, result.output).toBe(0);
    const checked = validate(result.output, 'config');
    expect(checked.code, checked.output).toBe(0);
    const maps = new Map(checked.manifests.filter((m) => m.kind === 'ConfigMap').map((m) => [m.metadata.name, m.data ?? {}]));
    expect(maps.get('writ-config')).toEqual({ 'directory.json': readFileSync(files.directory, 'utf8'), 'budgets.json': readFileSync(files.budgets, 'utf8') });
    expect(maps.get('writ-tools')).toEqual({ 'tickets.get@1.0.0.json': readFileSync(files.tool, 'utf8') });
    expect(maps.get('writ-policies')).toEqual({ 'read-tools-allowed.cedar': readFileSync(files.policy, 'utf8') });
    const envOf = (manifests: readonly Manifest[], service: string) => {
      const set = manifests.find((m) => m.kind === 'StatefulSet' && m.metadata.labels?.['app.kubernetes.io/component'] === service);
      return Object.fromEntries((set === undefined ? [] : (podSpec(set).containers[0]?.env ?? [])).map((e) => [e.name, e.value]));
    };
    expect(envOf(checked.manifests, 'gateway')).toMatchObject({
      WRIT_DIRECTORY_FILE: '/etc/writ/config/directory.json',
      WRIT_BUDGET_LIMITS_FILE: '/etc/writ/config/budgets.json',
      WRIT_GATEWAY_SAFE_MODE_FILE: '/app/deploy/demo/safe-mode.json',
      WRIT_TOOLS_DIR: '/etc/writ/tools',
      WRIT_POLICY_DIR: '/etc/writ/policies',
    });
    const budget = checked.manifests.find((m) => m.kind === 'StatefulSet' && m.metadata.labels?.['app.kubernetes.io/component'] === 'budget');
    const mounts = (budget === undefined ? [] : (podSpec(budget).containers[0]?.volumeMounts ?? [])).map((v) => v.name);
    expect(mounts).toEqual(expect.arrayContaining(['config', 'config-tools', 'config-policies']));
    // Without them: the image's files, and no ConfigMap of them.
    expect(envOf(rendered.get('values.yaml') ?? [], 'gateway')).toMatchObject({
      WRIT_DIRECTORY_FILE: '/app/deploy/demo/directory.json',
      WRIT_TOOLS_DIR: '/app/tools',
      WRIT_POLICY_DIR: '/app/policies',
    });
    expect(of('values.yaml', 'ConfigMap').map((m) => m.metadata.name)).not.toContain('writ-config');
  });

  it('scales gateway, planner and policy on consumer lag, never past the partitions; the others run one', () => {
    const scaled = of('values-production.yaml', 'ScaledObject');
    expect(scaled.map((s) => s.metadata.labels?.['app.kubernetes.io/component']).sort()).toEqual(['gateway', 'planner', 'policy']);
    for (const object of scaled) {
      const spec = object.spec as { maxReplicaCount: number; triggers: { type: string; metadata: Record<string, string> }[] };
      expect(spec.maxReplicaCount).toBe(12);
      expect(spec.triggers[0]?.type).toBe('kafka');
      expect(spec.triggers[0]?.metadata['consumerGroup']).toBe(`writ.${object.metadata.labels?.['app.kubernetes.io/component'] ?? ''}`);
    }
    // Asking for more instances than partitions, or a second ledger, fails the render with the rule.
    const tooMany = render('values.yaml', ['--set', 'services.planner.replicas=4']);
    expect(tooMany.code).not.toBe(0);
    expect(tooMany.output).toContain('services.planner.replicas is 4, but at most 3 instances of planner can share the work');
    const twoLedgers = render('values.yaml', ['--set', 'services.ledger.replicas=2']);
    expect(twoLedgers.output).toContain('services.ledger.replicas is 2, but at most 1 instances of ledger');
  });

  it("renders the Kafka door's agents as the local stack provisions them: their topics and users, and the gateway's grants on them", () => {
    const directory = demoDirectory(ROOT);
    const principals = kafkaDoorAgents(directory).map((agent) => agent.kafka_principal);
    expect(principals.length).toBeGreaterThan(0);
    const result = render(
      'values.yaml',
      principals.flatMap((p, i) => ['--set', `kafka.doorPrincipals[${i}]=${p}`]),
    );
    expect(result.code, result.output).toBe(0);
    const checked = validate(result.output, 'kafka-door');
    expect(checked.code, checked.output).toBe(0);
    // Every ACL binding the local broker gets from libs/devstack (withKafkaDoor), no more, no less.
    const strimziType: Record<string, string> = { topic: 'TOPIC', group: 'GROUP', transactionalId: 'TRANSACTIONAL_ID' };
    const strimziPattern: Record<string, string> = { literal: 'LITERAL', prefix: 'PREFIXED' };
    const actual = checked.manifests
      .filter((m) => m.kind === 'KafkaUser')
      .flatMap((user) =>
        (
          user.spec as { authorization: { acls: { resource: { type: string; name: string; patternType: string }; operations: string[] }[] } }
        ).authorization.acls.flatMap((acl) =>
          acl.operations.map(
            (op) =>
              `User:${user.metadata.name} ${strimziType[acl.resource.type]} ${strimziPattern[acl.resource.patternType]} ${acl.resource.name} ${op.toUpperCase()}`,
          ),
        ),
      )
      .sort();
    const expected = aclBindings(withKafkaDoor(loadAclTable(ROOT), directory))
      .map((b) => `${b.principal.startsWith('User:') ? '' : 'User:'}${b.principal} ${b.resourceType} ${b.patternType} ${b.name} ${b.operation}`)
      .sort();
    expect(actual).toEqual(expected);
    const topics = checked.manifests.filter((m) => m.kind === 'KafkaTopic').map((t) => (t.spec as { topicName: string }).topicName);
    expect(topics).toEqual(expect.arrayContaining(kafkaDoorTopics(directory).map((t) => t.name)));
    // A service's principal is not an agent's to take.
    const hostile = render('values.yaml', ['--set', 'kafka.doorPrincipals[0]=writ-planner']);
    expect(hostile.code).not.toBe(0);
    expect(hostile.output).toContain("at '/kafka/doorPrincipals/0': 'not' failed");
  });

  it('refuses values its schema does not allow, naming the field and the rule (values.schema.json)', () => {
    const result = render('values-production.yaml', ['--set', 'kafka.replicationFactor=0,services.planner.replica=2']);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain("at '/kafka/replicationFactor': minimum: got 0, want 1");
    expect(result.output).toContain("at '/services/planner': additional properties 'replica' not allowed");
  });

  it('renders a ClickHouse cluster for several shards and replicas: Keeper, and the DDL job applies the replicated, Distributed form', () => {
    const result = render('values-production.yaml', ['--set', 'clickhouse.shards=3']);
    expect(result.code, result.output).toBe(0);
    const checked = validate(result.output, 'sharded');
    expect(checked.code, checked.output).toBe(0);
    const find = (kind: string) => checked.manifests.filter((m) => m.kind === kind);
    const chi = find('ClickHouseInstallation')[0]?.spec as {
      configuration: { zookeeper: { nodes: { host: string; port: number }[] }; clusters: { name: string; layout: Record<string, number> }[] };
    };
    expect(chi.configuration.clusters).toMatchObject([{ name: 'writ', layout: { shardsCount: 3, replicasCount: 2 } }]);
    expect(chi.configuration.zookeeper.nodes).toEqual([{ host: 'keeper-writ', port: 2181 }]);
    const keeper = find('ClickHouseKeeperInstallation');
    expect(keeper.map((k) => k.metadata.name)).toEqual(['writ']);
    expect((keeper[0]?.spec as { configuration: { clusters: { layout: { replicasCount: number } }[] } }).configuration.clusters[0]?.layout.replicasCount).toBe(
      3,
    );
    const job = find('Job').find((j) => j.metadata.name === 'writ-clickhouse-ddl') as Manifest;
    const jobSpec = podSpec(job) as unknown as { initContainers: { args: string[] }[]; containers: { args: string[] }[] };
    expect(jobSpec.initContainers[0]?.args[0]).toContain('clickhouse-cluster-ddl --sql-dir /app/deploy/clickhouse --cluster writ --database "writ"');
    expect(jobSpec.initContainers[0]?.args[0]).not.toContain('cp /app/deploy/clickhouse');
    expect(jobSpec.containers[0]?.args[0]).toContain(`CREATE DATABASE IF NOT EXISTS writ ON CLUSTER 'writ'`);
    // The ledger keeps its detail retention on a cluster: on every node's events_local.
    const ledger = find('StatefulSet').find((s) => s.metadata.name.endsWith('-ledger')) as Manifest;
    const ledgerEnv = podSpec(ledger).containers[0]?.env ?? [];
    expect(ledgerEnv).toContainEqual({ name: 'WRIT_LEDGER_CLICKHOUSE_CLUSTER', value: 'writ' });
    expect(ledgerEnv.map((e) => e.name)).not.toContain('WRIT_LEDGER_DETAIL_TTL_DAYS');
    // One server (values.yaml): no Keeper, the files as they are.
    expect(of('values.yaml', 'ClickHouseKeeperInstallation')).toEqual([]);
    const single = of('values.yaml', 'Job').find((j) => j.metadata.name === 'writ-clickhouse-ddl') as Manifest;
    expect((podSpec(single) as unknown as { initContainers: { args: string[] }[] }).initContainers[0]?.args[0]).toContain(
      'cp /app/deploy/clickhouse/*.sql /sql/',
    );
  });

  it("gives the cluster the ledger's whole DDL, every table replicated and sharded by tenant, valid to the engine", async () => {
    const source = [...sqlStatements(join(ROOT, 'deploy', 'clickhouse')), ...analystViewStatements()];
    const { statements, tables } = clusterDdl(source, { cluster: 'writ', database: 'writ' });
    const created = source.flatMap((s) => /^CREATE TABLE IF NOT EXISTS (\w+) \(([\s\S]*)\) ENGINE/.exec(s) ?? []).length / 3;
    expect(tables.length).toBe(created);
    for (const table of tables) {
      expect(table.engine, table.table).toMatch(/^Replicated\w*MergeTree$/);
      const body = source.find((s) => s.startsWith(`CREATE TABLE IF NOT EXISTS ${table.table} (`)) ?? '';
      if (/^\s*tenant_id\s/m.test(body)) expect(table.shardingKey, table.table).toBe('cityHash64(tenant_id)');
    }
    expect(tables.find((t) => t.table === 'ledger')?.shardingKey).toBe('cityHash64(chain_id)');
    for (const statement of statements) expect(statement).toContain(` ON CLUSTER 'writ' `);
    // The engine: every statement parses (chDB: no Keeper, no cluster to run them on), and the local
    // tables, their ALTERs and the materialized views run once their Replicated engines are made plain.
    const dataPath = join(work, 'chdb');
    const clickhouse = createClickHouse({ dataPath, database: 'writ' });
    try {
      for (const query of statements) {
        const parsed = await clickhouse.query({ query: 'SELECT formatQuery({q:String}) AS f', query_params: { q: query }, format: 'JSONEachRow' });
        expect((await parsed.json<{ f: string }>())[0]?.f, query.slice(0, 80)).toContain('ON CLUSTER writ');
      }
      let ran = 0;
      for (const query of statements) {
        const alterOfDistributed = /^ALTER TABLE writ\.(\w+) ON/.exec(query)?.[1]?.endsWith('_local') === false;
        if (/ENGINE = Distributed/.test(query) || query.startsWith('CREATE OR REPLACE VIEW') || alterOfDistributed) continue;
        const plain = query.replace(` ON CLUSTER 'writ'`, '').replace(/ENGINE = Replicated(\w+)\('[^']*', '\{replica\}'(?:, )?/, 'ENGINE = $1(');
        await clickhouse.command({ query: plain });
        ran++;
      }
      expect(ran).toBeGreaterThan(tables.length);
      const engines = await clickhouse.query({
        query: "SELECT name, engine FROM system.tables WHERE database = 'writ' AND name LIKE '%_local'",
        format: 'JSONEachRow',
      });
      expect((await engines.json<{ name: string }>()).map((t) => t.name).sort()).toEqual(tables.map((t) => `${t.table}_local`).sort());
    } finally {
      await clickhouse.close();
    }
  });

  it('renders without Strimzi and the ClickHouse server for an existing cluster', () => {
    const result = render('values-evaluation.yaml', [
      '--set',
      'kafka.enabled=false,kafka.bootstrap=kafka.example:9092,clickhouse.enabled=false,clickhouse.url=http://clickhouse.example:8123',
    ]);
    expect(result.code, result.output).toBe(0);
    const checked = validate(result.output, 'existing');
    expect(checked.code, checked.output).toBe(0);
    expect(checked.manifests.filter((m) => /^Kafka|^ClickHouse/.test(m.kind))).toEqual([]);
    const ledger = checked.manifests.find((m) => m.kind === 'StatefulSet' && m.metadata.name === 'writ-ledger');
    expect(podSpec(ledger as Manifest).containers[0]?.env).toContainEqual({ name: 'CLICKHOUSE_URL', value: 'http://clickhouse.example:8123' });
  });

  it("refuses a manifest with a misplaced field, in Kubernetes kinds and every operator's resources (the validation is strict)", () => {
    const result = render('values-production.yaml');
    const broken = result.output
      .replace('  partitions: 12\n', '  partitions: 12\n  partition: 3\n')
      .replace('podManagementPolicy: Parallel', 'podManagementPolicy: Parallel\n  replica: 2')
      .replace('\n  entityOperator:', '\n  entityOperators: {}\n  entityOperator:')
      .replace('  roles: [controller, broker]', '  roles: [controller, broker]\n  role: broker')
      .replace('\n  maxReplicaCount:', '\n  maxReplicas: 3\n  maxReplicaCount:')
      .replace('\n  endpoints:', '\n  endpoint: []\n  endpoints:')
      .replace('\n  defaults:', '\n  default: {}\n  defaults:');
    const checked = validate(broken, 'broken');
    expect(checked.code).toBe(1);
    expect(checked.output).toMatch(/INVALID KafkaTopic .*additional properties 'partition' not allowed/);
    expect(checked.output).toMatch(/INVALID StatefulSet .*unknown field "spec.replica"/);
    expect(checked.output).toMatch(/INVALID Kafka .*additional properties 'entityOperators' not allowed/);
    expect(checked.output).toMatch(/INVALID KafkaNodePool .*additional properties 'role' not allowed/);
    expect(checked.output).toMatch(/INVALID ScaledObject .*additional properties 'maxReplicas' not allowed/);
    expect(checked.output).toMatch(/INVALID ServiceMonitor .*additional properties 'endpoint' not allowed/);
    expect(checked.output).toMatch(/INVALID ClickHouseInstallation .*additional properties 'default' not allowed/);
  });
});

describe('deploy/images/Containerfile', () => {
  const containerfile = readFileSync(join(ROOT, 'deploy', 'images', 'Containerfile'), 'utf8');
  it('builds on the Node of .nvmrc, runs as a non-root user, with a health check', () => {
    const node = readFileSync(join(ROOT, '.nvmrc'), 'utf8').trim().replace(/^v/, '');
    const bases = [...containerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(bases.length).toBeGreaterThan(0);
    for (const base of bases) expect(base).toBe('${NODE_IMAGE}');
    // The default base; deploy/images/build.sh (./dev image) passes one made from Debian's packages.
    expect(/^ARG NODE_IMAGE=(\S+)$/m.exec(containerfile)?.[1]).toBe(`docker.io/library/node:${node}-bookworm-slim`);
    const user = /^USER (\d+):(\d+)$/m.exec(containerfile);
    expect(Number(user?.[1])).toBeGreaterThan(0);
    expect(containerfile).toMatch(/^HEALTHCHECK .*\n\s+CMD .*\/health/m);
    expect(containerfile).toMatch(/npm install .*\n[\s\S]*&& npm prune --omit=dev/);
    expect(readFileSync(join(ROOT, 'package-lock.json'), 'utf8').length).toBeGreaterThan(0);
    expect(containerfile).toContain('SOURCE_DATE_EPOCH');
    // The chart runs the pods as that user.
    for (const set of of('values.yaml', 'StatefulSet')) expect(podSpec(set).securityContext.runAsUser).toBe(Number(user?.[1]));
  });

  it("has an entry point for each of the six services, with the local stack's V8 flags", () => {
    const entrypoint = readFileSync(join(ROOT, 'deploy', 'images', 'entrypoint.sh'), 'utf8');
    for (const service of WRIT_SERVICES) expect(entrypoint).toMatch(new RegExp(`\\b${service}\\b.*\\)`));
    // Each service's command, with a `node` that prints its arguments instead of running them.
    const bin = mkdtempSync(join(tmpdir(), 'writ-entrypoint-'));
    writeFileSync(join(bin, 'node'), '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
    try {
      for (const service of WRIT_SERVICES) {
        const run = spawnSync('sh', [join(ROOT, 'deploy', 'images', 'entrypoint.sh'), service], {
          encoding: 'utf8',
          env: { PATH: `${bin}:${process.env['PATH'] ?? ''}` },
        });
        expect(run.stdout.trim()).toBe([...serviceNodeFlags(service), `/app/services/${service}/dist/main.js`].join(' '));
        // And each service's `npm start`, the same flags.
        const manifest = JSON.parse(readFileSync(join(ROOT, 'services', service, 'package.json'), 'utf8')) as { scripts: { start: string } };
        expect(manifest.scripts.start).toBe(['node', ...serviceNodeFlags(service), 'dist/main.js'].join(' '));
      }
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
    const usage = spawnSync('sh', [join(ROOT, 'deploy', 'images', 'entrypoint.sh')], { encoding: 'utf8' });
    expect(usage.status).toBe(64);
    expect(usage.stderr).toContain('usage: writ <gateway|planner|policy|budget|executor|ledger>');
  });
});

function ownKeyFile(service: string): string {
  const files: Record<string, string> = { policy: 'warrant-1.pem', budget: 'reservation-1.pem', ledger: 'ledger-1.pem', executor: 'tool-token-1.pem' };
  return files[service] ?? '(none)';
}

/** The Kafka settings a values file gives (over values.yaml's defaults), as the chart reads them. */
function valuesOf(valuesFile: string): { partitions: number | undefined; replicationFactor: number; minInsyncReplicas: number } {
  const result = helm(['show', 'values', CHART]);
  const defaults = /replicationFactor: (\d+)\n\s+minInsyncReplicas: (\d+)/.exec(result.output);
  const file = readFileSync(join(CHART, valuesFile), 'utf8');
  const number = (key: string, fallback: number | undefined) => {
    const m = new RegExp(`^  ${key}: (\\d+)$`, 'm').exec(file);
    return m === null ? fallback : Number(m[1]);
  };
  return {
    partitions: number('partitions', undefined),
    replicationFactor: number('replicationFactor', Number(defaults?.[1])) ?? 1,
    minInsyncReplicas: number('minInsyncReplicas', Number(defaults?.[2])) ?? 1,
  };
}
