// The Kafka door (docs/kafka-door.md) against the real stack and the real SASL broker with its ACLs,
// driven by a client Writ did not write: Kafka's Python client (confluent-kafka) and fastavro with the
// .avsc files of schemas/_door (test/e2e/kafka-door/door_agent.py, in a virtualenv cached under
// .local/kafka-door). acme's triage-bot proposes as its own principal (agent-acme-triage-bot) and reads
// its outcomes; the hostile cases: another tenant's run, a record with a writer schema naming a tenant
// and an agent, garbage bytes (rejected and dead-lettered), a tool contract failure (rejected naming the
// field and the rule, no ActionProposed, no run), another agent's topics and Writ's own (refused by the broker).
// Durability: a refund held for approval is told `held`, the gateway restarts before anyone approves,
// and the agent still gets its end (the door's committed offset had not passed the proposal).
import { execFile, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Interface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replayCommitted } from '@writ/bus';
import { actionIdFor } from '@writ/contracts';
import type { WritClient } from '@writ/sdk';
import { testKafkaBrokers } from '@writ/testing';
import { doorRunId } from '../../services/gateway/src/kafka-door/translate.ts';
import { callsAtTool, helpdeskStats, refundArgs, root, startE2eStack, stopE2eStack } from './support.ts';
import type { E2eStack } from './support.ts';

const BASE_PORT = 27780;
const HERE = join(root, 'test', 'e2e', 'kafka-door');
const VENV = join(root, '.local', 'kafka-door', 'venv');
const SCHEMAS = join(root, 'schemas', '_door');
const ME = 'agent-acme-triage-bot';
const OTHER = 'agent-globex-bot';

function sh(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd: root, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(`${command} ${args.join(' ')}: ${error.message}\n${stderr}`)),
    );
  });
}

/** The virtualenv with the pinned confluent-kafka and fastavro: made once (PyPI), reused while requirements.txt is unchanged. */
async function agentVenv(): Promise<string> {
  const requirements = readFileSync(join(HERE, 'requirements.txt'), 'utf8');
  const stamp = join(VENV, 'writ-requirements.txt');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== requirements) {
    await sh('python3', ['-m', 'venv', '--clear', VENV]);
    await sh(join(VENV, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', '-r', join(HERE, 'requirements.txt')]);
    writeFileSync(stamp, requirements);
  }
  return join(VENV, 'bin', 'python');
}

type Answer = { ok?: boolean; error?: string; offset?: number; outcome?: Outcome; outcomes?: Outcome[]; [more: string]: unknown };
interface Outcome {
  kind: 'accepted' | 'rejected' | 'held' | 'ended';
  idempotency_key: string | null;
  run_id: string | null;
  action_id: string | null;
  status: string | null;
  reason: string | null;
  decision: string | null;
  determining_policies: string[];
  result: string | null;
  cost_micros: number | null;
  currency: string | null;
  error: { code: string; message: string; field: string | null; rule: string | null } | null;
  proposal_offset: number | null;
  approval: { policy_id: string; count: number; roles: string[]; reason: string | null; requested_at: number | null; expires_at: number | null } | null;
}

/** The Python agent process: one JSON command per line, one JSON answer per line. */
class PythonAgent {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #lines: Interface;
  readonly #answers: ((line: string) => void)[] = [];
  #stderr = '';

  constructor(python: string, principal: string) {
    const secrets = process.env['WRIT_KAFKA_SECRETS_DIR'];
    if (secrets === undefined) throw new Error('WRIT_KAFKA_SECRETS_DIR is not set: the e2e broker runs without SASL?');
    this.#child = spawn(python, [join(HERE, 'door_agent.py'), testKafkaBrokers().join(','), principal, join(secrets, `${principal}.password`), SCHEMAS]);
    this.#child.stderr.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
    this.#lines = createInterface({ input: this.#child.stdout });
    this.#lines.on('line', (line) => this.#answers.shift()?.(line));
  }

  ready(): Promise<Answer> {
    return this.#next();
  }

  #next(): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const exited = (): void => reject(new Error(`the Python agent exited:\n${this.#stderr}`));
      this.#child.once('exit', exited);
      this.#answers.push((line) => {
        this.#child.off('exit', exited);
        resolve(JSON.parse(line) as Answer);
      });
    });
  }

  send(command: Record<string, unknown>): Promise<Answer> {
    if (this.#child.exitCode !== null) return Promise.reject(new Error(`the Python agent exited:\n${this.#stderr}`));
    const answer = this.#next();
    this.#child.stdin.write(`${JSON.stringify(command)}\n`);
    return answer;
  }

  stop(): void {
    this.#child.stdin.end();
    this.#child.kill();
  }
}

let e2e: E2eStack;
let agent: PythonAgent;

beforeAll(async () => {
  const python = agentVenv();
  python.catch(() => undefined);
  e2e = await startE2eStack(BASE_PORT);
  agent = new PythonAgent(await python, ME);
  expect(await agent.ready()).toEqual({ ready: true });
}, 300_000);

afterAll(async () => {
  agent?.stop();
  await stopE2eStack(e2e);
});

const key = () => `door-${randomUUID()}`;

function proposal(idempotencyKey: string, run: string | Record<string, unknown>, args: unknown, tool = 'refunds.issue', extra: Record<string, unknown> = {}) {
  return {
    idempotency_key: idempotencyKey,
    run,
    tool,
    tool_version: null,
    arguments: JSON.stringify(args),
    reason: 'customer was charged twice',
    provenance: null,
    ...extra,
  };
}

/**
 * Publishes a proposal until it is answered: the door's group starts at the end of the topic the
 * first time it is assigned, so the very first records may come before it listens. Re-sending with
 * the same idempotency key is the documented way to recover a lost answer (the same action).
 */
async function propose(record: Record<string, unknown>, expected: 'accepted' | 'rejected'): Promise<Outcome> {
  const idempotencyKey = String(record['idempotency_key']);
  for (let attempt = 0; attempt < 12; attempt += 1) {
    expect(await agent.send({ op: 'propose', record })).toMatchObject({ ok: true });
    const answer = await agent.send({ op: 'await', idempotency_key: idempotencyKey, kind: expected, timeout: 5 });
    if (answer.outcome !== undefined) return answer.outcome;
  }
  throw new Error(`no ${expected} outcome for ${idempotencyKey}`);
}

async function awaitEnd(idempotencyKey: string): Promise<Outcome> {
  const answer = await agent.send({ op: 'await', idempotency_key: idempotencyKey, kind: 'ended', timeout: 45 });
  expect(answer.error, JSON.stringify(answer)).toBeUndefined();
  return answer.outcome as Outcome;
}

/** HTTP status of GET path as acme's (or another) agent: 404 is "nothing was emitted" (the gateway reads every proposal). */
async function statusOf(path: string, client: WritClient = e2e.agent): Promise<number> {
  try {
    await client.request('GET', path);
    return 200;
  } catch (error) {
    return Number((error as { details?: { status?: number } }).details?.status ?? 0);
  }
}

describe('the Kafka door, with a Python client on its own principal', () => {
  let runId = '';

  it('opens a run and proposes as the principal, reads acceptance and the terminal outcome; a repeat is the same action, executed once', async () => {
    const idempotencyKey = key();
    const record = proposal(idempotencyKey, { goal: 'kafka door e2e', mode: null, limits: null }, refundArgs(2500));
    const acceptance = await propose(record, 'accepted');
    expect(acceptance).toMatchObject({ kind: 'accepted', idempotency_key: idempotencyKey, error: null });
    runId = acceptance.run_id ?? '';
    expect(runId).toBe(doorRunId('acme', 'triage-bot', idempotencyKey));
    expect(acceptance.action_id).toBe(actionIdFor('acme', runId, idempotencyKey));

    const end = await awaitEnd(idempotencyKey);
    expect(end).toMatchObject({ kind: 'ended', action_id: acceptance.action_id, run_id: runId, status: 'completed' });
    expect(end.result).toContain('card_last4');

    // Identity and tenant are the principal's, as the HTTP door sees the action.
    const action = await e2e.agent.action(acceptance.action_id ?? '');
    expect(action).toMatchObject({ agent_id: 'triage-bot', tenant_id: 'acme', tool: 'refunds.issue', idempotency_key: idempotencyKey });
    expect(await statusOf(`/v1/actions/${acceptance.action_id ?? ''}`, e2e.otherTenantAgent)).toBe(404);

    // The same record again: the same run and action, answered again, and the refund was issued once.
    const resent = await agent.send({ op: 'propose', record });
    expect(resent).toMatchObject({ ok: true });
    const again = await agent.send({ op: 'await', idempotency_key: idempotencyKey, kind: 'ended', offset: resent.offset, timeout: 30 });
    expect(again.outcome).toMatchObject({ action_id: acceptance.action_id, run_id: runId, status: 'completed' });
    expect(callsAtTool(await helpdeskStats(e2e.stack), idempotencyKey)).toBe(1);
  });

  it('rejects a proposal that breaks the tool contract naming the field and the rule; nothing is emitted, no run is opened', async () => {
    const inRun = key();
    const bad = await propose(proposal(inRun, runId, { ...refundArgs(2500), amount_cents: 'ten' }), 'rejected');
    expect(bad.error).toMatchObject({ code: 'ARGUMENTS_INVALID', field: 'arguments.amount_cents', rule: 'type' });
    expect(bad.action_id).toBeNull();

    const opening = key();
    const badOpen = await propose(
      proposal(opening, { goal: 'never opened', mode: null, limits: null }, { ticket_id: 'T-1001', surprise: 1 }, 'tickets.get'),
      'rejected',
    );
    expect(badOpen.error).toMatchObject({ code: 'ARGUMENTS_INVALID', field: 'arguments.surprise', rule: 'additionalProperties' });

    const notJson = key();
    const garbled = await propose({ ...proposal(notJson, runId, {}), arguments: '{"amount_cents": ' }, 'rejected');
    expect(garbled.error).toMatchObject({ code: 'REQUEST_INVALID', field: 'arguments', rule: 'type' });

    const badMode = key();
    const mode = await propose(proposal(badMode, { goal: 'g', mode: 'turbo', limits: null }, { ticket_id: 'T-1001' }, 'tickets.get'), 'rejected');
    expect(mode.error).toMatchObject({ code: 'REQUEST_INVALID', field: 'run.mode', rule: 'enum' });

    const statuses = await Promise.all([
      statusOf(`/v1/actions/${actionIdFor('acme', runId, inRun)}`),
      statusOf(`/v1/actions/${actionIdFor('acme', runId, notJson)}`),
      statusOf(`/v1/runs/${doorRunId('acme', 'triage-bot', opening)}`),
      statusOf(`/v1/runs/${doorRunId('acme', 'triage-bot', badMode)}`),
    ]);
    expect(statuses).toEqual([404, 404, 404, 404]);
    expect(callsAtTool(await helpdeskStats(e2e.stack), inRun)).toBe(0);
  });

  it("ignores who a record claims to be: another tenant's run is not found, a writer schema naming a tenant and agent is refused", async () => {
    const globexRun = (await e2e.otherTenantAgent.openRun('globex run')).run_id;
    const intruding = key();
    const refused = await propose(proposal(intruding, globexRun, { ticket_id: 'T-1001' }, 'tickets.get'), 'rejected');
    expect(refused.error).toMatchObject({ code: 'RUN_NOT_FOUND' });
    expect(await statusOf(`/v1/actions/${actionIdFor('globex', globexRun, intruding)}`, e2e.otherTenantAgent)).toBe(404);

    // DoorProposal with tenant_id and agent_id added: not a released writer schema, so not read at all.
    const schema = JSON.parse(readFileSync(join(SCHEMAS, 'DoorProposal.v1.avsc'), 'utf8')) as { fields: unknown[] };
    schema.fields.push({ name: 'tenant_id', type: 'string' }, { name: 'agent_id', type: 'string' });
    const forged = await agent.send({
      op: 'forged',
      schema,
      record: { ...proposal(key(), globexRun, { ticket_id: 'T-1001' }, 'tickets.get'), tenant_id: 'globex', agent_id: 'globex-bot' },
    });
    expect(forged).toMatchObject({ ok: true });
    const answer = await agent.send({ op: 'await_offset', offset: forged.offset, timeout: 30 });
    expect(answer.outcome?.error).toMatchObject({ code: 'SCHEMA_UNKNOWN' });
  });

  it('dead-letters an undecodable record with its reason and tells the agent', async () => {
    const bytes = Buffer.concat([Buffer.from('not avro: '), randomBytes(16)]);
    const sent = await agent.send({ op: 'raw', hex: bytes.toString('hex') });
    expect(sent).toMatchObject({ ok: true });
    const answer = await agent.send({ op: 'await_offset', offset: sent.offset, timeout: 30 });
    expect(answer.outcome?.error).toMatchObject({ code: 'EVENT_UNDECODABLE' });
    let dead = 0;
    await replayCommitted(testKafkaBrokers(), ['writ.gateway.dlq'], (record) => {
      if (record.value?.equals(bytes) === true) dead += 1;
    });
    expect(dead).toBe(1);
  });

  it("is refused by the broker on another agent's topics and on Writ's own", async () => {
    const record = proposal(key(), runId, { ticket_id: 'T-1001' }, 'tickets.get');
    const writes = await Promise.all([
      agent.send({ op: 'propose', topic: `writ.door.${OTHER}.proposals.v1`, record }),
      agent.send({ op: 'propose', topic: `writ.door.${ME}.outcomes.v1`, record }),
      agent.send({ op: 'raw', topic: 'writ.proposals.v1', hex: '00' }),
    ]);
    for (const write of writes) expect(write).toMatchObject({ error: 'TOPIC_AUTHORIZATION_FAILED' });
    const reads = await Promise.all([
      agent.send({ op: 'read', topic: `writ.door.${OTHER}.outcomes.v1`, timeout: 10 }),
      agent.send({ op: 'read', topic: `writ.door.${OTHER}.proposals.v1`, timeout: 10 }),
      agent.send({ op: 'read', topic: `writ.door.${ME}.proposals.v1`, timeout: 10 }),
    ]);
    for (const read of reads) expect(read).toMatchObject({ error: 'TOPIC_AUTHORIZATION_FAILED' });
  });

  it('tells the agent a refund is held for approval; after a gateway restart before the approval, the agent still gets its end', async () => {
    const idempotencyKey = key();
    const record = proposal(idempotencyKey, { goal: 'kafka door restart e2e', mode: null, limits: null }, refundArgs(15_000, 'T-1005', 'C-505'));
    const acceptance = await propose(record, 'accepted');
    const actionId = acceptance.action_id ?? '';
    const hold = await agent.send({ op: 'await', idempotency_key: idempotencyKey, kind: 'held', timeout: 30 });
    expect(hold.outcome, JSON.stringify(hold)).toMatchObject({
      kind: 'held',
      action_id: actionId,
      status: 'awaiting_approval',
      decision: 'approval_required',
      determining_policies: ['refund-over-100-needs-manager-approval'],
      approval: { policy_id: 'refund-over-100-needs-manager-approval', count: 1, roles: ['manager'] },
    });
    const approval = hold.outcome?.approval;
    expect((approval?.expires_at ?? 0) - (approval?.requested_at ?? 0)).toBe(4 * 3_600_000);
    const before = await agent.send({ op: 'outcomes', idempotency_key: idempotencyKey, timeout: 1 });
    const acceptedBefore = (before.outcomes ?? []).filter((o) => o.kind === 'accepted').length;
    const heldBefore = (before.outcomes ?? []).filter((o) => o.kind === 'held').length;

    // The gateway that accepted it stops while the refund waits: its pending end dies with it.
    const gateway = e2e.stack.service('gateway');
    await gateway.stop();
    await gateway.start();

    // The restarted gateway reads the proposal again (its group's offset had not passed it): the same
    // action, accepted and held again (at least once), and its end is this instance's to tell now.
    const reread = await agent.send({ op: 'await', idempotency_key: idempotencyKey, kind: 'accepted', skip: acceptedBefore, timeout: 60 });
    expect(reread.outcome, JSON.stringify(reread)).toMatchObject({ action_id: actionId, proposal_offset: acceptance.proposal_offset });
    const heldAgain = await agent.send({ op: 'await', idempotency_key: idempotencyKey, kind: 'held', skip: heldBefore, timeout: 30 });
    expect(heldAgain.outcome).toMatchObject({ action_id: actionId, status: 'awaiting_approval' });
    expect(callsAtTool(await helpdeskStats(e2e.stack), idempotencyKey)).toBe(0);

    await e2e.manager.decide(actionId, 'approve', 'kafka door e2e: approved after the restart');
    const end = await awaitEnd(idempotencyKey);
    expect(end).toMatchObject({ kind: 'ended', action_id: actionId, status: 'completed', decision: 'allow' });
    expect(callsAtTool(await helpdeskStats(e2e.stack), idempotencyKey)).toBe(1);
  });
});
