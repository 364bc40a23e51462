// The PDP's policy sets on the log: every instance follows writ.policysets.v1 from its beginning,
// folds its stream's publications (policy-service-core's policy-stream) and decides with the
// current set, switching without a restart. A publication is validated here before it goes on the
// log (Cedar's validator, the analysis checks, every decision case), so an invalid or untested set
// is never published; an instance that has no set, or cannot load the current one, fails closed.
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { EventConsumer, EventProducer, partitionEnds } from '@writ/bus';
import type { BusLogger } from '@writ/bus';
import { TOPICS, newMetadata } from '@writ/contracts';
import type { PolicySetPublished } from '@writ/contracts';
import { canonicalJson } from '@writ/crypto';
import { PLATFORM_TENANT } from '@writ/directory';
import { WritError, describeError } from '@writ/errors';
import {
  compilePolicySet,
  createDecisionPoint,
  failClosedDecisionPoint,
  readPolicyCases,
  readPolicySetSources,
  runPolicyCaseSources,
} from '@writ/policy-engine';
import type { DecisionPoint, HistoryFact, LoadedPolicySet, PolicyCaseReport, PolicyCaseSource, PolicyMode, PolicySetSources } from '@writ/policy-engine';
import { currentSet, emptyPolicyStream, foldPublication, publicationOf } from '@writ/policy-service-core';
import type { PolicyStreamState, PublicationOutcome } from '@writ/policy-service-core';

/** Most bytes of policy text, schema and cases one publication may carry (the event must stay well under Kafka's 1 MiB). */
export const MAX_PUBLICATION_BYTES = 512 * 1024;
const MAX_MESSAGE_CHARS = 2_000;
/** How long a publication may take to come back from the log before the door gives up waiting (it may still apply). */
const READ_BACK_MS = 15_000;
/** Outcomes kept by offset for read-backs that start waiting late. */
const RECENT_OUTCOMES = 256;

export interface PolicySetsOptions {
  readonly brokers: readonly string[];
  /** The service's consumer group: the follower's group is `<groupId>.sets.<random>` (every instance reads everything). */
  readonly groupId: string;
  readonly stream: string;
  /** The service's policy folder: published at boot as `bootstrap` says. */
  readonly bootstrapDir: string;
  /** empty: when the stream has no set; differs: whenever the folder differs from the current set; never. */
  readonly bootstrap: 'empty' | 'differs' | 'never';
  /** `policy@<version>` */
  readonly producer: string;
  /** Who a bootstrap publication names as its author. */
  readonly instance: string;
  readonly dlqTopic: string;
  readonly catchUpTimeoutMs: number;
  /** How much decision history the PDP keeps (WRIT_POLICY_HISTORY_HORIZON_MS): no history fact may look further back. */
  readonly historyHorizonMs: number;
  readonly logger: BusLogger;
}

/** What a door or the CLI shows of one publication. */
export interface PublicationSummary {
  readonly stream: string;
  readonly sequence: number;
  readonly policy_set_hash: string;
  readonly previous_hash: string | null;
  readonly version: string;
  readonly origin: PolicySetPublished['origin'];
  readonly author: string;
  readonly message: string;
  readonly published_at: string;
  readonly policies: number;
  readonly modes: Readonly<Record<string, PolicyMode>>;
}

export interface PublicationDetail extends PublicationSummary {
  readonly schema: string;
  readonly policies_text: Readonly<Record<string, string>>;
  readonly cases: readonly PolicyCaseSource[];
}

export interface PublishRequest {
  readonly sources: PolicySetSources;
  readonly cases: readonly PolicyCaseSource[];
  readonly message: string;
  readonly previousHash: string | null;
  readonly origin: PolicySetPublished['origin'];
  readonly author: string;
}

export interface PublishResult extends PublicationSummary {
  readonly cases: { readonly passed: number; readonly total: number };
  readonly uncovered_policies: readonly string[];
}

interface ReadBack {
  readonly offset: bigint;
  readonly resolve: (outcome: PublicationOutcome) => void;
}

export class PolicySets {
  readonly #options: PolicySetsOptions;
  readonly #state: PolicyStreamState;
  #point: DecisionPoint;
  readonly #compiled = new Map<string, LoadedPolicySet>();
  #producer: EventProducer | undefined;
  #consumer: EventConsumer | undefined;
  /** Offset of the last record of writ.policysets.v1 read (-1: none). */
  #seen = -1n;
  readonly #readBacks = new Set<ReadBack>();
  /** What became of the last records read, by offset: a publication read back before its door started waiting. */
  readonly #outcomes = new Map<bigint, PublicationOutcome>();
  /** One publication at a time per instance: its previous_hash is checked against a head no other publication of this instance is about to move. */
  #publishing: Promise<unknown> = Promise.resolve();
  #started: Promise<void> | undefined;

  constructor(options: PolicySetsOptions) {
    this.#options = options;
    this.#state = emptyPolicyStream(options.stream);
    this.#point = failClosedDecisionPoint(`no policy set is published for the policy stream "${options.stream}": every action is denied`);
  }

  /** The decision point of the stream's current set (fail-closed without one). */
  get decisionPoint(): DecisionPoint {
    return this.#point;
  }

  get stream(): string {
    return this.#options.stream;
  }

  /** Reads the stream to its end, then follows it; publishes the bootstrap folder if the stream has no set. Idempotent. */
  start(): Promise<void> {
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    const { brokers, groupId, logger } = this.#options;
    this.#producer = new EventProducer({ brokers, clientId: `${groupId}.sets.producer`, logger });
    await this.#producer.connect();
    const [end] = await partitionEnds(brokers, [TOPICS.policysets], `${groupId}.sets.offsets`);
    const last = BigInt((end?.end ?? 0) - 1);
    this.#consumer = new EventConsumer({
      brokers,
      groupId: `${groupId}.sets.${randomUUID()}`,
      topics: [TOPICS.policysets],
      fromBeginning: true,
      dlqTopic: this.#options.dlqTopic,
      commitIntervalMs: 1_000,
      logger,
      handler: (event, ctx) => {
        this.#read(event.type === 'PolicySetPublished' ? event.payload : undefined, BigInt(ctx.offset));
      },
    });
    await this.#consumer.start();
    const deadline = Date.now() + this.#options.catchUpTimeoutMs;
    while (this.#seen < last) {
      if (Date.now() > deadline) {
        throw new WritError('REPLAY_TIMEOUT', `writ.policysets.v1 not read to its end (offset ${last}) within ${this.#options.catchUpTimeoutMs} ms`, {
          retriable: true,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.#bootstrap();
  }

  async stop(): Promise<void> {
    await this.#consumer?.stop();
    await this.#producer?.disconnect();
  }

  #read(event: PolicySetPublished | undefined, offset: bigint): void {
    let outcome: PublicationOutcome = { applied: false, reason: 'not a policy set publication' };
    if (event !== undefined) {
      outcome = foldPublication(this.#state, event);
      if (outcome.applied) this.#install(event);
      else if (event.stream === this.#options.stream)
        this.#options.logger.warn('policy set publication not applied', { sequence: event.sequence, reason: outcome.reason });
    }
    this.#seen = offset;
    this.#outcomes.set(offset, outcome);
    if (this.#outcomes.size > RECENT_OUTCOMES) this.#outcomes.delete(this.#outcomes.keys().next().value as bigint);
    for (const readBack of this.#readBacks) {
      if (readBack.offset === offset) readBack.resolve(outcome);
      else if (readBack.offset < offset) readBack.resolve({ applied: false, reason: 'not found at its offset' });
      else continue;
      this.#readBacks.delete(readBack);
    }
  }

  #install(event: PolicySetPublished): void {
    try {
      const set = this.#compile(event);
      this.#point = createDecisionPoint(set);
      for (const fact of beyondHorizon(set, this.#options.historyHorizonMs)) {
        this.#options.logger.warn('a history fact looks further back than this instance keeps: it counts what the horizon holds', {
          fact: fact.name,
          within_ms: fact.withinMs,
          horizon_ms: this.#options.historyHorizonMs,
        });
      }
      this.#options.logger.info('policy set in force', {
        stream: event.stream,
        sequence: event.sequence,
        hash: event.policy_set_hash.slice(0, 12),
        version: event.version,
        origin: event.origin,
        author: event.author,
      });
    } catch (error) {
      // Validated before it was published, so this is an engine that reads it otherwise (an older
      // instance in a rolling upgrade): decide nothing with a set half understood.
      const reason = `the current policy set ${event.policy_set_hash.slice(0, 12)} (sequence ${event.sequence}) cannot be loaded here: ${describeError(error)}`;
      this.#point = failClosedDecisionPoint(`${reason}; every action is denied`);
      this.#options.logger.error('policy set not loaded: failing closed', { reason });
    }
  }

  #compile(event: PolicySetPublished): LoadedPolicySet {
    let set = this.#compiled.get(event.policy_set_hash);
    if (set === undefined) {
      set = compilePolicySet(setSourcesOf(event));
      this.#compiled.set(event.policy_set_hash, set);
    }
    return set;
  }

  /** Publishes the service's folder at boot when `bootstrap` says so (another instance may win the race; then its publication applies). */
  async #bootstrap(): Promise<void> {
    const { bootstrapDir, bootstrap, logger } = this.#options;
    const head = currentSet(this.#state);
    if (bootstrap === 'never') {
      if (head === undefined) logger.error('no policy set is published and WRIT_POLICY_BOOTSTRAP is never: every action is denied until one is', {});
      return;
    }
    const sources = await readPolicySetSources(bootstrapDir);
    const folder = compilePolicySet(sources);
    if (head !== undefined && folder.hash === head.policy_set_hash) return;
    if (head !== undefined && bootstrap === 'empty') {
      logger.warn("the policy folder differs from the stream's current set, which stays in force; publish the folder with `./dev writ policy publish <dir>`", {
        folder: bootstrapDir,
        folder_hash: folder.hash.slice(0, 12),
        current_hash: head.policy_set_hash.slice(0, 12),
        current_sequence: head.sequence,
      });
      return;
    }
    const cases = await readPolicyCases(join(bootstrapDir, 'cases')).catch(() => []);
    const message = head === undefined ? `first set of the stream, from ${bootstrapDir}` : `the folder ${bootstrapDir} at boot (WRIT_POLICY_BOOTSTRAP=differs)`;
    try {
      await this.publish({ sources, cases, message, previousHash: head?.policy_set_hash ?? null, origin: 'bootstrap', author: this.#options.instance });
    } catch (error) {
      if (!(error instanceof WritError && error.code === 'POLICY_SET_CONFLICT')) throw error;
      logger.info('another instance published a set of the stream meanwhile', {});
    }
  }

  /**
   * Validates a set (Cedar's validator, the analysis checks, every case: at least one, all
   * passing), publishes it if the stream's current set is still `previousHash`, and waits until it
   * is read back from the log: resolves once it is in force here, rejects POLICY_SET_CONFLICT if
   * another publication came first.
   */
  publish(request: PublishRequest): Promise<PublishResult> {
    const turn = this.#publishing.then(() => this.#publish(request));
    this.#publishing = turn.catch(() => undefined);
    return turn;
  }

  async #publish(request: PublishRequest): Promise<PublishResult> {
    const size =
      Buffer.byteLength(request.sources.schemaText) +
      Object.entries(request.sources.policies).reduce((sum, [id, text]) => sum + Buffer.byteLength(id) + Buffer.byteLength(text), 0) +
      request.cases.reduce((sum, c) => sum + Buffer.byteLength(c.file) + Buffer.byteLength(c.text), 0);
    if (size > MAX_PUBLICATION_BYTES) {
      throw new WritError('REQUEST_INVALID', `the policy set, schema and cases take ${size} bytes`, {
        field: 'policies',
        rule: `at most ${MAX_PUBLICATION_BYTES} bytes in all`,
      });
    }
    if (request.message.length > MAX_MESSAGE_CHARS) {
      throw new WritError('REQUEST_INVALID', `message has ${request.message.length} characters`, {
        field: 'message',
        rule: `at most ${MAX_MESSAGE_CHARS} characters`,
      });
    }
    const set = compilePolicySet(request.sources);
    const [tooLong] = beyondHorizon(set, this.#options.historyHorizonMs);
    if (tooLong !== undefined) {
      throw new WritError(
        'POLICY_SET_INVALID',
        `history fact "${tooLong.name}" looks back ${tooLong.withinMs} ms, further than the ${this.#options.historyHorizonMs} ms the PDP keeps`,
        {
          field: `@history ${tooLong.name}`,
          rule: `a window of at most WRIT_POLICY_HISTORY_HORIZON_MS (${this.#options.historyHorizonMs} ms)`,
        },
      );
    }
    const report = runPolicyCaseSources(request.cases, createDecisionPoint(set), Object.keys(set.policies));
    if (!report.passed) throw casesFailed(report);
    const head = currentSet(this.#state);
    const current = head?.policy_set_hash ?? null;
    if (request.previousHash !== current) {
      throw new WritError(
        'POLICY_SET_CONFLICT',
        `the stream's current set is ${current ?? 'none'}, not ${request.previousHash ?? 'none'}: someone published meanwhile`,
        {
          field: 'previous_hash',
          rule: "the hash of the stream's current set (null when it has none)",
          details: { current_hash: current },
        },
      );
    }
    if (set.hash === current) {
      throw new WritError('POLICY_SET_UNCHANGED', `the stream's current set already is ${set.hash}`, {
        field: 'policies',
        rule: 'must differ from the current set',
      });
    }
    const payload: PolicySetPublished = {
      meta: newMetadata({ tenant_id: PLATFORM_TENANT, run_id: `policy-set:${this.#options.stream}`, producer: this.#options.producer }),
      stream: this.#options.stream,
      sequence: (head?.sequence ?? 0) + 1,
      policy_set_hash: set.hash,
      previous_hash: current,
      version: set.version,
      origin: request.origin,
      author: request.author,
      message: request.message,
      schema_text: set.schemaText,
      policies: Object.keys(set.policies)
        .sort()
        .map((id) => ({ policy_id: id, text: set.policies[id] ?? '' })),
      cases_json: canonicalJson(request.cases.map((c) => ({ file: c.file, text: c.text }))),
    };
    this.#compiled.set(set.hash, set);
    const [sent] = await (this.#producer as EventProducer).send([{ type: 'PolicySetPublished', payload }]);
    const outcome = await this.#readBack(BigInt(sent?.offset ?? '-1'));
    if (!outcome.applied) {
      throw new WritError('POLICY_SET_CONFLICT', `the publication was not applied: ${outcome.reason}`, {
        field: 'previous_hash',
        rule: "the hash of the stream's current set",
        details: { current_hash: currentSet(this.#state)?.policy_set_hash ?? null },
      });
    }
    return { ...this.#summary(payload), cases: { passed: report.results.length, total: report.results.length }, uncovered_policies: report.uncoveredPolicies };
  }

  /** Publishes an earlier set of the stream again (origin rollback). */
  rollback(to: string, message: string, previousHash: string | null, author: string): Promise<PublishResult> {
    const earlier = publicationOf(this.#state, to);
    if (earlier === undefined)
      throw new WritError('NOT_FOUND', `no policy set ${to} was ever in force on the stream ${this.#options.stream}`, {
        field: 'to',
        rule: 'the hash of an earlier set of this stream',
      });
    return this.publish({ sources: setSourcesOf(earlier), cases: casesOf(earlier), message, previousHash, origin: 'rollback', author });
  }

  #readBack(offset: bigint): Promise<PublicationOutcome> {
    if (offset <= this.#seen) return Promise.resolve(this.#outcomes.get(offset) ?? { applied: false, reason: `offset ${offset} was read too long ago` });
    return new Promise<PublicationOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#readBacks.delete(readBack);
        reject(
          new WritError('POLICY_SET_PENDING', `published at offset ${offset} but not read back within ${READ_BACK_MS} ms: see GET /v1/policy-sets`, {
            retriable: true,
          }),
        );
      }, READ_BACK_MS);
      const readBack: ReadBack = {
        offset,
        resolve: (outcome) => {
          clearTimeout(timer);
          resolve(outcome);
        },
      };
      this.#readBacks.add(readBack);
    });
  }

  #summary(event: PolicySetPublished): PublicationSummary {
    let modes: Record<string, PolicyMode> = {};
    try {
      modes = Object.fromEntries(Object.values(this.#compile(event).metadata).map((m) => [m.id, m.mode]));
    } catch {
      // (a set this engine cannot load: listed without modes)
    }
    return {
      stream: event.stream,
      sequence: event.sequence,
      policy_set_hash: event.policy_set_hash,
      previous_hash: event.previous_hash,
      version: event.version,
      origin: event.origin,
      author: event.author,
      message: event.message,
      published_at: new Date(event.meta.occurred_at).toISOString(),
      policies: event.policies.length,
      modes,
    };
  }

  /** The stream's current set and every applied publication, oldest first. */
  history(): { readonly stream: string; readonly current: PublicationSummary | null; readonly history: PublicationSummary[] } {
    const head = currentSet(this.#state);
    return {
      stream: this.#options.stream,
      current: head === undefined ? null : this.#summary(head),
      history: this.#state.applied.map((p) => this.#summary(p)),
    };
  }

  /** One set in full, by its hash (its latest publication). */
  detail(hash: string): PublicationDetail {
    const event = publicationOf(this.#state, hash);
    if (event === undefined)
      throw new WritError('NOT_FOUND', `no policy set ${hash} on the stream ${this.#options.stream}`, {
        field: 'hash',
        rule: 'the hash of a set of this stream',
      });
    const sources = setSourcesOf(event);
    const cases = casesOf(event);
    return { ...this.#summary(event), schema: sources.schemaText, policies_text: sources.policies, cases };
  }
}

/** The set's history facts whose window is longer than the horizon the PDP keeps. */
function beyondHorizon(set: LoadedPolicySet, horizonMs: number): HistoryFact[] {
  return set.history.filter((fact) => fact.withinMs > horizonMs);
}

/** The policy set a publication carries, as the compiler reads it. */
function setSourcesOf(event: PolicySetPublished): PolicySetSources {
  return { schemaText: event.schema_text, policies: Object.fromEntries(event.policies.map((p) => [p.policy_id, p.text])), version: event.version };
}

/** The decision cases a publication passed when it was published. */
function casesOf(event: PolicySetPublished): PolicyCaseSource[] {
  return JSON.parse(event.cases_json) as PolicyCaseSource[];
}

function casesFailed(report: PolicyCaseReport): WritError {
  const failed = report.results.filter((r) => !r.passed);
  if (report.results.length === 0) {
    return new WritError('POLICY_CASES_FAILED', 'the set has no decision cases: a set is published with the cases it passes', {
      field: 'cases',
      rule: 'at least one case (allow/, deny/ or approval/ *.json), every one passing',
      details: { results: [] },
    });
  }
  const lines = failed.map((r) => `  ${r.file}: ${r.problems.join('; ')}`);
  return new WritError('POLICY_CASES_FAILED', `${failed.length} of ${report.results.length} decision cases fail:\n${lines.join('\n')}`, {
    field: `cases.${failed[0]?.file ?? ''}`,
    rule: failed[0]?.problems[0] ?? 'every case passes',
    details: { results: failed.map((r) => ({ file: r.file, description: r.description, problems: r.problems })) },
  });
}
