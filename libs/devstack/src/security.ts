import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KafkaSasl } from '@writ/bus';
import { KAFKA_SASL_ENV } from '@writ/bus';
import { WritError } from '@writ/errors';
import { aclBindings, loadAclTable, principalOfService } from './acl-table.ts';
import type { AclTable } from './acl-table.ts';
import { writRoot } from './settings.ts';

// The local broker as a trust boundary: one SASL principal per service (SCRAM-SHA-512), a PLAIN
// super user for provisioning and tests, StandardAuthorizer with deny by default, and the ACL
// table of deploy/kafka/acls.json. Passwords are generated per broker home into secrets/ (0600)
// and reach a process only as a file path.

/** What the broker needs to know to run with SASL and ACLs. */
export interface BrokerSecurity {
  readonly superUser: string;
  readonly superPassword: string;
}

export function secretsDirOf(home: string): string {
  return join(home, 'secrets');
}

export function passwordFileOf(secretsDir: string, principal: string): string {
  return join(secretsDir, `${principal}.password`);
}

/**
 * Makes sure every principal of the table (and the super user) has a password file: 32 random
 * bytes, base64url, mode 0600 in a 0700 folder. Existing files are kept.
 */
export function ensureKafkaSecrets(secretsDir: string, table: AclTable): void {
  mkdirSync(secretsDir, { recursive: true, mode: 0o700 });
  chmodSync(secretsDir, 0o700);
  for (const principal of [table.superUser, ...Object.keys(table.principals)]) {
    const file = passwordFileOf(secretsDir, principal);
    if (existsSync(file) && readFileSync(file, 'utf8').trim() !== '') continue;
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  }
}

export function readSecret(file: string): string {
  return readFileSync(file, 'utf8').trim();
}

/** The super user as a client principal (PLAIN: it exists before any SCRAM credential does). */
export function superUserSasl(secretsDir: string, table: AclTable): KafkaSasl {
  return { mechanism: 'PLAIN', username: table.superUser, password: readSecret(passwordFileOf(secretsDir, table.superUser)), protocol: 'sasl_plaintext' };
}

/** The variables that make a Writ process (service, test, CLI) authenticate as `principal`. */
export function kafkaPrincipalEnv(secretsDir: string, principal: string, table: AclTable): Record<string, string> {
  return {
    [KAFKA_SASL_ENV.username]: principal,
    [KAFKA_SASL_ENV.passwordFile]: passwordFileOf(secretsDir, principal),
    [KAFKA_SASL_ENV.mechanism]: principal === table.superUser ? 'PLAIN' : 'SCRAM-SHA-512',
  };
}

function jaasValue(value: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(value)) throw new WritError('KAFKA_SECRET_INVALID', 'a Kafka user name or password holds characters JAAS would need quoted');
  return value;
}

/**
 * server.properties entries that turn the plain broker into a SASL one. The client listener
 * (BROKER) accepts SCRAM-SHA-512 for the services and PLAIN for the super user, whose password
 * is static in this file: SCRAM credentials live in the metadata log, so the principal that
 * creates them must exist without them (and a re-formatted or reused data folder never locks the
 * provisioning out). The controller listener takes PLAIN from the super user only (KRaft
 * controllers do not accept SCRAM). Everything else is denied unless an ACL allows it.
 */
export function saslBrokerProperties(
  listeners: { readonly broker: string; readonly controller: string },
  security: BrokerSecurity,
): ReadonlyArray<readonly [string, string]> {
  const user = jaasValue(security.superUser);
  const password = jaasValue(security.superPassword);
  const plain = `org.apache.kafka.common.security.plain.PlainLoginModule required username="${user}" password="${password}" user_${user}="${password}";`;
  const scram = `org.apache.kafka.common.security.scram.ScramLoginModule required username="${user}" password="${password}";`;
  return [
    ['listeners', `BROKER://${listeners.broker},CONTROLLER://${listeners.controller}`],
    ['advertised.listeners', `BROKER://${listeners.broker}`],
    ['listener.security.protocol.map', 'BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT'],
    ['inter.broker.listener.name', 'BROKER'],
    ['sasl.enabled.mechanisms', 'SCRAM-SHA-512,PLAIN'],
    ['sasl.mechanism.inter.broker.protocol', 'PLAIN'],
    ['sasl.mechanism.controller.protocol', 'PLAIN'],
    ['listener.name.broker.sasl.enabled.mechanisms', 'SCRAM-SHA-512,PLAIN'],
    ['listener.name.broker.plain.sasl.jaas.config', plain],
    ['listener.name.broker.scram-sha-512.sasl.jaas.config', scram],
    ['listener.name.controller.sasl.enabled.mechanisms', 'PLAIN'],
    ['listener.name.controller.plain.sasl.jaas.config', plain],
    ['authorizer.class.name', 'org.apache.kafka.metadata.authorizer.StandardAuthorizer'],
    ['allow.everyone.if.no.acl.found', 'false'],
    ['super.users', `User:${user}`],
  ];
}

/** The plan ProvisionSecurity.java applies (passwords stay in their files). */
export function renderSecurityPlan(bootstrap: string, secretsDir: string, table: AclTable): string {
  const lines = [
    '# Written by @writ/devstack (libs/devstack/src/security.ts) from deploy/kafka/acls.json.',
    `bootstrap ${bootstrap}`,
    `admin ${table.superUser} ${passwordFileOf(secretsDir, table.superUser)}`,
  ];
  for (const principal of Object.keys(table.principals)) lines.push(`user ${principal} ${passwordFileOf(secretsDir, principal)}`);
  for (const b of aclBindings(table)) lines.push(`acl ${b.principal} ${b.resourceType} ${b.patternType} ${b.name} ${b.operation}`);
  return `${lines.join('\n')}\n`;
}

/**
 * What was applied, as one hash: the plan, every password and the cluster id (a re-formatted
 * data folder is a new cluster without users or ACLs). Stored beside the broker once applied.
 */
export function securityFingerprint(plan: string, secretsDir: string, table: AclTable, clusterId: string): string {
  const hash = createHash('sha256').update(plan).update(clusterId);
  for (const principal of [table.superUser, ...Object.keys(table.principals)]) {
    hash.update(`${principal}\0${readSecret(passwordFileOf(secretsDir, principal))}\0`);
  }
  return hash.digest('hex');
}

/** Runs deploy/kafka/ProvisionSecurity.java (Java's single-file source launch) against the broker. */
export async function provisionSecurity(input: {
  readonly java: string;
  readonly libs: string;
  readonly log4jConfig: string;
  readonly program: string;
  readonly planFile: string;
}): Promise<string> {
  const args = [
    '-Xmx192m',
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    '-Xshare:auto',
    `-Dlog4j2.configurationFile=${input.log4jConfig}`,
    '-Dlog4j2.level=WARN',
    '-cp',
    join(input.libs, '*'),
    input.program,
    input.planFile,
  ];
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(input.java, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (exit) => resolve({ code: exit, output: text }));
  });
  const lines = output.split('\n').filter((line) => line.trim() !== '' && !/ INFO | WARN /.test(line));
  if (code !== 0) {
    throw new WritError('KAFKA_PROVISION_FAILED', `applying users and ACLs (${input.program}) failed (exit ${code}):\n${lines.slice(-20).join('\n')}`);
  }
  return lines.at(-1) ?? 'provisioned';
}

/** WRIT_KAFKA_SASL_* of the super user of a local broker: for tests, provisioning and developer tools. */
export function superUserEnv(secretsDir: string, root: string = writRoot()): Record<string, string> {
  const table = loadAclTable(root);
  return kafkaPrincipalEnv(secretsDir, table.superUser, table);
}

/**
 * Makes this process a client of a local SASL broker as its provisioning super user (WRIT_KAFKA_SASL_*),
 * and tells the stacks it starts where the services' own passwords are (WRIT_KAFKA_SECRETS_DIR).
 * Without a secrets folder (a broker without SASL, or WRIT_KAFKA_BROKERS elsewhere) nothing changes.
 */
export function actAsSuperUser(secretsDir: string | undefined, root: string = writRoot()): void {
  if (secretsDir === undefined) return;
  Object.assign(process.env, superUserEnv(secretsDir, root), { WRIT_KAFKA_SECRETS_DIR: secretsDir });
}

/** WRIT_KAFKA_SASL_* of a service's own principal (deploy/kafka/acls.json), and only of it. */
export function serviceKafkaEnv(secretsDir: string, service: string, root: string = writRoot()): Record<string, string> {
  const table = loadAclTable(root);
  const name = principalOfService(table, service);
  if (name === undefined) {
    throw new WritError('KAFKA_PRINCIPAL_UNKNOWN', `deploy/kafka/acls.json names no principal for the service ${service}`, {
      field: 'acls.json',
      rule: 'one principal per service',
    });
  }
  return kafkaPrincipalEnv(secretsDir, name, table);
}
