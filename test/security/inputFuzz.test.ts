import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count } from '../support/figures.js';
import { ContractChecker } from '../support/openapi.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * Bad input never takes the API down: every documented operation gets random JSON (and
 * random query strings) with a valid key, and must answer below 500 with problem+json for
 * every error. The seed is fixed so a failure reproduces exactly.
 */
let stack: TestStack;
let key: string;
let agentId: string;

beforeAll(async () => {
  stack = await startTestStack();
  ({ apiKey: key } = await stack.newOrg('Fuzzed org'));
  agentId = (await stack.api('/v1/agents', { key, body: { name: 'Target', allow_callback_urls: true } })).body.id;
});
afterAll(() => stack?.close());

describe('random input against every documented operation', () => {
  it('never gets a 5xx, every error is problem+json, every answer is the documented one', async ({ task }) => {
    const doc = (await stack.api('/openapi.json')).body;
    const contract = new ContractChecker(doc);
    const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => [m.toUpperCase(), path] as const),
    );
    const json = fc.jsonValue({ maxDepth: 4 });
    const body = fc.oneof(
      json,
      fc.record(
        {
          message: fc.oneof(fc.string(), json),
          name: fc.oneof(fc.string(), json),
          url: fc.oneof(fc.webUrl(), fc.string()),
          events: fc.oneof(fc.array(fc.string()), json),
          provider: json,
          scopes: json,
          context: json,
          metadata: json,
          agent_ids: json,
          headers: json,
        },
        { requiredKeys: [] },
      ),
    );
    const failures: string[] = [];
    const mismatches: string[] = [];
    let cases = 0;
    let serverErrors = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...operations), body, fc.string({ maxLength: 20 }), async ([method, path], payload, q) => {
        const concrete = path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'token' ? 'whk_fuzz' : agentId));
        const query = method === 'GET' ? `?page=${encodeURIComponent(q)}&limit=${encodeURIComponent(q)}&agent_id=${encodeURIComponent(q)}&status=${encodeURIComponent(q)}` : '';
        const response = await stack.api(concrete + query, { method, key, body: method === 'GET' || method === 'DELETE' ? undefined : payload });
        // 502/503/504 are documented answers about the agent or the engine, not crashes.
        cases++;
        try {
          contract.expectDocumented(method, concrete, response);
        } catch (err) {
          mismatches.push((err as Error).message.split('\n').slice(0, 2).join(' ').slice(0, 300));
        }
        if (response.status >= 500 && ![502, 503, 504].includes(response.status)) {
          serverErrors++;
          failures.push(`${method} ${concrete}${query} ${JSON.stringify(payload).slice(0, 200)} → ${response.status}`);
        }
        if (response.status >= 400 && !(response.headers.get('content-type') ?? '').startsWith('application/problem+json')) {
          failures.push(`${method} ${concrete} → ${response.status} without problem+json`);
        }
        // Keep the target alive: a random DELETE must not end the sweep early.
        if (method === 'DELETE' && path === '/v1/agents/{id}' && response.status === 204) {
          agentId = (await stack.api('/v1/agents', { key, body: { name: 'Target', allow_callback_urls: true } })).body.id;
        }
      }),
      { numRuns: 1500, seed: 20261125 },
    );
    count(task, { 'fuzz cases': cases, 'fuzz 5xx': serverErrors, 'fuzz answers off the document': mismatches.length });
    expect(failures.slice(0, 10)).toEqual([]);
    expect([...new Set(mismatches)].slice(0, 10)).toEqual([]);
  }, 300_000);
});

describe('hostile bodies', () => {
  it('answers 413, 415 and 400 (malformed, invalid UTF-8, deep nesting) as problems', async () => {
    const url = `${stack.baseUrl}/v1/agents/${agentId}/runs`;
    const send = (body: string | Uint8Array, type = 'application/json') =>
      fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': type }, body });
    const huge = await send(JSON.stringify({ message: 'x'.repeat(2 * 1024 * 1024) }));
    expect(huge.status).toBe(413);
    const xml = await send('<message>hi</message>', 'application/xml');
    expect(xml.status).toBe(415);
    const badUtf8 = await send(new Uint8Array([0x7b, 0x22, 0x6d, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    expect(badUtf8.status).toBe(400);
    expect(((await badUtf8.json()) as { code: string }).code).toBe('MALFORMED_JSON');
    const deep = await send(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect(deep.status).toBeLessThan(500);
    expect(deep.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    for (const response of [huge, xml]) expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await stack.api('/healthz')).status).toBe(200);
  });
});
