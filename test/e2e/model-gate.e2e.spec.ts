// The model proxy's pipeline gate against the real stack: past what the pipeline carries within
// WRIT_MODEL_PIPELINE_TARGET_MS, a call is refused at once (429 MODEL_CALLS_EXCEEDED, Retry-After),
// before anything is parked or proposed, while the calls let in are answered. A stack of its own:
// the model proxy's suite holds its gateway to four calls at once, where the gate, whose floor is
// eight, never refuses first.
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simModel, simModelStack, startSimProvider } from './model-provider.ts';
import type { ProviderCall } from './model-provider.ts';
import { keyOf, startE2eStack, stopE2eStack } from './support.ts';
import type { E2eStack } from './support.ts';

const BASE_PORT = 27380;
/** The simulated provider: outside the stack's ports (base +0..+5, +10, +20.., +30..). */
const PROVIDER_PORT = BASE_PORT + 15;
const PROVIDER_KEY = 'sim-provider-key-gate-3c7e1a';
const DOOR_TOKEN = 'model-door-token-gate-e2e-6f0b2d';
/** The gate's floor (PIPELINE_MIN_CALLS in the gateway): it lets at least this many calls in at once. */
const GATE_FLOOR = 8;

let provider: Server;
let providerCalls: ProviderCall[];
let e2e: E2eStack;
let workDir: string;
let runId: string;

function chat(): Promise<Response> {
  return fetch(`${e2e.stack.gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${keyOf('triage-bot')}`, 'x-writ-run': runId },
    body: JSON.stringify({ model: 'sim-small', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 16 }),
  });
}

beforeAll(async () => {
  ({ server: provider, calls: providerCalls } = await startSimProvider(PROVIDER_PORT, PROVIDER_KEY));
  workDir = mkdtempSync(join(tmpdir(), 'writ-e2e-gate-'));
  // The model is a read tool of the registry: the repository's policies allow it to the triage agent.
  const models = simModelStack({
    workDir,
    basePort: BASE_PORT,
    providerPort: PROVIDER_PORT,
    providerKey: PROVIDER_KEY,
    doorToken: DOOR_TOKEN,
    models: { 'sim-small': simModel('small-1', 'small', { input: 150_000, output: 600_000 }) },
  });
  e2e = await startE2eStack(BASE_PORT, {
    // Every call takes longer than 1 ms to reach the provider: each one through lowers the gate, to its floor.
    WRIT_MODEL_PIPELINE_TARGET_MS: '1',
    ...models.env,
  });
  ({ run_id: runId } = await e2e.agent.openRun('answer with models under load', { max_steps: 200 }));
}, 180_000);

afterAll(async () => {
  await stopE2eStack(e2e);
  await new Promise((resolve) => provider?.close(resolve));
  if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
});

describe('the model proxy’s pipeline gate', () => {
  it('refuses the calls past what the pipeline carries within its target at once, naming the rule, and answers those it let in', async () => {
    // One at a time, each slower than the 1 ms target: the gate halves its limit per call, from
    // WRIT_MODEL_MAX_IN_FLIGHT (256) to its floor.
    for (let i = 0; i < 6; i += 1) expect((await chat()).status).toBe(200);
    const calledBefore = providerCalls.length;
    const offered = 3 * GATE_FLOOR;
    const responses = await Promise.all(Array.from({ length: offered }, () => chat()));
    const bodies = await Promise.all(
      responses.map(async (response) => ({
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        actionId: response.headers.get('x-writ-action-id'),
        body: (await response.json()) as { error?: { code?: string; rule?: string } },
      })),
    );
    const answered = bodies.filter((b) => b.status === 200);
    const refused = bodies.filter((b) => b.status === 429);
    // Nothing else: a call is either let in and answered, or refused at once.
    expect(answered.length + refused.length).toBe(offered);
    // The floor's worth at least went through; calls past the gate's limit were refused.
    expect(answered.length).toBeGreaterThanOrEqual(GATE_FLOOR);
    expect(refused.length).toBeGreaterThan(0);
    for (const refusal of refused) {
      expect(refusal.retryAfter).toBe('1');
      // Refused before anything was proposed: no action.
      expect(refusal.actionId).toBeNull();
      // The gate's rule, not the gateway's or the agent's cap (256 and 64 here).
      expect(refusal.body.error).toMatchObject({ code: 'MODEL_CALLS_EXCEEDED', rule: expect.stringContaining('WRIT_MODEL_PIPELINE_TARGET_MS') as unknown });
    }
    // Only the calls let in reached the provider.
    expect(providerCalls.length - calledBefore).toBe(answered.length);
  });
});
