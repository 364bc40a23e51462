import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '@writ/testing';
import { superviseProcess } from './services.ts';
import type { ServiceProcess } from './services.ts';

// A service that exits on its own (exit 70: its Kafka client failed for good) is started again by
// the stack, like a Kubernetes restart policy; one stopped or killed on purpose stays down.

// A stand-in service: ready at once; GET /exit ends it with status 70.
const SERVICE = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  if (req.url === '/exit') { res.end(); setImmediate(() => process.exit(70)); return; }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ status: 'ready', pid: process.pid }));
});
server.listen(Number(process.env.PORT), '127.0.0.1');
`;

const dirs: string[] = [];
const services: ServiceProcess[] = [];
afterEach(async () => {
  await Promise.all(services.splice(0).map((service) => service.stop()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function standIn() {
  const dir = mkdtempSync(join(tmpdir(), 'writ-supervise-'));
  dirs.push(dir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const lines: string[] = [];
  const service = superviseProcess({
    name: 'stand-in',
    url,
    readyUrl: `${url}/health/ready`,
    command: [process.execPath, '-e', SERVICE],
    env: { PORT: String(port) },
    cwd: dir,
    logFile: join(dir, 'stand-in.log'),
    log: (line) => lines.push(line),
  });
  services.push(service);
  await service.start();
  return { service, url, lines };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('superviseProcess', () => {
  it('starts a process that exited on its own again, and says so', async () => {
    const { service, url, lines } = await standIn();
    const first = service.pid();
    await fetch(`${url}/exit`);
    const readyTimes = () => lines.filter((line) => line.includes('ready on')).length;
    await waitFor(() => readyTimes() === 2, { what: () => `ready again; log: ${lines.join(' | ')}`, timeoutMs: 15_000 });
    const second = ((await (await fetch(url)).json()) as { pid: number }).pid;
    expect(second).not.toBe(first);
    expect(second).toBe(service.pid());
    expect(lines.some((line) => /stand-in: exited on its own \(code 70\); restarting in 1 s \(restart 1\)/.test(line))).toBe(true);

    // Exiting again right away backs off: the second restart waits twice as long.
    await fetch(`${url}/exit`);
    await waitFor(() => lines.some((line) => /restarting in 2 s \(restart 2\)/.test(line)), { what: 'the second restart', timeoutMs: 10_000 });
    await waitFor(() => readyTimes() === 3, { what: () => `ready a third time; log: ${lines.join(' | ')}`, timeoutMs: 15_000 });
  });

  it('leaves a process that was stopped or killed on purpose down', async () => {
    const { service, url, lines } = await standIn();
    await service.kill();
    await service.start();
    await service.stop();
    await sleep(2_500);
    expect(
      await fetch(url).then(
        () => 'answered',
        () => 'down',
      ),
    ).toBe('down');
    expect(lines.filter((line) => line.includes('restarting'))).toEqual([]);
    expect(readFileSync(join(dirs[0] ?? '', 'stand-in.log'), 'utf8')).toBe('');
  });
});
