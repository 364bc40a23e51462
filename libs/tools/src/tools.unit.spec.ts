import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isWritError } from '@writ/errors';
import type { WritError } from '@writ/errors';
import {
  buildToolRequest,
  buildVerifyRequest,
  createToolRegistry,
  loadToolRegistry,
  redactArguments,
  redactJson,
  redactResult,
  sideEffectRefs,
  validateArguments,
} from './index.ts';
import type { ToolDefinition } from './index.ts';

const REPO_TOOLS = resolve(import.meta.dirname, '../../../tools');

function baseTool(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'things.make',
    version: '1.0.0',
    description: 'Make a thing',
    effect: 'write',
    risk: 'low',
    arguments: {
      type: 'object',
      additionalProperties: false,
      required: ['thing_id', 'amount_cents'],
      properties: {
        thing_id: { type: 'string' },
        amount_cents: { type: 'integer', minimum: 1 },
        secret: { type: 'string', 'x-writ-sensitive': true },
        card: { type: 'object', properties: { number: { type: 'string', 'x-writ-sensitive': true }, brand: { type: 'string' } } },
        notes: { type: 'array', items: { type: 'object', properties: { pin: { type: 'string', 'x-writ-sensitive': true } } } },
      },
    },
    result: { type: 'object', properties: { token: { type: 'string', 'x-writ-sensitive': true }, id: { type: 'string' } } },
    cost: { micros: 100, currency: 'USD' },
    timeout_ms: 1000,
    retry: { max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 100 },
    idempotent: true,
    endpoint: { method: 'POST', url: '${THINGS_URL:-http://127.0.0.1:1}/things/{thing_id}' },
    credential: { env: 'THINGS_TOKEN' },
    side_effect_refs: ['id', 'nested.ids'],
    ...overrides,
  };
}

function registryError(run: () => unknown): WritError {
  try {
    run();
  } catch (error) {
    if (isWritError(error, 'TOOL_REGISTRY_INVALID')) return error;
    throw error;
  }
  throw new Error('expected TOOL_REGISTRY_INVALID');
}

function folderWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'writ-tools-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('the repository tool registry (tools/)', () => {
  const registry = loadToolRegistry(REPO_TOOLS);

  it('holds the helpdesk tools under the names and versions the policies use', () => {
    const refs = registry.list().map((tool) => `${tool.name}@${tool.version}:${tool.effect}`);
    expect(refs).toEqual([
      'customers.delete@1.0.0:destructive',
      'customers.export@2.0.0:read',
      'customers.get@1.0.0:read',
      'notifications.send@1.0.0:write',
      'refunds.issue@1.2.0:write',
      'tickets.get@1.0.0:read',
      'tickets.list@1.0.0:read',
    ]);
  });

  it('accepts the policy cases arguments of refunds.issue and refuses bad ones with field and rule', () => {
    const refund = registry.get('refunds.issue');
    expect(refund?.version).toBe('1.2.0');
    if (refund === undefined) return;
    const good = { ticket_id: 'T-1042', customer_id: 'C-7', amount_cents: 2500, currency: 'USD', ticket_tags: ['refund_approved'], reason: 'damaged item' };
    expect(validateArguments(refund, good)).toEqual({ ok: true });
    const bad = validateArguments(refund, { ...good, amount_cents: '2500', reason: undefined, extra: 1 });
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad.problems.map((p) => [p.field, p.rule])).toEqual(
      expect.arrayContaining([
        ['amount_cents', 'type'],
        ['extra', 'additionalProperties'],
      ]),
    );
  });

  it('marks a sensitive field in refunds.issue and customers.get', () => {
    const refund = registry.get('refunds.issue', '1.2.0');
    const customer = registry.get('customers.get');
    if (refund === undefined || customer === undefined) throw new Error('missing tools');
    expect(redactArguments(refund, { ticket_id: 'T-1', card_last4: '4242' })).toEqual({ ticket_id: 'T-1', card_last4: '[redacted]' });
    expect(JSON.parse(redactJson(customer, '{"id":"C-1","email":"a@b.example","name":"Ann"}'))).toEqual({
      id: 'C-1',
      email: '[redacted]',
      name: 'Ann',
    });
  });
});

describe('loadToolRegistry', () => {
  it('returns the latest version when none is asked, or exactly the one asked', () => {
    const dir = folderWith({
      'a.json': JSON.stringify(baseTool({ version: '1.9.0' })),
      'b.json': JSON.stringify(baseTool({ version: '1.10.0' })),
      'c.json': JSON.stringify(baseTool({ version: '0.99.0' })),
      'README.md': 'not a tool',
    });
    const registry = loadToolRegistry(dir);
    expect(registry.get('things.make')?.version).toBe('1.10.0');
    expect(registry.get('things.make', '1.9.0')?.version).toBe('1.9.0');
    expect(registry.get('things.make', '2.0.0')).toBeUndefined();
    expect(registry.get('nothing.here')).toBeUndefined();
    expect(registry.list().map((t) => t.version)).toEqual(['0.99.0', '1.9.0', '1.10.0']);
  });

  it('names the file and the field of a missing or mistyped field', () => {
    const { name: _name, ...withoutName } = baseTool();
    const dir = folderWith({ 'broken.json': JSON.stringify(withoutName) });
    const error = registryError(() => loadToolRegistry(dir));
    expect(error.field).toBe('name');
    expect(error.rule).toBe('required');
    expect(error.message).toContain('broken.json');

    const dir2 = folderWith({ 'cost.json': JSON.stringify(baseTool({ cost: { micros: -1, currency: 'USD' } })) });
    const error2 = registryError(() => loadToolRegistry(dir2));
    expect(error2.field).toBe('cost.micros');
    expect(error2.message).toContain('cost.json');
  });

  it('refuses an unknown field, invalid JSON, a bad schema keyword, a duplicate version and a bad placeholder', () => {
    expect(registryError(() => loadToolRegistry(folderWith({ 'x.json': JSON.stringify(baseTool({ colour: 'red' })) }))).field).toBe('colour');
    expect(registryError(() => loadToolRegistry(folderWith({ 'x.json': '{ nope' }))).rule).toBe('json');
    const typo = baseTool({ arguments: { type: 'object', properties: { a: { type: 'string', maxLenght: 3 } } } });
    const schemaError = registryError(() => loadToolRegistry(folderWith({ 'x.json': JSON.stringify(typo) })));
    expect(schemaError.field).toBe('arguments');
    const sensitiveNotBoolean = baseTool({ arguments: { type: 'object', properties: { a: { type: 'string', 'x-writ-sensitive': 'yes' } } } });
    expect(registryError(() => loadToolRegistry(folderWith({ 'x.json': JSON.stringify(sensitiveNotBoolean) }))).field).toBe('arguments');
    const duplicate = registryError(() => loadToolRegistry(folderWith({ 'a.json': JSON.stringify(baseTool()), 'b.json': JSON.stringify(baseTool()) })));
    expect(duplicate.message).toContain('a.json');
    expect(duplicate.message).toContain('b.json');
    const placeholder = baseTool({ endpoint: { method: 'GET', url: 'http://127.0.0.1:1/x/{secret}' } });
    expect(registryError(() => loadToolRegistry(folderWith({ 'x.json': JSON.stringify(placeholder) }))).field).toBe('endpoint.url');
    expect(registryError(() => loadToolRegistry('/definitely/not/here')).field).toBe('WRIT_TOOLS_DIR');
  });

  it('reads WRIT_TOOLS_DIR when no folder is given', () => {
    const dir = folderWith({ 'a.json': JSON.stringify(baseTool()) });
    const previous = process.env['WRIT_TOOLS_DIR'];
    process.env['WRIT_TOOLS_DIR'] = dir;
    try {
      expect(loadToolRegistry().dir).toBe(dir);
    } finally {
      if (previous === undefined) delete process.env['WRIT_TOOLS_DIR'];
      else process.env['WRIT_TOOLS_DIR'] = previous;
    }
  });
});

describe('validateArguments', () => {
  const tool = createToolRegistry([baseTool()]).get('things.make') as ToolDefinition;

  it('reports every problem with a dotted field path', () => {
    const check = validateArguments(tool, { amount_cents: 0, card: { number: 5 }, notes: [{ pin: 1 }] });
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.problems.map((p) => [p.field, p.rule])).toEqual(
      expect.arrayContaining([
        ['thing_id', 'required'],
        ['amount_cents', 'minimum'],
        ['card.number', 'type'],
        ['notes[0].pin', 'type'],
      ]),
    );
    expect(check.problems.find((p) => p.field === 'amount_cents')?.message).toBe('amount_cents must be >= 1');
  });

  it('refuses arguments that are not an object', () => {
    const check = validateArguments(tool, [1]);
    expect(check).toMatchObject({ ok: false, problems: [{ field: '(arguments)', rule: 'type' }] });
  });
});

describe('redaction', () => {
  const tool = createToolRegistry([baseTool()]).get('things.make') as ToolDefinition;

  it('redacts nested and array sensitive argument fields and leaves the rest', () => {
    const args = { thing_id: 't', amount_cents: 5, secret: 's3cr3t', card: { number: '4111', brand: 'visa' }, notes: [{ pin: '1234' }, { pin: '9' }] };
    expect(redactArguments(tool, args)).toEqual({
      thing_id: 't',
      amount_cents: 5,
      secret: '[redacted]',
      card: { number: '[redacted]', brand: 'visa' },
      notes: [{ pin: '[redacted]' }, { pin: '[redacted]' }],
    });
    expect(args.secret).toBe('s3cr3t');
    expect(redactJson(tool, JSON.stringify(args), 'arguments')).not.toContain('4111');
  });

  it('redacts result fields the result schema marks and echoed sensitive argument names anywhere', () => {
    const result = { id: 'X-1', token: 'tok', echo: { secret: 's3cr3t', number: '4111' } };
    expect(redactResult(tool, result)).toEqual({ id: 'X-1', token: '[redacted]', echo: { secret: '[redacted]', number: '[redacted]' } });
    expect(redactJson(tool, JSON.stringify(result))).toBe('{"echo":{"number":"[redacted]","secret":"[redacted]"},"id":"X-1","token":"[redacted]"}');
  });

  it('follows local $refs and combinators', () => {
    const withRefs = createToolRegistry([
      baseTool({
        arguments: {
          type: 'object',
          $defs: { card: { type: 'object', properties: { pan: { type: 'string', 'x-writ-sensitive': true } } } },
          properties: { card: { $ref: '#/$defs/card' }, alt: { anyOf: [{ type: 'null' }, { type: 'string', 'x-writ-sensitive': true }] } },
        },
        endpoint: { method: 'POST', url: 'http://127.0.0.1:1/things' },
      }),
    ]).get('things.make') as ToolDefinition;
    expect(redactArguments(withRefs, { card: { pan: '4111' }, alt: 'x' })).toEqual({ card: { pan: '[redacted]' }, alt: '[redacted]' });
  });

  it('refuses text that is not JSON', () => {
    expect(() => redactJson(tool, 'nope')).toThrow(/not valid JSON/);
  });
});

describe('requests and side-effect refs', () => {
  const tool = createToolRegistry([baseTool()]).get('things.make') as ToolDefinition;

  it('fills env and argument placeholders and sends a JSON body for POST', () => {
    const request = buildToolRequest(tool, { thing_id: 'a b', amount_cents: 5 }, { THINGS_URL: 'http://127.0.0.1:9' });
    expect(request).toEqual({ method: 'POST', url: 'http://127.0.0.1:9/things/a%20b', body: '{"thing_id":"a b","amount_cents":5}' });
    expect(buildToolRequest(tool, { thing_id: 'x', amount_cents: 1 }, {}).url).toBe('http://127.0.0.1:1/things/x');
  });

  it('sends the other scalar arguments as the query of a GET, and fails on a missing variable', () => {
    const get = { endpoint: { method: 'GET' as const, url: '${BASE}/list' } };
    expect(buildToolRequest(get, { status: 'open', tag: ['a', 'b'], limit: 3 }, { BASE: 'http://127.0.0.1:9' }).url).toBe(
      'http://127.0.0.1:9/list?status=open&tag=a&tag=b&limit=3',
    );
    expect(() => buildToolRequest(get, {}, {})).toThrow(/BASE/);
  });

  it('builds the verification read-back from the result and lists side-effect refs', () => {
    const verify = buildVerifyRequest({ verify: { method: 'GET', url: 'http://127.0.0.1:9/r/{result.id}' } }, {}, { id: 'R 1' }, {});
    expect(verify?.url).toBe('http://127.0.0.1:9/r/R%201');
    expect(sideEffectRefs(tool, { id: 'X-1', nested: { ids: ['A', 'B', 'A'] } })).toEqual(['X-1', 'A', 'B']);
    expect(sideEffectRefs(tool, { other: 1 })).toEqual([]);
  });
});
