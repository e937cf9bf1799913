import { Validator } from '@seriousme/openapi-schema-validator';
import Router from '@koa/router';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes, createApp } from '../../src/api/index.js';
import type { AppState } from '../../src/api/context.js';
import { mountRoutes } from '../../src/api/route.js';
import { startTestStack, testConfig, type TestStack } from '../support/stack.js';
import { createLogger } from '../../src/logger.js';
import { outboundClient } from '../../src/outbound/fromConfig.js';
import { secretBoxFromConfig } from '../../src/secrets/box.js';

let stack: TestStack;
let doc: any;

beforeAll(async () => {
  stack = await startTestStack({ worker: false });
  const response = await stack.api('/openapi.json');
  expect(response.status).toBe(200);
  doc = response.body;
});
afterAll(() => stack?.close());

const deps = () => ({
  config: testConfig(),
  db: stack.database.db,
  temporal: stack.temporal,
  log: { child: () => ({}) } as never,
  readiness: { database: async () => true, temporal: async () => true },
  listen: async () => async () => undefined,
  http: outboundClient(testConfig(), createLogger('silent', 'test')),
  secrets: secretBoxFromConfig(testConfig()),
  clock: () => new Date(),
});

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('documents exactly the routes the router serves', () => {
    const router = new Router<AppState>();
    mountRoutes(router, deps(), apiRoutes(deps()));
    const served = new Set<string>();
    for (const layer of router.stack) {
      for (const method of layer.methods) {
        if (method === 'HEAD') continue; // Koa answers HEAD for every GET
        served.add(`${method.toLowerCase()} ${String(layer.path).replace(/:([A-Za-z_]+)/g, '{$1}')}`);
      }
    }
    const documented = new Set<string>();
    for (const [path, operations] of Object.entries(doc.paths as Record<string, object>)) {
      for (const method of Object.keys(operations)) documented.add(`${method} ${path}`);
    }
    expect([...served].sort()).toEqual([...documented].sort());
    expect(served.size).toBeGreaterThanOrEqual(20);
  });

  it('gives every operation its auth, scope, body and error responses', () => {
    for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, op] of Object.entries(operations)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(op.operationId, where).toMatch(/^[a-zA-Z]+$/);
        expect(op.responses['500'], where).toBeDefined();
        if (op.security.length && op.security[0].apiKey) {
          // A route open to any valid credential (GET /v1/me) says so instead of naming a scope.
          if (op['x-required-scope'] === undefined) expect(op.description, where).toContain('no scope');
          else expect(op['x-required-scope'], where).toMatch(/^[a-z]+:(read|write)$/);
          expect(op.description, where).toContain(op['x-required-scope'] ?? 'no scope');
          expect(op.responses['401'].content['application/problem+json'].schema.$ref, where).toBe('#/components/schemas/Problem');
          expect(op.responses['403'], where).toBeDefined();
        }
        if (op.requestBody) {
          expect(op.responses['422'] ?? op.responses['400'], where).toBeDefined();
          expect(op.requestBody.content['application/json'].schema, where).toBeTypeOf('object');
        }
        if (path.includes('{')) expect(op.responses['404'], where).toBeDefined();
      }
    }
    const createAgent = doc.paths['/v1/agents'].post;
    const body = createAgent.requestBody.content['application/json'].schema;
    expect(body.required).toEqual(['name']);
    expect(body.additionalProperties).toBe(false);
    expect(body.properties.name.maxLength).toBe(200);
    expect(doc.components.securitySchemes.apiKey.scheme).toBe('bearer');
  });
});

describe('/docs', () => {
  it('serves a reference page whose assets come from this server', async () => {
    const page = await stack.api('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const assets = [...String(page.body).matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const asset of assets) {
      expect(asset.startsWith('/'), `${asset} must be served locally`).toBe(true);
      const response = await fetch(`${stack.baseUrl}${asset}`);
      expect(response.status, asset).toBe(200);
      expect((await response.arrayBuffer()).byteLength, asset).toBeGreaterThan(20);
    }
    expect((await stack.api('/docs/assets/..%2Fpackage.json')).status).toBe(404);
  });

  it('explains every error code at the anchor problem types point to', async () => {
    const errors = await stack.api('/docs/errors');
    expect(errors.status).toBe(200);
    const missing = await stack.api('/v1/agents/00000000-0000-4000-8000-000000000000', { key: (await stack.newOrg()).apiKey });
    const anchor = String(missing.body.type).split('#')[1];
    expect(errors.body).toContain(`id="${anchor}"`);
  });
});

it('creates the app without listening (composition root contract)', () => {
  expect(typeof createApp(deps()).callback()).toBe('function');
});
