// The demo helpdesk as a process: `node --conditions=writ-source demo/helpdesk/src/main.ts`.
// HELPDESK_PORT (default 26090), HELPDESK_HOST (default 127.0.0.1), HELPDESK_TOKEN (default helpdesk-demo-token).
import { DEFAULT_HELPDESK_PORT, DEFAULT_HELPDESK_TOKEN, startHelpdesk } from './server.ts';

function portFrom(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_HELPDESK_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`HELPDESK_PORT must be a TCP port from 0 to 65535, got "${raw}"\n`);
    process.exit(2);
  }
  return port;
}

const token = process.env['HELPDESK_TOKEN']?.trim() || DEFAULT_HELPDESK_TOKEN;
const helpdesk = await startHelpdesk({
  port: portFrom(process.env['HELPDESK_PORT']),
  host: process.env['HELPDESK_HOST']?.trim() || '127.0.0.1',
  token,
});
process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'helpdesk listening', url: helpdesk.url })}\n`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void helpdesk.close().then(() => process.exit(0));
  });
}
