// The demo helpdesk as a process: `node --conditions=writ-source demo/helpdesk/src/main.ts`.
// HELPDESK_PORT (default 26090), HELPDESK_HOST (default 127.0.0.1), HELPDESK_TOKEN (the static
// token: operator routes and tools declaring it as their fallback; default helpdesk-demo-token),
// WRIT_TOOLS_DIR (the tool contracts; default the repository's tools/). Per-action tokens verify
// against the executor's JWKS: HELPDESK_JWKS_URL (e.g. http://127.0.0.1:26084/.well-known/jwks.json)
// or HELPDESK_JWKS_FILE; HELPDESK_TOKEN_ISSUER (default writ-executor), HELPDESK_AUDIENCE (default
// helpdesk), HELPDESK_TENANTS (comma-separated tenants served; unset: any).
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet } from 'jose';
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose';
import { loadToolRegistry } from '@writ/tools';
import type { MintedTokenOptions } from './credentials.ts';
import { DEFAULT_HELPDESK_PORT, DEFAULT_HELPDESK_TOKEN, startHelpdesk } from './server.ts';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(2);
}

const text = (name: string): string | undefined => process.env[name]?.trim() || undefined;

function portFrom(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_HELPDESK_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`HELPDESK_PORT must be a TCP port from 0 to 65535, got "${raw}"\n`);
    process.exit(2);
  }
  return port;
}

/** The executor's published keys, from HELPDESK_JWKS_URL (fetched, cached, refetched for an unknown kid) or HELPDESK_JWKS_FILE. */
function jwksFrom(url: string | undefined, file: string | undefined): JWTVerifyGetKey | undefined {
  if (url !== undefined) {
    try {
      return createRemoteJWKSet(new URL(url), { timeoutDuration: 2_000, cooldownDuration: 5_000 });
    } catch (error) {
      fail(`HELPDESK_JWKS_URL must be an http(s) URL of a JWKS, got "${url}": ${(error as Error).message}`);
    }
  }
  if (file !== undefined) {
    try {
      return createLocalJWKSet(JSON.parse(readFileSync(file, 'utf8')) as JSONWebKeySet);
    } catch (error) {
      fail(`HELPDESK_JWKS_FILE must be a readable JWKS (JSON with "keys"), ${file}: ${(error as Error).message}`);
    }
  }
  return undefined;
}

const keys = jwksFrom(text('HELPDESK_JWKS_URL'), text('HELPDESK_JWKS_FILE'));
const tenants = text('HELPDESK_TENANTS')
  ?.split(',')
  .map((tenant) => tenant.trim())
  .filter((tenant) => tenant !== '');
const minted: MintedTokenOptions | undefined =
  keys === undefined
    ? undefined
    : {
        keys,
        issuer: text('HELPDESK_TOKEN_ISSUER') ?? 'writ-executor',
        audience: text('HELPDESK_AUDIENCE') ?? 'helpdesk',
        ...(tenants === undefined ? {} : { tenants }),
      };
const toolsDir = text('WRIT_TOOLS_DIR');
const token = text('HELPDESK_TOKEN') ?? DEFAULT_HELPDESK_TOKEN;
const helpdesk = await startHelpdesk({
  ...(toolsDir === undefined ? {} : { tools: loadToolRegistry(toolsDir) }),
  ...(minted === undefined ? {} : { minted }),
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
