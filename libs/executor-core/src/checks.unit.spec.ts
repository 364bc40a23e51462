// checkRequest and the tool's destination allowlists: the executor checks them again, in the clear
// (sensitive destinations included, which only it can read), after the warrant and the reservation.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TenantDataKey, createKeyring, generateSigningKey } from '@writ/crypto';
import { ControlBoard, createToolRegistry, loadToolRegistry } from '@writ/tools';
import type { ToolDefinition } from '@writ/tools';
import { checkRequest } from './index.ts';
import { signedExecutionRequest } from './testing/index.ts';

const repoTools = loadToolRegistry(resolve(import.meta.dirname, '../../../tools'));
const notify = repoTools.get('notifications.send', '1.0.0') as ToolDefinition;
/** notifications.send whose `cc` is sensitive (sealed by the gateway, readable by the executor only). */
const sealedCc = {
  ...notify,
  version: '1.1.0',
  arguments: {
    ...notify.arguments,
    properties: {
      ...(notify.arguments['properties'] as Record<string, unknown>),
      cc: { type: 'array', items: { type: 'string', format: 'email' }, 'x-writ-sensitive': true },
    },
  },
};
const registry = createToolRegistry([notify, sealedCc]);
const warrantKey = generateSigningKey('warrant-1');
const reservationKey = generateSigningKey('reservation-1');
const deps = {
  registry,
  warrantKeys: createKeyring({ 'warrant-1': warrantKey.publicKey }),
  reservationKeys: createKeyring({ 'reservation-1': reservationKey.publicKey }),
  controls: new ControlBoard(),
};
const acmeKey = TenantDataKey.generate('acme');
const note = { ticket_id: 'T-1001', to: 'escalations@acme.example', subject: 'T-1001 needs a manager', body: 'Above my refund limit.' };

let counter = 0;
function check(args: unknown, version = '1.0.0') {
  counter += 1;
  const request = signedExecutionRequest({
    tenant: 'acme',
    runId: `run-${counter}`,
    agent: 'triage-bot',
    tool: 'notifications.send',
    toolVersion: version,
    args,
    idempotencyKey: `key-${counter}`,
    warrantKey,
    reservationKey,
    ...(version === '1.1.0' ? { sealWith: { key: acmeKey, tool: sealedCc } } : {}),
  });
  return checkRequest(request, deps, Date.now(), acmeKey);
}

describe('checkRequest: destination allowlists', () => {
  it('accepts listed destinations', () => {
    const result = check({ ...note, cc: ['lead@eu.acme.example', 'Ops@ACME.example.'] });
    expect(result).toMatchObject({ ok: true, args: { to: 'escalations@acme.example' } });
  });

  it('refuses an unlisted destination even with a genuine warrant and reservation, naming the argument and the rule', () => {
    const result = check({ ...note, to: 'escalations@acme.example.evil.example' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.refusal).toEqual({
      code: 'DESTINATION_NOT_ALLOWED',
      message:
        'notifications.send@1.0.0 refuses arguments.to: "escalations@acme.example.evil.example" is not an allowed destination: its domain acme.example.evil.example is not listed (email_domain must be one of acme.example, *.acme.example)',
    });
  });

  it('lists every refused destination', () => {
    const result = check({ ...note, to: 'a@evil.example', cc: ['b@acme.example', 'c@evilacme.example'] });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.refusal.message).toContain('arguments.to: "a@evil.example"');
    expect(result.refusal.message).toContain('; arguments.cc[1]: "c@evilacme.example"');
  });

  it('checks a sensitive destination once opened, and never shows it', () => {
    expect(check({ ...note, cc: ['lead@acme.example'] }, '1.1.0')).toMatchObject({ ok: true, args: { cc: ['lead@acme.example'] } });
    const result = check({ ...note, cc: ['lead@acme.example', 'mallory@evil.example'] }, '1.1.0');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.refusal.code).toBe('DESTINATION_NOT_ALLOWED');
    expect(result.refusal.message).toContain('arguments.cc[1]: the sensitive value (not shown) is not an allowed destination (email_domain must be one of');
    expect(result.refusal.message).not.toContain('mallory');
    expect(result.refusal.message).not.toContain('evil.example');
  });
});
