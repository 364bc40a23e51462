import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import kafkaJavascript from '@confluentinc/kafka-javascript';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { WritError, describeError } from '@writ/errors';
import { describeTopicConfigs } from './describe-configs.ts';
import type { TopicConfigs } from './describe-configs.ts';
import { connectionSasl, createKafka } from './kafka.ts';

const { ErrorCodes } = kafkaJavascript.KafkaJS;

/** One topic as the topology file declares it (defaults filled in). */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly configs: Readonly<Record<string, string>>;
  readonly description?: string;
}

export interface ConsumerGroupSpec {
  readonly id: string;
  readonly dlq: string;
}

export interface Topology {
  readonly topics: readonly TopicSpec[];
  readonly consumerGroups: readonly ConsumerGroupSpec[];
}

/** deploy/kafka/topology.json of this checkout (the same relative place from src/ and dist/). */
export const DEFAULT_TOPOLOGY_PATH = fileURLToPath(new URL('../../../deploy/kafka/topology.json', import.meta.url));

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
const CLEANUP_POLICIES = new Set(['delete', 'compact', 'compact,delete', 'delete,compact']);

function invalid(source: string, field: string, rule: string, got?: unknown): WritError {
  const shown = got === undefined ? '' : `, got ${JSON.stringify(got)}`;
  return new WritError('TOPOLOGY_INVALID', `${source}: ${field} ${rule}${shown}`, { field, rule });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(source: string, field: string, value: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw invalid(source, field === '' ? key : `${field}.${key}`, `is not a known field (known: ${allowed.join(', ')})`);
    }
  }
}

function positiveInt(source: string, field: string, value: unknown, fallback: number | undefined): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw invalid(source, field, 'must be a whole number >= 1', v);
  return v;
}

function checkConfig(source: string, field: string, key: string, value: string): void {
  if (key === 'cleanup.policy' && !CLEANUP_POLICIES.has(value)) {
    throw invalid(source, field, `must be one of ${[...CLEANUP_POLICIES].join(' | ')}`, value);
  }
  if ((key === 'retention.ms' || key === 'retention.bytes') && !/^-?\d+$/.test(value)) {
    throw invalid(source, field, 'must be a whole number as a string (-1 = forever)', value);
  }
  if ((key === 'retention.ms' || key === 'retention.bytes') && Number(value) < -1) {
    throw invalid(source, field, 'must be -1 (forever) or more', value);
  }
}

/**
 * Checks a parsed topology document and fills defaults. Every error is a TOPOLOGY_INVALID naming
 * the offending field (`topics[2].partitions`) and the rule it broke.
 */
export function parseTopology(document: unknown, source = 'topology'): Topology {
  if (!isObject(document)) throw invalid(source, '(root)', 'must be a JSON object');
  checkKeys(source, '', document, ['$comment', 'description', 'defaults', 'topics', 'consumerGroups']);
  const defaults = document['defaults'] ?? {};
  if (!isObject(defaults)) throw invalid(source, 'defaults', 'must be an object');
  checkKeys(source, 'defaults', defaults, ['partitions', 'replicationFactor']);
  const defaultPartitions = positiveInt(source, 'defaults.partitions', defaults['partitions'], 1);
  const defaultReplication = positiveInt(source, 'defaults.replicationFactor', defaults['replicationFactor'], 1);

  const rawTopics = document['topics'];
  if (!Array.isArray(rawTopics) || rawTopics.length === 0) throw invalid(source, 'topics', 'must be a non-empty array');
  const names = new Set<string>();
  const topics = rawTopics.map((raw: unknown, i): TopicSpec => {
    const at = `topics[${i}]`;
    if (!isObject(raw)) throw invalid(source, at, 'must be an object');
    checkKeys(source, at, raw, ['name', 'description', 'partitions', 'replicationFactor', 'configs']);
    const name = raw['name'];
    if (typeof name !== 'string' || !TOPIC_NAME.test(name)) {
      throw invalid(source, `${at}.name`, 'must be 1-249 characters of letters, digits, ".", "_" or "-"', name);
    }
    if (names.has(name)) throw invalid(source, `${at}.name`, 'must be unique', name);
    names.add(name);
    const description = raw['description'];
    if (description !== undefined && typeof description !== 'string') {
      throw invalid(source, `${at}.description`, 'must be a string');
    }
    const rawConfigs = raw['configs'] ?? {};
    if (!isObject(rawConfigs)) throw invalid(source, `${at}.configs`, 'must be an object of string values');
    const configs: Record<string, string> = {};
    for (const [key, value] of Object.entries(rawConfigs)) {
      const field = `${at}.configs.${key}`;
      if (typeof value !== 'string') throw invalid(source, field, 'must be a string (Kafka configs are strings)', value);
      checkConfig(source, field, key, value);
      configs[key] = value;
    }
    return {
      name,
      partitions: positiveInt(source, `${at}.partitions`, raw['partitions'], defaultPartitions),
      replicationFactor: positiveInt(source, `${at}.replicationFactor`, raw['replicationFactor'], defaultReplication),
      configs,
      ...(description === undefined ? {} : { description }),
    };
  });

  const rawGroups = document['consumerGroups'] ?? [];
  if (!Array.isArray(rawGroups)) throw invalid(source, 'consumerGroups', 'must be an array');
  const groupIds = new Set<string>();
  const consumerGroups = rawGroups.map((raw: unknown, i): ConsumerGroupSpec => {
    const at = `consumerGroups[${i}]`;
    if (!isObject(raw)) throw invalid(source, at, 'must be an object');
    checkKeys(source, at, raw, ['id', 'dlq', 'description']);
    const id = raw['id'];
    if (typeof id !== 'string' || id === '') throw invalid(source, `${at}.id`, 'must be a non-empty string', id);
    if (groupIds.has(id)) throw invalid(source, `${at}.id`, 'must be unique', id);
    groupIds.add(id);
    const dlq = raw['dlq'] ?? `${id}.dlq`;
    if (typeof dlq !== 'string' || !names.has(dlq)) {
      throw invalid(source, `${at}.dlq`, 'must name a topic declared in topics', dlq);
    }
    return { id, dlq };
  });
  return { topics, consumerGroups };
}

/** Reads and validates a topology file (default: deploy/kafka/topology.json). */
export async function loadTopology(path: string = DEFAULT_TOPOLOGY_PATH): Promise<Topology> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new WritError('TOPOLOGY_INVALID', `cannot read topology file ${path}: ${describeError(error)}`, {
      field: 'path',
      rule: 'must name a readable file',
      cause: error,
    });
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new WritError('TOPOLOGY_INVALID', `${path} is not valid JSON: ${describeError(error)}`, {
      field: '(root)',
      rule: 'must be valid JSON',
      cause: error,
    });
  }
  return parseTopology(document, path);
}

export interface TopicDrift {
  /** `partitions`, `replicationFactor` or `configs.<key>`. */
  readonly field: string;
  readonly declared: string;
  readonly actual: string;
}

export type TopicStatus = 'created' | 'unchanged' | 'drifted';

export interface TopicReport {
  readonly name: string;
  readonly status: TopicStatus;
  readonly drift: readonly TopicDrift[];
}

export interface TopologyReport {
  readonly topics: readonly TopicReport[];
  readonly created: readonly string[];
  readonly unchanged: readonly string[];
  readonly drifted: readonly string[];
  /** False when topic configs could not be read: then only partitions/replication were compared. */
  readonly configsChecked: boolean;
  readonly configsNote?: string;
}

/** What the cluster has for one existing topic. */
export interface ObservedTopic {
  readonly partitions: number;
  readonly replicationFactor: number;
  /** Effective configs, when they could be read. */
  readonly configs?: TopicConfigs;
}

function normalizeValue(key: string, value: string | null): string {
  if (value === null) return '(null)';
  if (key === 'cleanup.policy')
    return value
      .split(',')
      .map((s) => s.trim())
      .sort()
      .join(',');
  return value;
}

/** Differences between what `spec` declares and what the cluster has (empty: in line). */
export function topicDrift(spec: TopicSpec, observed: ObservedTopic): TopicDrift[] {
  const drift: TopicDrift[] = [];
  if (observed.partitions !== spec.partitions) {
    drift.push({ field: 'partitions', declared: String(spec.partitions), actual: String(observed.partitions) });
  }
  if (observed.replicationFactor !== spec.replicationFactor) {
    drift.push({
      field: 'replicationFactor',
      declared: String(spec.replicationFactor),
      actual: String(observed.replicationFactor),
    });
  }
  if (observed.configs !== undefined) {
    for (const [key, declared] of Object.entries(spec.configs)) {
      const actual = observed.configs.get(key);
      const actualValue = actual === undefined ? '(unknown key)' : normalizeValue(key, actual.value);
      if (actualValue !== normalizeValue(key, declared)) {
        drift.push({ field: `configs.${key}`, declared, actual: actualValue });
      }
    }
    for (const [key, entry] of observed.configs) {
      if (entry.source === 'topic' && !(key in spec.configs)) {
        drift.push({ field: `configs.${key}`, declared: '(not declared)', actual: normalizeValue(key, entry.value) });
      }
    }
  }
  return drift;
}

export interface ApplyTopologyOptions {
  readonly timeoutMs?: number;
  /** Replaces every topic's replication factor (e.g. 3 on a production cluster). */
  readonly replicationFactor?: number;
}

function withReplication(topology: Topology, replicationFactor: number | undefined): Topology {
  if (replicationFactor === undefined) return topology;
  return { ...topology, topics: topology.topics.map((t) => ({ ...t, replicationFactor })) };
}

async function observe(
  admin: KafkaJS.Admin,
  brokers: readonly string[],
  names: readonly string[],
  timeoutMs: number,
): Promise<{ observed: Map<string, ObservedTopic>; configsChecked: boolean; configsNote?: string }> {
  const observed = new Map<string, ObservedTopic>();
  if (names.length === 0) return { observed, configsChecked: true };
  const metadata = await topicMetadata(admin, names, timeoutMs);
  let configs: Map<string, TopicConfigs> | undefined;
  let configsNote: string | undefined;
  try {
    const sasl = connectionSasl({});
    configs = await describeTopicConfigs(brokers, names, { timeoutMs, ...(sasl === undefined ? {} : { sasl }) });
  } catch (error) {
    configsNote = `topic configs not compared: ${describeError(error)}`;
  }
  for (const topic of metadata) {
    const topicConfigs = configs?.get(topic.name);
    observed.set(topic.name, {
      partitions: topic.partitions.length,
      replicationFactor: Math.max(0, ...topic.partitions.map((p) => p.replicas.length)),
      ...(topicConfigs === undefined ? {} : { configs: topicConfigs }),
    });
  }
  return { observed, configsChecked: configs !== undefined, ...(configsNote === undefined ? {} : { configsNote }) };
}

/**
 * Metadata of topics that exist, waiting out the moment after a creation when the controller
 * knows a topic but the broker answering still says "unknown topic".
 */
export async function topicMetadata(admin: KafkaJS.Admin, names: readonly string[], timeoutMs: number): Promise<KafkaJS.ITopicMetadata[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await admin.fetchTopicMetadata({ topics: [...names], timeout: timeoutMs });
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (code !== ErrorCodes.ERR_UNKNOWN_TOPIC_OR_PART || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function isAlreadyExists(error: unknown): boolean {
  const errors = (error as { errors?: unknown[] } | null)?.errors;
  const all = Array.isArray(errors) && errors.length > 0 ? errors : [error];
  return all.every((e) => /already exists/i.test(describeError(e)) || (e as { type?: unknown })?.type === 'TOPIC_ALREADY_EXISTS');
}

/**
 * Creates the declared topics the cluster lacks and reports every other one as unchanged or
 * drifted (partitions, replication factor, configs). It never alters an existing topic: adding
 * partitions remaps keys and changing retention can lose audit data, so drift is for a human.
 */
export async function applyTopology(brokers: readonly string[], topology?: Topology, options: ApplyTopologyOptions = {}): Promise<TopologyReport> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const wanted = withReplication(topology ?? (await loadTopology()), options.replicationFactor);
  const admin = createKafka({ brokers, clientId: 'writ-topology' }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics({ timeout: timeoutMs }));
    const missing = wanted.topics.filter((t) => !existing.has(t.name));
    const created = new Set<string>();
    for (const spec of missing) {
      try {
        // Resolves false (rather than failing) when the topic exists after all: another
        // provisioner won a race, or the broker's metadata lagged the controller.
        const createdNow = await admin.createTopics({
          timeout: timeoutMs,
          topics: [
            {
              topic: spec.name,
              numPartitions: spec.partitions,
              replicationFactor: spec.replicationFactor,
              configEntries: Object.entries(spec.configs).map(([name, value]) => ({ name, value })),
            },
          ],
        });
        if (createdNow) created.add(spec.name);
      } catch (error) {
        // Same race, reported as an error: the topic is compared like any existing one.
        if (!isAlreadyExists(error)) throw error;
      }
    }
    // The controller has them; wait until the broker's metadata does too, so that whoever looks
    // next (a service, the next apply) sees them.
    if (created.size > 0) await topicMetadata(admin, [...created], timeoutMs);
    const toCompare = wanted.topics.filter((t) => !created.has(t.name)).map((t) => t.name);
    const { observed, configsChecked, configsNote } = await observe(admin, brokers, toCompare, timeoutMs);
    // Missing when we looked, present now: created by this apply (a retried request answers
    // "already exists") or by a concurrent one. As declared, that is "created"; otherwise drift.
    const appeared = new Set(missing.map((t) => t.name));
    const topics = wanted.topics.map((spec): TopicReport => {
      if (created.has(spec.name)) return { name: spec.name, status: 'created', drift: [] };
      const seen = observed.get(spec.name);
      if (seen === undefined) {
        return {
          name: spec.name,
          status: 'drifted',
          drift: [{ field: 'existence', declared: 'exists', actual: 'no metadata' }],
        };
      }
      const drift = topicDrift(spec, seen);
      if (drift.length > 0) return { name: spec.name, status: 'drifted', drift };
      return { name: spec.name, status: appeared.has(spec.name) ? 'created' : 'unchanged', drift };
    });
    const by = (status: TopicStatus): string[] => topics.filter((t) => t.status === status).map((t) => t.name);
    return {
      topics,
      created: by('created'),
      unchanged: by('unchanged'),
      drifted: by('drifted'),
      configsChecked,
      ...(configsNote === undefined ? {} : { configsNote }),
    };
  } catch (error) {
    throw new WritError('TOPOLOGY_APPLY_FAILED', `cannot apply the topology: ${describeError(error)}`, {
      retriable: true,
      cause: error,
    });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The report as lines for a terminal or a log. */
export function formatTopologyReport(report: TopologyReport): string {
  const lines = report.topics.map((t) => {
    const detail = t.drift.map((d) => `${d.field}: declared ${d.declared}, actual ${d.actual}`).join('; ');
    return `${t.status.padEnd(9)} ${t.name}${detail === '' ? '' : `  (${detail})`}`;
  });
  lines.push(
    `${report.created.length} created, ${report.unchanged.length} unchanged, ${report.drifted.length} drifted` +
      (report.configsChecked ? '' : ` — ${report.configsNote ?? 'configs not compared'}`),
  );
  return lines.join('\n');
}
