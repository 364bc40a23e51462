import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import type { WritError } from '@writ/errors';
import { checkDestinations, createToolRegistry, loadToolRegistry } from './index.ts';
import type { ToolDefinition, ToolDestination } from './index.ts';

const REPO_TOOLS = resolve(import.meta.dirname, '../../../tools');

function toolWith(destinations: unknown): Record<string, unknown> {
  return {
    name: 'mail.send',
    version: '1.0.0',
    description: 'Send something somewhere',
    effect: 'write',
    risk: 'low',
    arguments: {
      type: 'object',
      additionalProperties: false,
      properties: {
        to: { type: 'string' },
        cc: { type: 'array', items: { type: 'string' } },
        hook: { type: 'string' },
        account: { type: 'string' },
        count: { type: 'integer' },
        counts: { type: 'array', items: { type: 'integer' } },
        delivery: { type: 'object', properties: { url: { type: 'string' }, secret_to: { type: 'string', 'x-writ-sensitive': true } } },
      },
    },
    cost: { micros: 1, currency: 'USD' },
    timeout_ms: 1000,
    retry: { max_attempts: 1, initial_backoff_ms: 0, max_backoff_ms: 0 },
    idempotent: true,
    endpoint: { method: 'POST', url: 'https://mail.example/send' },
    destinations,
  };
}

function tool(destinations: Record<string, ToolDestination>): ToolDefinition {
  const registry = createToolRegistry([toolWith(destinations)]);
  return registry.get('mail.send') as ToolDefinition;
}

function registryError(destinations: unknown): WritError {
  try {
    createToolRegistry([toolWith(destinations)], 'tools/mail.send@1.0.0.json');
  } catch (error) {
    if (isWritError(error, 'TOOL_REGISTRY_INVALID')) return error;
    throw error;
  }
  throw new Error('expected TOOL_REGISTRY_INVALID');
}

/** The refusal reasons of one value at `to` / `hook` / `account` (empty: allowed). */
function refusals(destinations: Record<string, ToolDestination>, args: Record<string, unknown>): string[] {
  return checkDestinations(tool(destinations), args).map((problem) => `${problem.field} ${problem.rule}: ${problem.message}`);
}

describe('destinations in the repository registry', () => {
  it('restricts notifications.send to the helpdesk team domain, to and every cc', () => {
    const notify = loadToolRegistry(REPO_TOOLS).get('notifications.send');
    if (notify === undefined) throw new Error('notifications.send is missing from tools/');
    expect(notify.destinations).toEqual({
      to: { email_domain: ['acme.example', '*.acme.example'] },
      cc: { email_domain: ['acme.example', '*.acme.example'] },
    });
    const note = { ticket_id: 'T-1001', to: 'escalations@acme.example', cc: ['lead@eu.acme.example'], subject: 's', body: 'b' };
    expect(checkDestinations(notify, note)).toEqual([]);
    expect(checkDestinations(notify, { ...note, to: 'eve@evil.example', cc: ['lead@acme.example', 'x@acme.example.evil.example'] })).toEqual([
      {
        field: 'to',
        rule: 'email_domain',
        message:
          'arguments.to: "eve@evil.example" is not an allowed destination: its domain evil.example is not listed (email_domain must be one of acme.example, *.acme.example)',
      },
      {
        field: 'cc[1]',
        rule: 'email_domain',
        message:
          'arguments.cc[1]: "x@acme.example.evil.example" is not an allowed destination: its domain acme.example.evil.example is not listed (email_domain must be one of acme.example, *.acme.example)',
      },
    ]);
  });

  it('names no destination when an optional destination argument is absent', () => {
    expect(refusals({ cc: { email_domain: ['acme.example'] } }, { to: 'eve@evil.example' })).toEqual([]);
  });
});

describe('destination declarations, checked at registry load', () => {
  const cases: [string, unknown, string, string, string][] = [
    ['an argument that is not declared', { recipient: { email_domain: ['acme.example'] } }, 'destinations.recipient', 'argument', 'names no declared argument'],
    ['an integer argument', { count: { values: ['1'] } }, 'destinations.count', 'type', 'must name an argument of "type": "string"'],
    ['an array of integers', { counts: { values: ['1'] } }, 'destinations.counts', 'type', 'must name an argument of "type": "string"'],
    [
      'a path through a string',
      { 'to.domain': { email_domain: ['acme.example'] } },
      'destinations.to.domain',
      'argument',
      'must go through object arguments only',
    ],
    ['a path with brackets', { 'cc[0]': { email_domain: ['acme.example'] } }, 'destinations.cc[0]', 'path', 'must be a dotted argument path'],
    [
      'two kinds',
      { to: { email_domain: ['acme.example'], values: ['a@acme.example'] } },
      'destinations.to',
      'oneOf',
      'exactly one of email_domain, url_host, values',
    ],
    ['no kind', { to: {} }, 'destinations.to', 'oneOf', 'exactly one of'],
    ['a misspelt kind', { to: { email_domains: ['acme.example'] } }, 'destinations.to.email_domains', 'additionalProperties', 'is not a known field'],
    ['an empty list', { to: { email_domain: [] } }, 'destinations.to.email_domain', 'type', 'must be a non-empty array of strings'],
    ['a repeated entry', { account: { values: ['A', 'B', 'A'] } }, 'destinations.account.values[2]', 'unique', 'repeats "A"'],
    [
      'a wildcard inside a label',
      { to: { email_domain: ['acme.example', '*acme.example'] } },
      'destinations.to.email_domain[1]',
      'email_domain',
      'wildcard only as its whole first label',
    ],
    ['a wildcard in the middle', { to: { email_domain: ['mail.*.acme.example'] } }, 'destinations.to.email_domain[0]', 'email_domain', 'wildcard only'],
    ['a wildcard over a top-level domain', { to: { email_domain: ['*.com'] } }, 'destinations.to.email_domain[0]', 'email_domain', 'not "*.com"'],
    ['a bare wildcard', { hook: { url_host: ['*'] } }, 'destinations.hook.url_host[0]', 'url_host', 'wildcard only as its whole first label'],
    ['a URL where a host belongs', { hook: { url_host: ['https://hooks.acme.example'] } }, 'destinations.hook.url_host[0]', 'url_host', 'is not a host name'],
    ['a host with user info', { hook: { url_host: ['me@hooks.acme.example'] } }, 'destinations.hook.url_host[0]', 'url_host', 'is not a host name'],
    ['an IP address as an email domain', { to: { email_domain: ['10.0.0.1'] } }, 'destinations.to.email_domain[0]', 'email_domain', 'not an IP address'],
    ['a port on an email domain', { to: { email_domain: ['acme.example:25'] } }, 'destinations.to.email_domain[0]', 'email_domain', 'is not a host name'],
    ['a port out of range', { hook: { url_host: ['hooks.acme.example:70000'] } }, 'destinations.hook.url_host[0]', 'url_host', 'outside 1..65535'],
    ['schemes on an email rule', { to: { email_domain: ['acme.example'], schemes: ['https'] } }, 'destinations.to.schemes', 'schemes', 'url_host only'],
    ['an unknown scheme', { hook: { url_host: ['hooks.acme.example'], schemes: ['https', 'ftp'] } }, 'destinations.hook.schemes[1]', 'enum', 'https, http'],
    ['not an object', ['to'], 'destinations', 'type', 'must be object'],
  ];

  it.each(cases)('refuses %s, naming the file and the field', (_name, destinations, field, rule, why) => {
    const error = registryError(destinations);
    expect(error.field).toBe(field);
    expect(error.rule).toBe(rule);
    expect(error.message).toContain('tools/mail.send@1.0.0.json');
    expect(error.message).toContain(why);
  });

  it('accepts a nested path, host entries with ports, IP literals and http when listed', () => {
    const registry = createToolRegistry([
      toolWith({
        'delivery.url': { url_host: ['hooks.acme.example', '*.acme.example:8443', '10.0.0.5', '[::1]:9000'], schemes: ['https', 'http'] },
        account: { values: ['ACC-1', 'ACC-2'] },
      }),
    ]);
    expect(registry.get('mail.send')?.destinations?.['delivery.url']).toBeDefined();
  });
});

describe('email_domain', () => {
  const rule = { to: { email_domain: ['acme.example', '*.acme.example', 'Bücher.example'] } } as const;
  const allowed: [string, string][] = [
    ['the listed domain', 'ann@acme.example'],
    ['any case', 'Ann@ACME.Example'],
    ['a trailing dot (the same domain, fully qualified)', 'ann@acme.example.'],
    ['a subdomain under the wildcard', 'ann@eu.acme.example'],
    ['a deeper subdomain under the wildcard', 'ann@mail.eu.acme.example'],
    ['an IDN entry, given as punycode', 'ann@xn--bcher-kva.example'],
    ['tags and dots in the local part', 'ann.lee+t-1001@acme.example'],
  ];
  const refused: [string, string, string][] = [
    ['a look-alike suffix', 'eve@evilacme.example', 'its domain evilacme.example is not listed'],
    ['the listed domain as a prefix', 'eve@acme.example.evil.example', 'its domain acme.example.evil.example is not listed'],
    ['a Cyrillic look-alike (homograph)', 'eve@\u0430cme.example', 'its domain is not ASCII'],
    ['an IDN in Unicode (ambiguous mapping)', 'ann@bücher.example', 'its domain is not ASCII'],
    ['an ignorable code point that maps away', 'eve@acme\u00ad.example', 'its domain is not ASCII'],
    ['two @', 'eve@evil.example@acme.example', 'not a plain email address'],
    ['a quoted local part', '"eve@evil.example"@acme.example', 'not a plain email address'],
    ['a display name', 'Eve <eve@acme.example>', 'not a plain email address'],
    ['two recipients', 'ann@acme.example,eve@evil.example', 'not a plain email address'],
    ['the percent hack', 'eve%evil.example@acme.example', 'not a plain email address'],
    ['a header injection', 'ann@acme.example\r\nBcc: eve@evil.example', 'not a plain email address'],
    ['a newline in the domain', 'ann@acme.example\n', 'its domain is not a domain name'],
    ['an IP literal domain', 'eve@[10.0.0.1]', 'its domain is not a domain name'],
    ['an IP address as the domain', 'eve@10.0.0.1', 'its domain is not a domain name'],
    ['two trailing dots', 'eve@acme.example..', 'its domain is not a domain name'],
    ['the wildcard itself', 'eve@*.acme.example', 'its domain is not a domain name'],
    ['no domain', 'eve', 'not a plain email address'],
  ];

  it.each(allowed)('allows %s', (_name, value) => {
    expect(refusals(rule, { to: value })).toEqual([]);
  });

  it.each(refused)('refuses %s', (_name, value, why) => {
    const [problem, ...rest] = checkDestinations(tool(rule), { to: value });
    expect(rest).toEqual([]);
    expect(problem?.field).toBe('to');
    expect(problem?.rule).toBe('email_domain');
    expect(problem?.message).toContain(why);
    expect(problem?.message).toContain('(email_domain must be one of acme.example, *.acme.example, Bücher.example)');
  });

  it('does not let the wildcard match the bare domain', () => {
    expect(refusals({ to: { email_domain: ['*.acme.example'] } }, { to: 'ann@acme.example' })).toHaveLength(1);
  });

  it('checks every item of an array and names its index', () => {
    const problems = checkDestinations(tool({ cc: { email_domain: ['acme.example'] } }), { cc: ['a@acme.example', 'b@evil.example', 'c@acme.example', 7] });
    expect(problems.map((p) => [p.field, p.message.split(': ').slice(1).join(': ')])).toEqual([
      ['cc[1]', '"b@evil.example" is not an allowed destination: its domain evil.example is not listed (email_domain must be one of acme.example)'],
      ['cc[3]', '"7" is not an allowed destination: it is not a string (email_domain must be one of acme.example)'],
    ]);
  });

  it('shows a long or hostile value quoted and truncated', () => {
    const [problem] = checkDestinations(tool(rule), { to: `${'x'.repeat(300)}@evil.example` });
    expect(problem?.message).toContain(`"${'x'.repeat(120)}…"`);
    expect(problem?.message.length).toBeLessThan(400);
  });
});

describe('url_host', () => {
  const rule = { hook: { url_host: ['hooks.acme.example', '*.acme.example:8443', '10.0.0.5', '[::1]:9000'] } } as const;
  const allowed: [string, string][] = [
    ['the listed host', 'https://hooks.acme.example/v1/notify?x=1#top'],
    ['no path', 'https://hooks.acme.example'],
    ['any case, scheme included', 'HTTPS://HOOKS.Acme.Example/x'],
    ['a trailing dot', 'https://hooks.acme.example./x'],
    ['the default port written out', 'https://hooks.acme.example:443/x'],
    ['a listed port under a wildcard', 'https://eu.hooks.acme.example:8443/x'],
    ['a listed IPv4 address', 'https://10.0.0.5/x'],
    ['a listed IPv6 address and port', 'https://[::1]:9000/x'],
  ];
  const refused: [string, string, string][] = [
    ['user info before an evil host', 'https://hooks.acme.example@evil.example/', 'user info'],
    ['user info before the listed host', 'https://eve:pw@hooks.acme.example/', 'user info'],
    ['a backslash (read as "/" by some parsers, not by others)', 'https://hooks.acme.example\\@evil.example/', 'backslashes'],
    ['a tab inside the host (dropped by URL parsers)', 'https://hooks.acme.ex\tample/', 'whitespace'],
    ['plain http when only https is listed', 'http://hooks.acme.example/', 'its scheme http is not allowed (https only)'],
    ['another scheme', 'javascript://hooks.acme.example/%0aalert(1)', 'its scheme javascript is not allowed'],
    ['a relative URL', '//hooks.acme.example/x', 'not an absolute URL'],
    ['a bare host', 'hooks.acme.example', 'not an absolute URL'],
    ['a look-alike suffix', 'https://evilhooks.acme.example.evil.example/', 'its host evilhooks.acme.example.evil.example is not listed'],
    ['an unlisted port on a listed host', 'https://hooks.acme.example:9443/', 'port 9443 of host hooks.acme.example is not listed'],
    ['the default port where only 8443 is listed', 'https://eu.acme.example/', 'port 443 of host eu.acme.example is not listed'],
    ['the wildcard apex', 'https://acme.example:8443/', 'its host acme.example is not listed'],
    ['an unlisted IP address', 'https://127.0.0.1/', 'its host 127.0.0.1 is not listed'],
    ['a listed IP address in hex', 'https://0xa.0.0.5/', 'written canonically'],
    ['a listed IP address as one number', 'https://167772165/', 'written canonically'],
    ['a listed IP address shortened', 'https://10.5/', 'written canonically'],
    ['a listed IPv6 address written differently', 'https://[0:0::1]:9000/', 'written canonically'],
    ['a Unicode host', 'https://hooks.\u0430cme.example/', 'non-ASCII'],
    ['a percent-encoded host', 'https://hooks%2eacme.example/', 'written canonically'],
    ['an empty port', 'https://hooks.acme.example:/', 'written canonically'],
    ['a port out of range', 'https://hooks.acme.example:99999/', 'not a valid URL'],
  ];

  it.each(allowed)('allows %s', (_name, value) => {
    expect(refusals(rule, { hook: value })).toEqual([]);
  });

  it.each(refused)('refuses %s', (_name, value, why) => {
    const [problem, ...rest] = checkDestinations(tool(rule), { hook: value });
    expect(rest).toEqual([]);
    expect(problem).toMatchObject({ field: 'hook', rule: 'url_host' });
    expect(problem?.message).toContain(why);
  });

  it('allows http only where listed, and an IDN entry as punycode', () => {
    const both = { hook: { url_host: ['hooks.acme.example', 'Bücher.example'], schemes: ['https', 'http'] } } as const;
    expect(refusals(both, { hook: 'http://hooks.acme.example/' })).toEqual([]);
    expect(refusals(both, { hook: 'http://hooks.acme.example:80/' })).toEqual([]);
    expect(refusals(both, { hook: 'https://xn--bcher-kva.example/' })).toEqual([]);
    expect(refusals(both, { hook: 'http://hooks.acme.example:443/' })).toHaveLength(1);
  });

  it('follows a dotted path into an object argument', () => {
    const nested = tool({ 'delivery.url': { url_host: ['hooks.acme.example'] } });
    expect(checkDestinations(nested, { delivery: { url: 'https://hooks.acme.example/' } })).toEqual([]);
    expect(checkDestinations(nested, { delivery: { url: 'https://evil.example/' } })).toMatchObject([{ field: 'delivery.url', rule: 'url_host' }]);
  });
});

describe('values', () => {
  it('allows exactly the listed values, case and spacing included', () => {
    const rule = { account: { values: ['ACC-1', 'ACC-2'] } } as const;
    expect(refusals(rule, { account: 'ACC-2' })).toEqual([]);
    for (const value of ['acc-1', 'ACC-1 ', 'ACC-3', '']) {
      expect(refusals(rule, { account: value })).toEqual([
        `account values: arguments.account: ${JSON.stringify(value)} is not an allowed destination: it is not listed (values must be one of ACC-1, ACC-2)`,
      ]);
    }
  });

  it('lists at most ten entries in a message', () => {
    const values = Array.from({ length: 14 }, (_, i) => `ACC-${i}`);
    const [problem] = checkDestinations(tool({ account: { values } }), { account: 'ACC-99' });
    expect(problem?.message).toContain('ACC-8, ACC-9 and 4 more)');
  });
});

describe('sensitive destinations', () => {
  const rule = { 'delivery.secret_to': { email_domain: ['acme.example'] } } as const;
  const sealed = { $sealed: `v1.${'0'.repeat(16)}.abc`, hmac: 'f'.repeat(64) };

  it('are left to the executor while sealed (the planner cannot read them)', () => {
    expect(checkDestinations(tool(rule), { delivery: { secret_to: sealed } }, { sealed: true })).toEqual([]);
  });

  it('are refused in the clear without showing the value or its domain', () => {
    const [problem] = checkDestinations(tool(rule), { delivery: { secret_to: 'eve@evil.example' } });
    expect(problem).toEqual({
      field: 'delivery.secret_to',
      rule: 'email_domain',
      message: 'arguments.delivery.secret_to: the sensitive value (not shown) is not an allowed destination (email_domain must be one of acme.example)',
    });
  });

  it('still refuses a sealed value at a place not marked sensitive', () => {
    expect(checkDestinations(tool({ to: { email_domain: ['acme.example'] } }), { to: sealed }, { sealed: true })).toMatchObject([
      { field: 'to', message: expect.stringContaining('it is not a string') as unknown },
    ]);
  });
});
