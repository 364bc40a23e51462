import { describe, expect, it } from 'vitest';
import { importedDefinitions } from './import.ts';
import { mcpTargetOf, mcpToolUrl } from './upstream-call.ts';
import { parseUpstreams } from './upstreams.ts';

const lookup = {
  name: 'orders.lookup',
  version: '1.0.0',
  effect: 'read',
  risk: 'low',
  cost: { micros: 0, currency: 'USD' },
  timeout_ms: 5000,
  idempotent: true,
};

describe('the upstreams file', () => {
  it('names the field and the rule of a bad value', () => {
    const bad = (tool: Record<string, unknown>) => () =>
      parseUpstreams({ servers: { orders: { url: 'http://127.0.0.1:1/mcp', tools: { lookup_order: tool } } } });
    expect(bad({ ...lookup, effect: 'delete' })).toThrow(expect.objectContaining({ field: 'servers.orders.tools.lookup_order.effect', rule: 'enum' }) as Error);
    expect(bad({ ...lookup, name: 'Orders' })).toThrow(expect.objectContaining({ field: 'servers.orders.tools.lookup_order.name', rule: 'pattern' }) as Error);
    expect(bad({ ...lookup, idempotent: undefined })).toThrow(
      expect.objectContaining({ field: 'servers.orders.tools.lookup_order.idempotent', rule: 'required' }) as Error,
    );
    expect(bad({ ...lookup, surprise: 1 })).toThrow(expect.objectContaining({ rule: 'additionalProperties' }) as Error);
    expect(() => parseUpstreams({ servers: { orders: { url: 'http://x/mcp#a', tools: {} } } })).toThrow(
      expect.objectContaining({ field: 'servers.orders.url' }) as Error,
    );
  });

  it('imports only declared tools, with the operator’s effect, risk and schema or the upstream’s frozen one', () => {
    const file = parseUpstreams({
      servers: {
        orders: {
          url: 'http://127.0.0.1:1/mcp',
          credential: { env: 'ORDERS_TOKEN' },
          tools: {
            lookup_order: lookup,
            cancel_order: {
              ...lookup,
              name: 'orders.cancel',
              effect: 'write',
              risk: 'medium',
              idempotent: false,
              arguments: { type: 'object', required: ['order_id'] },
            },
          },
        },
      },
    });
    const listed = new Map([
      [
        'orders',
        [
          { name: 'lookup_order', description: 'Look up.', inputSchema: { type: 'object', properties: { order_id: { type: 'string' } } } },
          { name: 'cancel_order', inputSchema: { type: 'object' } },
          { name: 'internal_debug', inputSchema: { type: 'object' } },
        ],
      ],
    ]);
    const definitions = importedDefinitions(file, listed);
    expect(definitions.map((d) => d['name'])).toEqual(['orders.lookup', 'orders.cancel']);
    expect(definitions[0]).toMatchObject({
      effect: 'read',
      description: 'Look up.',
      arguments: { properties: { order_id: { type: 'string' } } },
      endpoint: { method: 'POST', url: 'http://127.0.0.1:1/mcp#mcp-tool=lookup_order' },
      credential: { env: 'ORDERS_TOKEN' },
      retry: { max_attempts: 1 },
    });
    expect(definitions[1]).toMatchObject({ effect: 'write', risk: 'medium', arguments: { required: ['order_id'] } });
    expect(() => importedDefinitions(file, new Map([['orders', []]]))).toThrow(
      expect.objectContaining({ field: 'servers.orders.tools.lookup_order', rule: 'must be a tool the server lists' }) as Error,
    );
  });

  it('names the upstream tool in the registry URL, and nothing else is taken for one', () => {
    const url = mcpToolUrl('http://127.0.0.1:1/mcp', 'a tool/x');
    expect(mcpTargetOf(url)).toEqual({ server: 'http://127.0.0.1:1/mcp', tool: 'a tool/x' });
    expect(mcpTargetOf('http://127.0.0.1:1/refunds#section')).toBeUndefined();
    expect(mcpTargetOf('http://127.0.0.1:1/refunds')).toBeUndefined();
  });
});
