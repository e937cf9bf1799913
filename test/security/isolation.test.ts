import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count } from '../support/figures.js';
import { completion, startFakeOpenAi, type FakeOpenAi } from '../support/fakeOpenAi.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

/**
 * What an outside red team broke (issue 13): a tenant naming the worker's environment
 * variables, agent headers that smuggle framing, the endpoint cap under concurrency, NUL bytes
 * and lone surrogates answered with 500, and a trigger schema that stalled the event loop.
 * On real PostgreSQL: the cap race needs concurrent transactions.
 *
 * Addresses: the operator's private model server listens on 127.0.0.1, which tenants may not
 * reach (the allow-list opens only 127.0.0.2); a tenant's own "public" server listens on 127.0.0.2.
 */
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;
const OPERATOR_KEY = `sk-operator-${randomBytes(12).toString('hex')}`;
/** The worker's environment: what a tenant once could read by naming it. */
const WORKER_ENV = {
  ADMIN_TOKEN,
  DATABASE_URL: `postgres://aw:db-password-${randomBytes(8).toString('hex')}@db.internal:5432/aw`,
  SECRETS_KEY: randomBytes(32).toString('base64'),
  OPERATOR_LLM_KEY: OPERATOR_KEY,
};

let stack: TestStack;
let operator: FakeOpenAi;
let tenantServer: FakeOpenAi;
let key: string;
let orgId: string;

beforeAll(async () => {
  operator = await startFakeOpenAi('127.0.0.1');
  tenantServer = await startFakeOpenAi('127.0.0.2');
  const providers = [{ name: 'operator-llm', base_url: operator.baseUrl, api_key_env: 'OPERATOR_LLM_KEY', allow_private: true, models: ['llama3.1'] }];
  stack = await startTestStack({
    postgres: true,
    config: { ADMIN_TOKEN, OUTBOUND_ALLOWED_CIDRS: '127.0.0.2/32', MODEL_PROVIDERS: JSON.stringify(providers) },
    workerEnv: WORKER_ENV,
  });
  ({ apiKey: key, orgId } = await stack.newOrg('Isolation org'));
});
afterAll(async () => {
  await stack?.close();
  await operator?.close();
  await tenantServer?.close();
});

async function finishedRun(runId: string) {
  return eventually(async () => {
    const run = await stack.database.db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirst();
    return run && run.status !== 'processing' ? run : undefined;
  }, `run ${runId} to end`);
}

async function runOf(agentId: string, message = 'hello') {
  const accepted = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message } });
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  return finishedRun(accepted.body.run_id);
}

const requestText = (r: FakeOpenAi['requests'][number]) => `${JSON.stringify(r.headers)}\n${r.path}\n${r.body}`;

describe('tenants never name the worker\'s environment variables', () => {
  it('refuses api_key_env (and any field naming a variable or file) with 422, on create and on update', async () => {
    const legacy = { kind: 'openai', base_url: `${tenantServer.baseUrl}`, model: 'm', api_key_env: 'ADMIN_TOKEN' };
    const created = await stack.api('/v1/agents', { key, body: { name: 'x', provider: legacy } });
    expect(created.status).toBe(422);
    expect(created.body.details.provider).toMatch(/api_key_env: naming an environment variable, file or other server-side resource is not allowed/);
    for (const field of ['key_file', 'api_key_path', 'env']) {
      const other = await stack.api('/v1/agents', { key, body: { name: 'x', provider: { kind: 'openai', base_url: tenantServer.baseUrl, model: 'm', [field]: 'ADMIN_TOKEN' } } });
      expect(other.status, field).toBe(422);
    }
    const agent = await stack.api('/v1/agents', { key, body: { name: 'plain' } });
    const patched = await stack.api(`/v1/agents/${agent.body.id}`, { method: 'PATCH', key, body: { provider: legacy } });
    expect(patched.status).toBe(422);
    expect(JSON.stringify(patched.body)).toContain('api_key_env');
  });

  it('the OpenAPI document offers no request field that names a variable, file or path', async () => {
    const doc = (await stack.api('/openapi.json')).body;
    const offending: string[] = [];
    const seen = new Set<unknown>();
    const walk = (schema: any, where: string) => {
      if (!schema || typeof schema !== 'object' || seen.has(schema)) return;
      seen.add(schema);
      if (typeof schema.$ref === 'string') walk(doc.components.schemas[schema.$ref.split('/').at(-1)], where);
      for (const [name, child] of Object.entries(schema.properties ?? {})) {
        if (/(^|_)(env|file|path|socket)$/i.test(name) || /environment variable/i.test(String((child as any)?.description ?? ''))) offending.push(`${where}.${name}`);
        walk(child, `${where}.${name}`);
      }
      for (const key of ['items', 'additionalProperties', 'not']) walk(schema[key], where);
      for (const key of ['anyOf', 'oneOf', 'allOf']) for (const child of schema[key] ?? []) walk(child, where);
    };
    let bodies = 0;
    for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(operations)) {
        // Path parameters are route placeholders (ids, tokens, the docs page's fixed asset names); query and headers are inputs.
        for (const parameter of operation.parameters ?? []) {
          if (parameter.in !== 'path' && /(^|_)(env|file|path)$/i.test(parameter.name)) offending.push(`${method} ${path} ?${parameter.name}`);
        }
        const body = operation.requestBody?.content?.['application/json']?.schema;
        if (body) {
          bodies++;
          walk(body, `${method.toUpperCase()} ${path}`);
        }
      }
    }
    expect(bodies).toBeGreaterThan(10); // the walk saw the request bodies
    expect(offending).toEqual([]);
  });

  it('lists the operator\'s providers by name and models only', async () => {
    const listed = await stack.api('/v1/model-providers', { key });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({ data: [{ name: 'operator-llm', models: ['llama3.1'] }] });
    expect(JSON.stringify(listed.body)).not.toMatch(/OPERATOR_LLM_KEY|127\.0\.0\.1|sk-/);
  });

  it('an operator provider is reached at its private plain-HTTP address with the operator\'s key; only it', async () => {
    const unknown = await stack.api('/v1/agents', { key, body: { name: 'x', provider: { kind: 'openai', provider: 'nope', model: 'llama3.1' } } });
    expect(unknown.status).toBe(422);
    expect(unknown.body.details['provider.provider']).toMatch(/not a model provider/);
    const unoffered = await stack.api('/v1/agents', { key, body: { name: 'x', provider: { kind: 'openai', provider: 'operator-llm', model: 'gpt-5' } } });
    expect(unoffered.status).toBe(422);

    const agent = await stack.api('/v1/agents', { key, body: { name: 'Operator model', provider: { kind: 'openai', provider: 'operator-llm', model: 'llama3.1' } } });
    expect(agent.status, JSON.stringify(agent.body)).toBe(201);
    operator.answer(completion('from the operator model'));
    const run = await runOf(agent.body.id);
    expect(run.status, run.error ?? '').toBe('completed');
    expect(operator.requests.at(-1)!.headers.authorization).toBe(`Bearer ${OPERATOR_KEY}`);

    // The same private address as a tenant's own URL: refused when saved (a literal) …
    const literal = await stack.api('/v1/agents', { key, body: { name: 'x', provider: { kind: 'openai', base_url: operator.baseUrl, model: 'm' } } });
    expect(literal.status).toBe(422);
    expect(literal.body.details['provider.base_url']).toMatch(/private, loopback or link-local/);
    // … and at connect time when a name resolves there.
    const seen = operator.requests.length;
    const named = await stack.api('/v1/agents', { key, body: { name: 'x', provider: { kind: 'openai', base_url: operator.baseUrl.replace('127.0.0.1', 'localhost'), model: 'm' } } });
    expect(named.status).toBe(201);
    const blocked = await runOf(named.body.id);
    expect(blocked.status).toBe('failed');
    expect(blocked.error).toMatch(/could not be reached \(blocked\)/);
    expect(operator.requests.length).toBe(seen);
  });

  it('a tenant\'s own server gets its own key and never a worker variable; a key is never read back', async () => {
    const ownKey = `sk-tenant-${randomBytes(8).toString('hex')}`;
    const agent = await stack.api('/v1/agents', { key, body: { name: 'Own model', provider: { kind: 'openai', base_url: tenantServer.baseUrl, model: 'm', api_key: ownKey } } });
    expect(agent.status, JSON.stringify(agent.body)).toBe(201);
    expect(agent.body.provider.api_key).toBe('***');
    for (const read of [await stack.api(`/v1/agents/${agent.body.id}`, { key }), await stack.api('/v1/agents?limit=100', { key })]) {
      expect(JSON.stringify(read.body)).not.toContain(ownKey);
    }
    expect(JSON.stringify(await stack.database.db.selectFrom('agents').select('provider').where('id', '=', agent.body.id).executeTakeFirst())).not.toContain(ownKey);

    const run = await runOf(agent.body.id);
    expect(run.status, run.error ?? '').toBe('completed');
    expect(tenantServer.requests.at(-1)!.headers.authorization).toBe(`Bearer ${ownKey}`);

    // Agents stored before this change still name a variable: they keep answering the API, their
    // runs fail with the same words for a set and an unset variable, and nothing is sent.
    const before = tenantServer.requests.length;
    const legacy = async (variable: string) => {
      const id = randomUUID();
      await stack.database.db
        .insertInto('agents')
        .values({ id, org_id: orgId, name: `Legacy ${variable}`, provider: JSON.stringify({ kind: 'openai', base_url: tenantServer.baseUrl, model: 'm', api_key_env: variable }), updated_at: new Date() })
        .execute();
      const read = await stack.api(`/v1/agents/${id}`, { key });
      expect(read.status).toBe(200);
      return (await runOf(id)).error ?? '';
    };
    const setError = await legacy('ADMIN_TOKEN');
    const unsetError = await legacy('NO_SUCH_VARIABLE_ANYWHERE');
    expect(setError).toMatch(/api_key_env.*no longer honoured/);
    expect(setError.replace('ADMIN_TOKEN', 'X')).toBe(unsetError.replace('NO_SUCH_VARIABLE_ANYWHERE', 'X'));
    expect(tenantServer.requests.length).toBe(before);

    const leaked = tenantServer.requests.flatMap((r) => Object.entries(WORKER_ENV).filter(([, value]) => requestText(r).includes(value)).map(([name]) => name));
    expect(leaked).toEqual([]);
    expect(tenantServer.requests.length).toBeGreaterThan(0);
  });
});

describe('agent HTTP headers follow the endpoint header rules', () => {
  const bad: Array<[string, Record<string, string>]> = [
    ['CRLF in a value', { 'X-Token': 'a\r\nInjected: 1' }],
    ['a bare LF', { 'X-Token': 'a\nb' }],
    ['Host', { Host: 'internal.example' }],
    ['Content-Length', { 'Content-Length': '0' }],
    ['Transfer-Encoding', { 'Transfer-Encoding': 'chunked' }],
    ['Connection', { connection: 'close' }],
    ['a control character', { 'X-Token': 'a\u0007b' }],
  ];

  it('answers 422 naming the header on create and update, for agents and endpoints alike', async () => {
    const url = `${tenantServer.origin}/agent`;
    const agent = await stack.api('/v1/agents', { key, body: { name: 'Header agent', provider: { kind: 'http', url, headers: { Authorization: 'Bearer fine' } } } });
    expect(agent.status, JSON.stringify(agent.body)).toBe(201);
    for (const [what, headers] of bad) {
      const created = await stack.api('/v1/agents', { key, body: { name: 'x', provider: { kind: 'http', url, headers } } });
      expect(created.status, what).toBe(422);
      expect(Object.keys(created.body.details).join(), what).toMatch(/^provider\.headers/);
      const patched = await stack.api(`/v1/agents/${agent.body.id}`, { method: 'PATCH', key, body: { provider: { kind: 'http', url, headers } } });
      expect(patched.status, what).toBe(422);
      const endpoint = await stack.api('/v1/endpoints', { key, body: { url: `${tenantServer.origin}/hook`, events: ['run.completed'], headers } });
      expect(endpoint.status, what).toBe(422);
    }
  });
});

describe('the endpoint cap holds under concurrent creates', () => {
  it('49 active + 30 concurrent creates end with exactly 50 active, the rest 409 LIMIT_EXCEEDED', async () => {
    for (let round = 0; round < 2; round++) {
      const org = await stack.newOrg(`Capped org ${round}`);
      const create = (i: number) => stack.api('/v1/endpoints', { key: org.apiKey, body: { url: `${tenantServer.origin}/hook/${i}`, events: ['run.completed'] } });
      for (let batch = 0; batch < 49; batch += 7) {
        const made = await Promise.all(Array.from({ length: 7 }, (_, i) => create(batch + i)));
        expect(made.map((m) => m.status)).toEqual(Array(7).fill(201));
      }
      // Warm 30 connections first, so the creates reach the server together rather than one TCP handshake apart.
      await Promise.all(Array.from({ length: 30 }, () => stack.api('/v1/endpoints?limit=1', { key: org.apiKey })));
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => create(100 + i)));
      const active = await stack.database.db
        .selectFrom('endpoints')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('org_id', '=', org.orgId)
        .where('enabled', '=', true)
        .where('deleted_at', 'is', null)
        .executeTakeFirstOrThrow();
      expect(Number(active.n), `round ${round}`).toBe(50);
      expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
      expect(answers.filter((a) => a.status === 409 && a.body.code === 'LIMIT_EXCEEDED')).toHaveLength(29);
    }
  });
});

describe('NUL bytes and lone surrogates are refused as 4xx naming the field, never a 500', () => {
  it('in our fields (422) and in third-party payloads (400)', async ({ task }) => {
    const agent = (await stack.api('/v1/agents', { key, body: { name: 'Target' } })).body.id as string;
    const webhook = (await stack.api(`/v1/agents/${agent}/webhooks`, { key, body: { name: 'inbox' } })).body;
    const trigger = (await stack.api(`/v1/agents/${agent}/triggers`, { key, body: { name: 't', scheme: 'none', message_template: 'Got {{ payload.text }}' } })).body;
    const hostile = { NUL: 'a\u0000b', 'lone high surrogate': 'a\ud800b', 'lone low surrogate': '\udc00', 'reversed pair': '\udc00\ud800' };
    const cases: Array<{ path: string; body: (v: string) => unknown; field: string; status: number; key?: string | undefined }> = [
      { path: '/v1/agents', body: (v) => ({ name: v }), field: 'name', status: 422, key },
      { path: '/v1/agents', body: (v) => ({ name: 'ok', instructions: v }), field: 'instructions', status: 422, key },
      { path: '/v1/agents', body: (v) => ({ name: 'ok', metadata: { note: v } }), field: 'metadata.note', status: 422, key },
      { path: '/v1/api-keys', body: (v) => ({ name: v }), field: 'name', status: 422, key },
      { path: '/v1/endpoints', body: (v) => ({ url: `${tenantServer.origin}/h`, events: ['run.completed'], name: v }), field: 'name', status: 422, key },
      { path: `/v1/agents/${agent}/runs`, body: (v) => ({ message: v }), field: 'message', status: 422, key },
      { path: `/v1/agents/${agent}/runs`, body: (v) => ({ message: 'hi', metadata: { [`k`]: { deep: [v] } } }), field: 'metadata.k.deep.0', status: 422, key },
      { path: `/v1/agents/${agent}/runs`, body: (v) => ({ message: 'hi', context: { [v]: 1 } }), field: 'context.', status: 422, key },
      { path: `/api/webhook/${webhook.token}`, body: (v) => ({ message: v }), field: 'message', status: 400 },
      { path: `/api/webhook/${webhook.token}`, body: (v) => ({ message: 'hi', user_id: v }), field: 'user_id', status: 400 },
      { path: `/api/triggers/${trigger.token}`, body: (v) => ({ text: v }), field: 'text', status: 400 },
    ];
    let tried = 0;
    const wrong: string[] = [];
    for (const c of cases) {
      for (const [what, value] of Object.entries(hostile)) {
        const answer = await stack.api(c.path, { key: c.key, body: JSON.stringify(c.body(value)) });
        tried++;
        const details = Object.keys(answer.body?.details ?? {});
        if (answer.status !== c.status || !details.some((d) => d.startsWith(c.field))) wrong.push(`${c.path} ${c.field} ${what} → ${answer.status} ${JSON.stringify(answer.body)}`);
      }
    }
    count(task, { 'fuzz cases with hostile text': tried });
    expect(wrong).toEqual([]);
  });
});

describe('a trigger input schema cannot stall the API', () => {
  it('uniqueItems over a 1 MB array of 140,000 numbers keeps the event loop moving', async () => {
    const agent = (await stack.api('/v1/agents', { key, body: { name: 'Schema target' } })).body.id as string;
    const created = await stack.api(`/v1/agents/${agent}/triggers`, {
      key,
      body: { name: 'arrays', scheme: 'none', message_template: 'Got {{ payload.a | length }} numbers', input_schema: { properties: { a: { type: 'array', uniqueItems: true } } } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const numbers = Array.from({ length: 140_000 }, (_, i) => 100_000 + i);
    const body = JSON.stringify({ a: numbers });
    expect(body.length).toBeGreaterThan(950_000);

    // The API runs in this process: a stalled event loop shows as a late tick here.
    const stalls: number[] = [];
    const measure = async (payload: string) => {
      let last = performance.now();
      let worst = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        worst = Math.max(worst, now - last);
        last = now;
      }, 5);
      try {
        return await stack.api(`/api/triggers/${created.body.token}`, { body: payload });
      } finally {
        clearInterval(ticker);
        stalls.push(Math.round(worst));
      }
    };
    const unique = await measure(body);
    expect(unique.status, JSON.stringify(unique.body)).toBe(202);
    const duplicate = await measure(JSON.stringify({ a: [...numbers.slice(0, 139_999), 100_000] }));
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.validationErrors[0]).toMatchObject({ path: 'payload.a', message: expect.stringMatching(/duplicate items \(items ## 0 and 139999/) });
    // Quadratic comparison took seconds here; linear takes tens of milliseconds. Generous for a loaded machine.
    expect(Math.max(...stalls), `event-loop stalls ${stalls.join(', ')} ms`).toBeLessThan(2_500);
  });
  it('a schema whose cost doubles per level is refused at the deadline, off the event loop', async () => {
    const agent = (await stack.api('/v1/agents', { key, body: { name: 'Costly schema target' } })).body.id as string;
    const defs: Record<string, unknown> = { a0: { type: 'number' } };
    for (let i = 1; i <= 32; i++) defs[`a${i}`] = { allOf: [{ $ref: `#/$defs/a${i - 1}` }, { $ref: `#/$defs/a${i - 1}` }] };
    const created = await stack.api(`/v1/agents/${agent}/triggers`, {
      key,
      body: { name: 'costly', scheme: 'none', message_template: 'n={{ payload.n }}', input_schema: { type: 'object', properties: { n: { $ref: '#/$defs/a32' } }, $defs: defs } },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    let last = performance.now();
    let worst = 0;
    const ticker = setInterval(() => {
      worst = Math.max(worst, performance.now() - last);
      last = performance.now();
    }, 5);
    const started = performance.now();
    const answer = await stack.api(`/api/triggers/${created.body.token}`, { body: { n: 1 } }).finally(() => clearInterval(ticker));
    expect(answer.status).toBe(400);
    expect(answer.body.validationErrors).toEqual([{ path: 'payload', message: expect.stringMatching(/took more than 2000 ms/) }]);
    expect(performance.now() - started).toBeLessThan(30_000); // 2^32 steps would take hours
    expect(Math.round(worst)).toBeLessThan(2_500);
    // The API still answers the next request with a fresh validation thread.
    expect((await stack.api(`/api/triggers/${created.body.token}`, { body: { n: 'not a number' } })).status).toBe(400);
  });
});
