// The console's first paint in headless Chromium (Debian's, driven by playwright-core), against
// the floor of the same browser painting a one-line page from the same server in the same run.
// The bundle is served as the gateway serves it (libs/console-ui/dist; no cache, a new browser
// context per load, so every load fetches and parses the whole bundle). Prints the figures and
// replaces the "Console" section of docs/benchmarks.md. From the repository root, after a build:
// ./dev bench console (BENCH_LOADS=30; BENCH_NO_DOC=1: print only).
import { readFile, readdir, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { ROOT, machineLine, percentile, writeBenchmarkSection } from '../bench-doc.ts';

const LOADS = Number(process.env['BENCH_LOADS'] ?? 30);
const DIST = join(ROOT, 'libs', 'console-ui', 'dist');
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};
const FLOOR_PAGE = '<!doctype html><html><head><title>floor</title></head><body><p>floor</p></body></html>';
const CHROMIUM_ARGS = ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function serve(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    if (path === '/floor') {
      response.writeHead(200, { 'content-type': TYPES['.html'], 'cache-control': 'no-store' }).end(FLOOR_PAGE);
      return;
    }
    const file = path === '/console' ? 'index.html' : path.replace(/^\/console\//, '');
    readFile(join(DIST, file)).then(
      (body) => response.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body),
      () => response.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** First contentful paint of `url`, in ms from navigation start, over `LOADS` loads each in a new context. */
async function paints(browser: Browser, url: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < LOADS; i += 1) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url, { waitUntil: 'load' });
    const fcp = await page.waitForFunction(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null);
    times.push(Number(await fcp.jsonValue()));
    await context.close();
  }
  return times.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  await stat(join(DIST, 'index.html')).catch(() => {
    throw new Error(`the console is not built (${DIST}): run ./dev build first`);
  });
  const machine = machineLine();
  const server = await serve();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, chromiumSandbox: false, args: CHROMIUM_ARGS });
  try {
    await paints(browser, `${server.url}/floor`); // warm the browser once
    const floor = await paints(browser, `${server.url}/floor`);
    const consolePaints = await paints(browser, `${server.url}/console`);
    const assets = await readdir(join(DIST, 'assets'));
    const bundle = (await Promise.all(assets.map(async (file) => (await stat(join(DIST, 'assets', file))).size))).reduce((a, b) => a + b, 0);
    const row = (what: string, times: number[]) =>
      `| ${what} | ${percentile(times, 50).toFixed(0)} ms | ${percentile(times, 95).toFixed(0)} ms | ${(times.at(-1) ?? Number.NaN).toFixed(0)} ms |`;
    const text = [
      '## Console',
      '',
      `Measured ${new Date().toISOString().slice(0, 10)} on ${machine} with \`./dev bench console\`: the console's first contentful paint in headless Chromium (Debian's ${browser.version()}), ${LOADS} loads each in a new browser context (nothing cached: the page and its ${(bundle / 1024).toFixed(0)} KiB bundle fetched, parsed and run every time), served from \`libs/console-ui/dist\` on loopback. The floor is the same browser painting a one-line page from the same server in the same run.`,
      '',
      '| page | first contentful paint p50 | p95 | max |',
      '|---|---|---|---|',
      row('floor: a one-line page', floor),
      row('the console (sign-in view)', consolePaints),
      '',
      `Target (issue 11): first paint under one second on this box. The console's paint is the floor plus parsing and running its bundle (Preact, no CDN); what bounds the tail is the box's load (two cores shared with whatever runs), as the floor's own tail shows.`,
      '',
    ].join('\n');
    process.stdout.write(`${text}\n`);
    if (process.env['BENCH_NO_DOC'] !== '1') process.stdout.write(`written to ${await writeBenchmarkSection('Console', text)}\n`);
  } finally {
    await browser.close();
    await server.close();
  }
}

await main();
