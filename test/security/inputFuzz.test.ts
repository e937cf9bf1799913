import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../../src/api/index.js';
import type { AppDeps } from '../../src/api/context.js';
import { validated } from '../../src/api/validate.js';
import { AppError } from '../../src/errors.js';
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

/** Text that has broken parsers, databases and terminals: controls, unpaired surrogates, direction overrides, noncharacters … */
const HOSTILE_PIECES = [
  '\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d', '\ude00', '\u202e', '\u202d', '\u2066', '\u200b', '\u200d', '\ufeff',
  '\ufffe', '\uffff', '\ufffd', '\u0085', '\u2028', '\u2029', '\r', '\n', '\r\n', '\t', '\u0001', '\u0008', '\u001b[31m', '\u007f', '\u0080',
  '\u009f', 'e\u0301\u0301\u0301', '\u{10ffff}', '\u{1f600}', '\u{1f469}\u200d\u{1f4bb}', '\u{e0001}', '\u{f0000}', '%00', '%c0%80', '\\u0000',
  '"', '\\', '{{', '}}', '{{ payload }}', "'; drop table agents; --", '../../../etc/passwd', '${jndi:ldap://x/a}', '<script>alert(1)</script>',
  'İ', 'ß', 'ﬃ', 'ǅ', 'Ⅻ', '\u00a0', '\u3000', '\u0000\u0000', 'A'.repeat(300),
];
const hasNul = (text: string) => text.includes('\u0000');
/** End to end over HTTP (storage included); the route-level sweep below covers every operation's validation in-process. */
const HTTP_CASES = 2_000;
const ROUTE_CASES = 8_000;
const hasLoneSurrogate = (text: string) => /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);

describe('hostile text in every kind of field', () => {
  it('is stored as sent or refused 4xx naming the field; never a 5xx', async ({ task }) => {
    const triggerId = (await stack.api(`/v1/agents/${agentId}/triggers`, { key, body: { name: 'fuzz', scheme: 'none', message_template: 'T {{ payload.text }} {{ payload | json }}' } })).body.id;
    const endpointId = (await stack.api('/v1/endpoints', { key, body: { url: 'https://example.com/fuzz', events: ['run.completed'] } })).body.id;
    const missing = '00000000-0000-4000-8000-000000000000';
    // Each target: where the text goes, and the field the refusal must name. Targets that would start a run point at an unknown
    // agent or token, so validation runs in full and the answer is a 404 for acceptable text, not thousands of runs.
    const targets: Array<{ method: string; path: string; body: (t: string) => unknown; field: string; kept?: (body: any, t: string) => boolean; auth?: false }> = [
      { method: 'POST', path: '/v1/agents', body: (t) => ({ name: `n${t}` }), field: 'name', kept: (b, t) => b.name === `n${t}`.trim() },
      {
        method: 'PATCH',
        path: `/v1/agents/${agentId}`,
        body: (t) => ({ instructions: t, metadata: { note: t } }),
        field: 'instructions',
        // PGlite's client decodes text with a TextDecoder, which drops one leading U+FEFF (PostgreSQL's pg client keeps it).
        kept: (b, t) => (b.instructions === t || (stack.database.kind === 'pglite' && `\ufeff${b.instructions}` === t)) && b.metadata.note === t,
      },
      { method: 'PATCH', path: `/v1/agents/${agentId}`, body: (t) => ({ metadata: { [`k${t}`]: 1 } }), field: 'metadata', kept: (b, t) => b.metadata[`k${t}`] === 1 },
      { method: 'POST', path: '/v1/api-keys', body: (t) => ({ name: `k${t}` }), field: 'name', kept: (b, t) => b.name === `k${t}`.trim() },
      { method: 'PATCH', path: `/v1/endpoints/${endpointId}`, body: (t) => ({ description: t }), field: 'description' },
      { method: 'POST', path: `/v1/triggers/${triggerId}/test`, body: (t) => ({ payload: { text: t, [t]: [t] } }), field: 'payload' },
      { method: 'POST', path: `/v1/agents/${missing}/runs`, body: (t) => ({ message: `m${t}`, metadata: { t }, context: { t } }), field: 'message' },
      { method: 'POST', path: '/api/webhook/whk_fuzz', body: (t) => ({ message: `m${t}`, user_id: t }), field: 'message', auth: false },
      { method: 'POST', path: '/api/triggers/trg_fuzz', body: (t) => ({ text: t, nested: { [t]: t } }), field: 'text', auth: false },
    ];
    const text = fc
      .array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...HOSTILE_PIECES) }, fc.string({ unit: 'binary', maxLength: 4 }), fc.string({ maxLength: 6 })), {
        minLength: 1,
        maxLength: 8,
      })
      .map((parts) => parts.join(''));
    const cases = fc.sample(fc.tuple(fc.nat(targets.length - 1), text), { numRuns: HTTP_CASES, seed: 20261130 });

    const failures: string[] = [];
    let sent = 0;
    let refused = 0;
    let stored = 0;
    let serverErrors = 0;
    const one = async ([index, value]: [number, string]) => {
      const target = targets[index]!;
      const body = target.body(value);
      const response = await stack.api(target.path, { method: target.method, key: target.auth === false ? undefined : key, body: JSON.stringify(body) });
      sent++;
      const where = `${target.method} ${target.path} ${JSON.stringify(value)}`;
      if (response.status >= 500) {
        serverErrors++;
        failures.push(`${where} → ${response.status}`);
        return;
      }
      if (response.status >= 400 && !(response.headers.get('content-type') ?? '').startsWith('application/problem+json')) failures.push(`${where} → ${response.status} without problem+json`);
      // Nothing unstorable is ever accepted: it is refused, naming a field.
      if (hasNul(value) || hasLoneSurrogate(value)) {
        const named = Object.keys(response.body?.details ?? {});
        if (![400, 422].includes(response.status) || named.length === 0) failures.push(`${where} → ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`);
        refused++;
      } else if (response.status < 300 && target.kept) {
        if (!target.kept(response.body, value)) failures.push(`${where}: stored ${JSON.stringify(response.body).slice(0, 200)}`);
        stored++;
      }
    };
    // A few requests in flight at once: the sweep stays within seconds on a busy machine.
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < cases.length) await one(cases[next++]!);
      }),
    );
    count(task, { 'fuzz cases with hostile text': sent, 'fuzz 5xx': serverErrors });
    expect(failures.slice(0, 10)).toEqual([]);
    expect(sent).toBe(HTTP_CASES);
    // Both outcomes were exercised: text refused for what it holds, and odd but valid text kept exactly.
    expect(refused).toBeGreaterThan(HTTP_CASES / 10);
    expect(stored).toBeGreaterThan(HTTP_CASES / 10);
  }, 300_000);
});

describe('hostile text through every operation\'s validation', () => {
  it('refuses unstorable text in any field of any body or query naming it, and never throws anything but a 4xx', async ({ task }) => {
    const deps = { config: stack.config, db: stack.database.db, temporal: stack.temporal, log: undefined, secrets: stack.secrets } as unknown as AppDeps;
    const specs = apiRoutes(deps).filter((spec) => spec.body || spec.query);
    expect(specs.length).toBeGreaterThan(25);
    const shapes: Array<(t: string) => unknown> = [
      (t) => ({ name: t }), (t) => ({ message: t }), (t) => ({ message: 'm', user_id: t }), (t) => ({ instructions: t, description: t }),
      (t) => ({ metadata: { [t]: t } }), (t) => ({ message: 'm', context: { k: t } }), (t) => ({ payload: { a: [t, { [t]: 1 }] } }),
      (t) => ({ events: [t] }), (t) => ({ url: t }), (t) => ({ headers: { 'X-A': t } }), (t) => ({ message_template: t, scheme: 'none', name: 'n' }),
      (t) => ({ provider: { kind: 'http', url: 'https://agent.example', headers: { 'X-A': t } } }), (t) => ({ scopes: [t], name: 'k' }), (t) => t,
      (t) => ({ provider: { kind: 'openai', base_url: 'https://llm.example/v1', model: t, api_key: t } }), (t) => ({ [t]: t }),
    ];
    const text = fc
      .array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...HOSTILE_PIECES) }, fc.string({ unit: 'binary', maxLength: 4 })), { minLength: 1, maxLength: 6 })
      .map((parts) => parts.join(''));
    const cases = fc.sample(fc.tuple(fc.nat(specs.length - 1), fc.nat(shapes.length - 1), text, fc.boolean()), { numRuns: ROUTE_CASES, seed: 20261130 });
    const failures: string[] = [];
    let refused = 0;
    for (const [specIndex, shapeIndex, value, inQuery] of cases) {
      const spec = specs[specIndex]!;
      const body = shapes[shapeIndex]!(value);
      const ctx = { params: {}, query: inQuery ? { page: value, status: value, agent_id: value } : {}, state: { body } };
      let threw: unknown;
      await validated({ body: spec.body, query: spec.query }, async () => undefined, spec.invalidStatus)(ctx as never, async () => undefined).catch((err: unknown) => {
        threw = err;
      });
      const unstorable = hasNul(value) || hasLoneSurrogate(value);
      const where = `${spec.method} ${spec.path} ${JSON.stringify(body).slice(0, 120)}`;
      if (threw !== undefined && !(threw instanceof AppError && threw.status < 500)) failures.push(`${where} threw ${String(threw)}`);
      const usedInput = (spec.body && true) || (spec.query && inQuery);
      if (unstorable && usedInput) {
        const named = threw instanceof AppError ? Object.keys(threw.details ?? {}) : [];
        if (!(threw instanceof AppError) || named.length === 0) failures.push(`${where} accepted unstorable text`);
        else refused++;
      }
    }
    count(task, { 'fuzz cases with hostile text': cases.length });
    expect(failures.slice(0, 10)).toEqual([]);
    expect(refused).toBeGreaterThan(ROUTE_CASES / 10);
  }, 120_000);
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
    // Overlong NUL, a CESU-8 surrogate and a code point above U+10FFFF: not UTF-8, so not JSON text.
    for (const bytes of [[0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]]) {
      const odd = await send(new Uint8Array([...Buffer.from('{"message":"'), ...bytes, ...Buffer.from('"}')]));
      expect(odd.status, bytes.join()).toBe(400);
      expect(((await odd.json()) as { code: string }).code).toBe('MALFORMED_JSON');
    }
    const deep = await send(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect(deep.status).toBeLessThan(500);
    expect(deep.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    for (const response of [huge, xml]) expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((await stack.api('/healthz')).status).toBe(200);
  });
});
