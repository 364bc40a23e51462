// The operator console in a real browser (Debian's Chromium driven by playwright-core, no browser
// download) against the real stack: the gateway serves the Vite bundle under /console. People sign
// in with their API key; an approver approves a held refund and sees it run on the timeline, an
// operator pulls a kill switch and the next call is refused, an analyst sees the spend chart grow,
// an auditor sees the chain; an agent's key and a wrong key cannot sign in. Screenshots of each
// view land in .local/test-reports/console/.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@writ/testing';
import { keyOf, refundArgs, root, startE2eStack, stopE2eStack } from './support.ts';
import type { E2eStack } from './support.ts';

const SHOTS = join(root, '.local', 'test-reports', 'console');
/** Where the console links traces (never followed here: the link's address is what is checked). */
const TRACE_URL = 'https://tempo.example/trace/{trace_id}';
/** The flags the machine's probe used: no sandbox (root), no GPU, nothing phoning home on this closed network. */
const CHROMIUM_ARGS = ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let e2e: E2eStack;
let browser: Browser;
let consoleUrl: string;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  e2e = await startE2eStack(26980, { WRIT_CONSOLE_TRACE_URL: TRACE_URL });
  consoleUrl = `${e2e.stack.gatewayUrl}/console`;
  // headless and --no-sandbox come from the launch options; Playwright gives each launch a new empty profile.
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, chromiumSandbox: false, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await stopE2eStack(e2e);
});

async function signIn(who: string, key = keyOf(who)): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(consoleUrl);
  await page.getByLabel('Your API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  return page;
}

async function signedIn(who: string): Promise<Page> {
  const page = await signIn(who);
  await page.getByTestId('who').waitFor({ timeout: 15_000 });
  expect(page.url()).not.toContain(keyOf(who));
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

describe('the operator console', () => {
  it('refuses the live stream without a key, with an agent’s key, and carries another tenant nothing of acme', async () => {
    const stream = (who?: string) =>
      fetch(`${e2e.stack.gatewayUrl}/v1/console/stream`, { headers: who === undefined ? {} : { authorization: `Bearer ${keyOf(who)}` } });
    expect((await stream()).status).toBe(401);
    const agent = await stream('triage-bot');
    expect(agent.status).toBe(403);
    expect(await agent.json()).toMatchObject({ error: { code: 'FORBIDDEN', field: 'authorization' } });

    // gina approves for globex; dana for acme. An acme proposal reaches dana's stream, never gina's.
    const reader = async (who: string) => {
      const response = await stream(who);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/event-stream');
      const body = response.body?.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      const pump = (async () => {
        for (;;) {
          const chunk = await body?.read();
          if (chunk === undefined || chunk.done) return;
          text += chunk.value;
        }
      })().catch(() => undefined);
      return {
        text: () => text,
        close: async () => {
          await body?.cancel();
          await pump;
        },
      };
    };
    const acme = await reader('dana');
    const globex = await reader('gina');
    try {
      await waitFor(() => acme.text().includes('event: ready') && globex.text().includes('event: ready'), { timeoutMs: 10_000, what: 'both streams ready' });
      const { run_id: run } = await e2e.agent.openRun('console e2e: streamed to acme only');
      const { action_id } = await e2e.agent.propose(run, {
        tool: 'refunds.issue',
        arguments: refundArgs(30_000),
        reason: 'held',
        idempotency_key: randomUUID(),
      });
      await waitFor(() => acme.text().includes(run) && acme.text().includes('event: approvals'), {
        timeoutMs: 20_000,
        what: 'acme’s stream to tell of the run',
      });
      // Not left in the inbox (the next case approves the first request with a key press).
      await e2e.manager.decide(action_id, 'deny', 'console e2e: streamed');
      expect((await e2e.agent.outcome(action_id, 30_000)).status).toBe('denied');
      // A globex run afterwards: once gina's stream tells of it, everything before it was sent too.
      const { run_id: theirs } = await e2e.otherTenantAgent.openRun('console e2e: globex’s own');
      await waitFor(() => globex.text().includes(theirs), { timeoutMs: 20_000, what: 'globex’s stream to tell of its own run' });
      expect(globex.text()).not.toContain(run);
      expect(globex.text()).not.toContain('event: approvals');
    } finally {
      await acme.close();
      await globex.close();
    }
  });

  it('is served as a bundle with a strict CSP, and only people sign in: an agent’s key is 403, a wrong key 401', async () => {
    const page = await browser.newPage();
    const response = await page.goto(consoleUrl);
    expect(response?.status()).toBe(200);
    const csp = response?.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const script = await page.locator('script[type=module]').getAttribute('src');
    const asset = await fetch(`${e2e.stack.gatewayUrl}${script ?? ''}`);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await page.locator('script:not([src])').count()).toBe(0);
    // First paint, printed (a figure for docs, not an assertion).
    const paint = await page.evaluate(() => performance.getEntriesByType('paint').map((entry) => `${entry.name} ${entry.startTime.toFixed(0)} ms`));
    console.log(`[console] first paint of /console: ${paint.join(', ')}`);
    await shot(page, '0-login');
    await page.close();

    const agentSession = await fetch(`${e2e.stack.gatewayUrl}/v1/console/session`, { headers: { authorization: `Bearer ${keyOf('triage-bot')}` } });
    expect(agentSession.status).toBe(403);
    const agent = await signIn('triage-bot');
    await expect.poll(() => agent.getByRole('alert').textContent(), { timeout: 10_000 }).toContain('the console is for people');
    expect(await agent.getByTestId('who').count()).toBe(0);
    expect(await agent.evaluate(() => sessionStorage.length)).toBe(0);
    await agent.close();

    const wrong = await signIn('nobody', `wk_wrong_${randomUUID()}`);
    await expect.poll(() => wrong.getByRole('alert').textContent(), { timeout: 10_000 }).toContain('not known');
    await wrong.close();
  });

  it('lets an approver see a held refund arrive live, approve it with the keyboard and see it execute on the run’s timeline, with its trace', async () => {
    // The inbox is open and on the live stream before the refund is proposed: it arrives without a reload.
    const page = await signedIn('maria');
    const live = page.getByTestId('live');
    await live.and(page.locator('[data-live="live"]')).waitFor({ timeout: 15_000 });
    const eventsBefore = Number(await live.getAttribute('data-events'));
    const url = page.url();
    const { run_id: run } = await e2e.agent.openRun('console e2e: a large refund');
    const { action_id } = await e2e.agent.propose(run, {
      tool: 'refunds.issue',
      arguments: refundArgs(25_000, 'T-1002', 'C-502'),
      reason: 'refund of a cancelled annual plan',
      idempotency_key: randomUUID(),
    });
    const card = page.locator(`li[data-action="${action_id}"]`);
    // While the stream is live the inbox polls only every 30 s: the card comes with the stream's news.
    await card.waitFor({ timeout: 20_000 });
    expect(Number(await live.getAttribute('data-events'))).toBeGreaterThan(eventsBefore);
    expect(await live.getAttribute('data-live')).toBe('live');
    expect(page.url()).toBe(url);
    const text = await card.textContent();
    expect(text).toContain('refunds.issue');
    expect(text).toContain('risk medium');
    expect(text).toContain('refund-over-100-needs-manager-approval');
    expect(text).toContain('0 of 1 approval (manager)');
    await shot(page, '1-approvals');

    // Write the reason in the card, leave the field with Escape, approve with "a".
    await card.getByLabel('Reason').fill('checked the contract');
    await page.keyboard.press('Escape');
    await page.keyboard.press('a');
    await card.waitFor({ state: 'detached', timeout: 10_000 });
    expect((await e2e.agent.outcome(action_id, 30_000)).status).toBe('completed');
    const decided = page.locator(`tr[data-action="${action_id}"]`);
    await expect.poll(() => decided.textContent(), { timeout: 15_000 }).toContain('maria: approve (“checked the contract”)');

    // The run list finds the run by its goal; its timeline shows the refund executed.
    await page.goto(`${consoleUrl}#/runs`);
    await page.getByLabel('Search runs (id, agent or goal)').fill('a large refund');
    await page.locator(`tr[data-run="${run}"]`).waitFor({ timeout: 15_000 });
    await page.goto(`${consoleUrl}#/runs/${run}`);
    const step = page.locator(`ol.timeline li[data-action="${action_id}"]`);
    await step.and(page.locator('[data-status="completed"]')).waitFor({ timeout: 15_000 });
    const timeline = await step.textContent();
    expect(timeline).toContain('maria approve');
    expect(timeline).toContain('SUCCEEDED');
    // Its trace: the proposal's trace id, linked through WRIT_CONSOLE_TRACE_URL.
    const trace = step.getByTestId('trace');
    const traceId = (await trace.getAttribute('data-trace')) ?? '';
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(await trace.getAttribute('href')).toBe(TRACE_URL.replace('{trace_id}', traceId));
    expect(await step.getByTestId('shadow-results').count()).toBe(0);
    await shot(page, '2-run-timeline');

    // A shadow run's action: decided and recorded, never executed; shown apart as what would have happened.
    const { run_id: rehearsal } = await e2e.agent.openRun('console e2e: a rehearsal', undefined, 'shadow');
    const { action_id: rehearsed } = await e2e.agent.propose(rehearsal, {
      tool: 'refunds.issue',
      arguments: refundArgs(2_500),
      reason: 'rehearsed refund',
      idempotency_key: randomUUID(),
    });
    expect((await e2e.agent.outcome(rehearsed, 30_000)).status).toBe('completed');
    await page.goto(`${consoleUrl}#/runs/${rehearsal}`);
    const shadow = page.locator(`ol.timeline li[data-action="${rehearsed}"]`).getByTestId('shadow-results');
    await shadow.waitFor({ timeout: 15_000 });
    expect(await shadow.textContent()).toContain('shadow run: nothing was executed; would have ended completed (SHADOW_WOULD_EXECUTE)');
    await shot(page, '2b-shadow-run-timeline');
    await page.close();
  });

  it('lets an operator pull a tool’s kill switch (with a confirmation): the next call is refused', async () => {
    const page = await signedIn('oscar');
    await page.goto(`${consoleUrl}#/controls`);
    try {
      await page.getByLabel('Applies to').selectOption('tool');
      await page.getByLabel('Tool', { exact: true }).fill('tickets.list');
      await page.getByLabel('Reason').fill('console e2e');
      await page.getByRole('button', { name: 'Switch on…' }).click();
      await page.getByRole('alertdialog').getByRole('button', { name: 'Confirm' }).click();
      const row = page.locator('tr[data-control="acme/tool:tickets.list"]');
      await row.waitFor({ timeout: 15_000 });
      expect(await row.textContent()).toContain('oscar');
      await shot(page, '3-controls');

      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const { run_id: run } = await e2e.agent.openRun('console e2e: a read while killed');
      const { action_id } = await e2e.agent.propose(run, { tool: 'tickets.list', arguments: {}, reason: 'list while killed', idempotency_key: randomUUID() });
      expect(['rejected', 'failed']).toContain((await e2e.agent.outcome(action_id, 30_000)).status);

      await row.getByRole('button', { name: 'Release' }).click();
      await row.waitFor({ state: 'detached', timeout: 15_000 });
    } finally {
      await e2e.operator.setControl({ kind: 'kill-switch', tool: 'tickets.list' }, false, 'console e2e done');
      await page.close();
    }
  });

  it('shows an analyst the spend chart and the agent’s budget growing after a refund, and an auditor the chain', async () => {
    const page = await signedIn('ana');
    await page.goto(`${consoleUrl}#/spend`);
    const chart = page.getByTestId('spend-chart');
    await chart.waitFor({ timeout: 20_000 });
    const before = Number(await chart.getAttribute('data-total'));
    // triage-bot's daily money budget as the budget service announced it (the suites' large caps: $1,000,000).
    const meter = page.locator('[data-testid="budget-meter"][data-scope="agent_day"][data-subject="triage-bot"][data-kind="money"]');
    await meter.waitFor({ timeout: 20_000 });
    expect(await meter.getAttribute('data-limit')).toBe(String(1_000_000 * 1_000_000));
    const usedBefore = Number(await meter.getAttribute('data-used'));

    const { run_id: run } = await e2e.agent.openRun('console e2e: a small refund');
    const { action_id } = await e2e.agent.propose(run, {
      tool: 'refunds.issue',
      arguments: refundArgs(2_500),
      reason: 'small refund',
      idempotency_key: randomUUID(),
    });
    const outcome = await e2e.agent.outcome(action_id, 30_000);
    expect(outcome.status).toBe('completed');
    await waitFor(async () => Number(await chart.getAttribute('data-total')) > before, { timeoutMs: 30_000, what: 'the spend chart to count the refund' });
    await waitFor(async () => Number(await meter.getAttribute('data-used')) > usedBefore, { timeoutMs: 30_000, what: 'the budget meter to count the refund' });
    expect(await meter.textContent()).toMatch(/USD [\d.]+ of USD 1000000\.00 today/);
    await shot(page, '4-spend');
    await page.close();

    const auditor = await signedIn('audrey');
    await auditor.goto(`${consoleUrl}#/ledger`);
    await auditor.locator('tr[data-chain="acme"]').waitFor({ timeout: 20_000 });
    await auditor.getByLabel('Run id').fill(run);
    await auditor.getByRole('button', { name: 'Export' }).click();
    await expect.poll(() => auditor.getByRole('status').textContent(), { timeout: 15_000 }).toMatch(/\d+ lines exported/);
    await shot(auditor, '5-ledger');
    await auditor.close();
  });
});
