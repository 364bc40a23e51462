import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { env, loadConfig } from '@writ/config';
import { WritError } from '@writ/errors';

export type Env = Readonly<Record<string, string | undefined>>;

/** Where the local broker lives on disk. Everything but `libs` is written by devstack. */
export interface KafkaLayout {
  readonly home: string;
  /** The broker's jars, resolved from Maven Central by deploy/local/toolchain.sh. */
  readonly libs: string;
  readonly configDir: string;
  readonly serverProperties: string;
  readonly log4jConfig: string;
  readonly dataDir: string;
  readonly logsDir: string;
  readonly logFile: string;
  readonly pidFile: string;
  readonly ownerFile: string;
  readonly lockFile: string;
  readonly leasesDir: string;
  /** One password file per principal (0600): see security.ts. */
  readonly secretsDir: string;
  /** The users and ACLs last handed to ProvisionSecurity.java. */
  readonly securityPlan: string;
  /** Fingerprint of what was applied to this broker's cluster (security.ts). */
  readonly securityApplied: string;
}

/** `sasl`: SASL listeners, a principal per service, ACLs (the default); `none`: PLAINTEXT, no ACLs. */
export type KafkaSecurityMode = 'sasl' | 'none';
export const DEFAULT_KAFKA_SECURITY: KafkaSecurityMode = 'sasl';

export interface KafkaStackOptions {
  /** Folder for config, data, logs and the pid file. Default `<writ root>/.local/kafka`. */
  readonly home?: string;
  /** Folder of the broker jars. Default `<writ root>/.local/kafka/libs`, whatever `home` is. */
  readonly libs?: string;
  /** PLAINTEXT listener port. Default WRIT_KAFKA_PORT, else 27092. */
  readonly port?: number;
  /** CONTROLLER listener port. Default WRIT_KAFKA_CONTROLLER_PORT, else port + 1. */
  readonly controllerPort?: number;
  /** Environment to read (WRIT_KAFKA_BROKERS, WRIT_KAFKA_PORT, ...). Default process.env. */
  readonly env?: Env;
  /** How long a starting broker may take to answer a metadata request. Default 60 s. */
  readonly readyTimeoutMs?: number;
  /** Progress lines (formatting, starting, waiting). Default: silent. */
  readonly log?: (line: string) => void;
  /** Default WRIT_KAFKA_SECURITY, else DEFAULT_KAFKA_SECURITY. */
  readonly security?: KafkaSecurityMode;
  /**
   * A loopback JMX port for a broker this starts (unauthenticated: benchmarks only, to count the
   * requests it handles with deploy/kafka/RequestCounts.java). Default none.
   */
  readonly jmxPort?: number;
}

/** Everything decided before touching the disk or the network. */
export interface KafkaSettings {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly controllerPort: number;
  /** Set when WRIT_KAFKA_BROKERS names a cluster: nothing local is started or stopped then. */
  readonly externalBrokers: readonly string[] | undefined;
  readonly layout: KafkaLayout;
  readonly readyTimeoutMs: number;
  readonly log: (line: string) => void;
  readonly env: Env;
  readonly security: KafkaSecurityMode;
  /** The checkout (deploy/kafka/acls.json, ProvisionSecurity.java); '' when not needed. */
  readonly root: string;
  /** Loopback JMX port of a broker started here (benchmarks); undefined: no JMX. */
  readonly jmxPort: number | undefined;
}

export const DEFAULT_KAFKA_PORT = 27092;

export function kafkaLayout(home: string, libs: string): KafkaLayout {
  const configDir = join(home, 'config');
  const logsDir = join(home, 'logs');
  return {
    home,
    libs,
    configDir,
    serverProperties: join(configDir, 'server.properties'),
    log4jConfig: join(configDir, 'log4j2.properties'),
    dataDir: join(home, 'data'),
    logsDir,
    logFile: join(logsDir, 'server.log'),
    pidFile: join(home, 'kafka.pid'),
    ownerFile: join(home, 'kafka.owner'),
    lockFile: join(home, 'kafka.lock'),
    leasesDir: join(home, 'leases'),
    secretsDir: join(home, 'secrets'),
    securityPlan: join(configDir, 'security.plan'),
    securityApplied: join(home, 'security.applied'),
  };
}

export function resolveKafkaSettings(options: KafkaStackOptions = {}): KafkaSettings {
  const source = options.env ?? process.env;
  const { WRIT_KAFKA_PORT: envPort } = loadConfig({ WRIT_KAFKA_PORT: env.port({ default: DEFAULT_KAFKA_PORT }) }, source);
  const port = options.port ?? envPort;
  const { WRIT_KAFKA_CONTROLLER_PORT: envControllerPort } = loadConfig({ WRIT_KAFKA_CONTROLLER_PORT: env.port({ default: port + 1 }) }, source);
  const controllerPort = options.controllerPort ?? envControllerPort;
  if (controllerPort === port) {
    throw new WritError('CONFIG_INVALID', `the Kafka controller port must differ from the broker port ${port}`, {
      field: 'WRIT_KAFKA_CONTROLLER_PORT',
      rule: 'must differ from WRIT_KAFKA_PORT',
    });
  }
  const externalBrokers =
    (source['WRIT_KAFKA_BROKERS'] ?? '').trim() === '' ? undefined : loadConfig({ WRIT_KAFKA_BROKERS: env.hostPorts() }, source).WRIT_KAFKA_BROKERS;
  const { WRIT_KAFKA_SECURITY: envSecurity } = loadConfig(
    { WRIT_KAFKA_SECURITY: env.oneOf(['sasl', 'none'] as const, { default: DEFAULT_KAFKA_SECURITY }) },
    source,
  );
  const security = options.security ?? envSecurity;
  const needsRoot = options.home === undefined || options.libs === undefined || (security === 'sasl' && externalBrokers === undefined);
  const root = needsRoot ? writRoot(source) : '';
  const home = resolve(options.home ?? join(root, '.local', 'kafka'));
  const libs = resolve(options.libs ?? join(root, '.local', 'kafka', 'libs'));
  return {
    host: '127.0.0.1',
    port,
    controllerPort,
    externalBrokers,
    layout: kafkaLayout(home, libs),
    readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
    log: options.log ?? (() => undefined),
    env: source,
    security,
    root,
    jmxPort: options.jmxPort,
  };
}

export function localBrokers(settings: KafkaSettings): string[] {
  return [`${settings.host}:${settings.port}`];
}

/**
 * The checkout this code runs from: WRIT_ROOT when set (./dev sets it), else the nearest folder
 * above this file that holds deploy/local/toolchain.sh (works from src/ and from dist/).
 */
export function writRoot(source: Env = process.env): string {
  const fromEnv = source['WRIT_ROOT']?.trim();
  if (fromEnv) return resolve(fromEnv);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'deploy', 'local', 'toolchain.sh'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new WritError('WRIT_ROOT_UNKNOWN', 'cannot find the Writ checkout (no deploy/local/toolchain.sh above this file)', {
        field: 'WRIT_ROOT',
        rule: 'must point at the Writ checkout',
      });
    }
    dir = parent;
  }
}
