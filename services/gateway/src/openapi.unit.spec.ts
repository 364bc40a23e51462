import 'reflect-metadata';
import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants.js';
import { describe, expect, it } from 'vitest';
import { GATEWAY_CONTROLLERS } from './gateway.module.ts';
import { OPENAPI_DOCUMENT } from './openapi.controller.ts';

/** Every route the gateway's controllers register, as "METHOD /path/{param}". */
function registeredRoutes(): string[] {
  const routes: string[] = [];
  for (const controller of GATEWAY_CONTROLLERS) {
    const base = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
    const prototype = controller.prototype as unknown as Record<string, unknown>;
    for (const name of Object.getOwnPropertyNames(prototype)) {
      const handler = prototype[name];
      if (name === 'constructor' || typeof handler !== 'function') continue;
      const method = Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined;
      if (method === undefined) continue;
      const sub = String(Reflect.getMetadata(PATH_METADATA, handler) ?? '');
      const path = `/${[base, sub].filter((part) => part !== '' && part !== '/').join('/')}`.replace(/:([A-Za-z_]+)/g, '{$1}');
      routes.push(`${RequestMethod[method]} ${path}`);
    }
  }
  return routes.sort();
}

function documentedRoutes(): string[] {
  const paths = OPENAPI_DOCUMENT['paths'] as Record<string, Record<string, unknown>>;
  return Object.entries(paths)
    .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

describe('services/gateway/openapi.json', () => {
  it('is an OpenAPI 3.1 document with bearer authentication and an error schema naming field and rule', () => {
    expect(OPENAPI_DOCUMENT['openapi']).toBe('3.1.0');
    const components = OPENAPI_DOCUMENT['components'] as {
      securitySchemes: Record<string, unknown>;
      schemas: Record<string, { properties?: Record<string, { properties?: object }> }>;
    };
    expect(components.securitySchemes['apiKey']).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(Object.keys(components.schemas['Error']?.properties?.['error']?.properties ?? {})).toEqual(['code', 'message', 'field', 'rule', 'details']);
  });

  it('documents every route the controllers register', () => {
    const routes = registeredRoutes();
    expect(routes).toContain('POST /v1/runs/{run_id}/actions');
    expect(routes.length).toBeGreaterThanOrEqual(11);
    const documented = new Set(documentedRoutes());
    expect(routes.filter((route) => !documented.has(route))).toEqual([]);
  });

  it('documents no route the gateway does not serve (besides the runtime health endpoints)', () => {
    const served = new Set([...registeredRoutes(), 'GET /health', 'GET /health/ready']);
    expect(documentedRoutes().filter((route) => !served.has(route))).toEqual([]);
  });

  it('resolves every $ref', () => {
    const text = JSON.stringify(OPENAPI_DOCUMENT);
    const refs = [...text.matchAll(/"\$ref":"#\/components\/(schemas|responses)\/([A-Za-z]+)"/g)];
    expect(refs.length).toBeGreaterThan(10);
    const components = OPENAPI_DOCUMENT['components'] as Record<string, Record<string, unknown>>;
    for (const [, kind, name] of refs) expect(components[kind ?? '']?.[name ?? ''], `${kind}/${name}`).toBeDefined();
  });

  it('documents the body refusals (400, 413, 415 of the strict JSON door) on every operation that takes a body', () => {
    const paths = OPENAPI_DOCUMENT['paths'] as Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>;
    const withBody = Object.entries(paths).flatMap(([path, operations]) =>
      Object.entries(operations)
        .filter(([, operation]) => operation.requestBody !== undefined)
        .map(([method, operation]) => ({ route: `${method.toUpperCase()} ${path}`, statuses: Object.keys(operation.responses) })),
    );
    expect(withBody.map((o) => o.route)).toContain('POST /v1/runs/{run_id}/actions');
    for (const { route, statuses } of withBody) expect(statuses, route).toEqual(expect.arrayContaining(['400', '413', '415']));
  });
});
