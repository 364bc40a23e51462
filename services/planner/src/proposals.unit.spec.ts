// ActionProposed -> ProposeAction: the destination allowlists of the tool contract, checked before
// anything is decided (the decider then rejects with the reason the service found).
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256Canonical } from '@writ/crypto';
import { sampleEvent } from '@writ/contracts/testing';
import { createToolRegistry, loadToolRegistry } from '@writ/tools';
import type { ToolDefinition, ToolRegistry } from '@writ/tools';
import { proposeCommandOf } from './proposals.ts';
import type { KillSwitches } from './proposals.ts';

const repoTools = loadToolRegistry(resolve(import.meta.dirname, '../../../tools'));
const noKills: KillSwitches = { isToolKilled: () => false, isAgentKilled: () => false };
const NOW = 1_700_000_000_000;

function proposal(tool: string, args: unknown) {
  const json = JSON.stringify(args);
  return { ...sampleEvent('ActionProposed'), tool, tool_version: null, arguments_json: json, args_sha256: sha256Canonical(args) };
}

function command(tool: string, args: unknown, registry: ToolRegistry = repoTools) {
  return proposeCommandOf(proposal(tool, args), registry, noKills, 'USD', NOW);
}

const note = { ticket_id: 'T-1001', to: 'escalations@acme.example', subject: 'T-1001 needs a manager', body: 'Above my refund limit.' };

describe('proposals to a tool with destination allowlists', () => {
  it('admits a listed destination, in any case, to and every cc', () => {
    const proposed = command('notifications.send', { ...note, to: 'Escalations@ACME.example', cc: ['lead@eu.acme.example'] });
    expect(proposed.invalid).toBeNull();
    expect(proposed.tool_version).toBe('1.0.0');
  });

  it('rejects an unlisted destination with destination_not_allowed, the argument as the field and the rule in the message', () => {
    expect(command('notifications.send', { ...note, to: 'eve@evilacme.example' }).invalid).toEqual({
      reason_code: 'destination_not_allowed',
      field: 'to',
      message:
        'arguments.to: "eve@evilacme.example" is not an allowed destination: its domain evilacme.example is not listed (email_domain must be one of acme.example, *.acme.example)',
    });
  });

  it('names the first refused item of an array and counts the others', () => {
    const invalid = command('notifications.send', { ...note, cc: ['lead@acme.example', 'eve@evil.example', 'mallory@evil.example'] }).invalid;
    expect(invalid).toMatchObject({ reason_code: 'destination_not_allowed', field: 'cc[1]' });
    expect(invalid?.message).toMatch(/^arguments\.cc\[1\]: "eve@evil\.example" is not an allowed destination: .* \(and 1 more\)$/);
  });

  it('reports a schema violation as args_invalid first', () => {
    expect(command('notifications.send', { ...note, to: 'not an address' }).invalid).toMatchObject({ reason_code: 'args_invalid', field: 'to' });
  });

  it('leaves a sealed (sensitive) destination to the executor, and refuses a clear value where a sealed one belongs', () => {
    const base = repoTools.get('notifications.send') as ToolDefinition;
    const sensitive = createToolRegistry([
      {
        ...base,
        arguments: {
          ...base.arguments,
          properties: { ...(base.arguments['properties'] as Record<string, unknown>), to: { type: 'string', 'x-writ-sensitive': true } },
        },
      },
    ]);
    const sealed = { $sealed: `v1.${'0'.repeat(16)}.c2VhbGVk`, hmac: 'a'.repeat(64) };
    expect(command('notifications.send', { ...note, to: sealed }, sensitive).invalid).toBeNull();
    expect(command('notifications.send', { ...note, to: 'eve@evil.example' }, sensitive).invalid).toMatchObject({ reason_code: 'args_invalid', field: 'to' });
  });
});
