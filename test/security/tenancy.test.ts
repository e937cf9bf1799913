import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PORTAL_SESSION_SCOPES } from '../../src/domain/portalSessions.js';
import { count } from '../support/figures.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

/**
 * Tenant isolation, driven by the served OpenAPI document: every operation with a path
 * parameter, every documented verb, is called with org A's key on org B's ids (and with an
 * agent-scoped key of A on another agent of A). Every answer must be a 4xx that shows nothing
 * of the other tenant, and B's rows are byte-for-byte the same afterwards. Controls with A's
 * own ids prove each call was plausible enough to reach the tenancy check at all.
 */
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;

type Kind = 'agent' | 'apiKey' | 'task' | 'webhook' | 'trigger' | 'endpoint' | 'run' | 'conversation' | 'event' | 'delivery' | 'org' | 'portalSession' | 'schedule' | 'recovery';

/** One agent of a tenant with one of every resource hanging off it. */
interface Agentful {
  marker: string;
  ids: Record<Kind, string>;
  /** Agent-scoped key (every scope of the org key). */
  agentKey: string;
  webhookToken: string;
  triggerToken: string;
  triggerSecret: string;
  endpointSecret: string;
  /** The unused link of a portal session limited to this agent. */
  portalLink: string;
}

interface Operation {
  method: string;
  path: string;
  operationId: string;
  security: 'apiKey' | 'admin' | 'public';
  /** x-required-scope: what a key or portal session must hold. */
  scope?: string;
  hasBody: boolean;
  params: string[];
}

let stack: TestStack;
let receiver: Receiver;
let operations: Operation[];
let a: { orgId: string; key: string };
let b: { orgId: string; key: string };
let a1: Agentful; // A's agent whose scoped key is used
let a2: Agentful; // another agent of A
let bb: Agentful; // B's agent
let bOrgKeyId: string;
let bSecrets: string[];
let snapshotBefore: string;
let apiViewBefore: string;
/** Portal sessions of A: one org-wide with every scope a session can hold, one limited to A1's agent. */
let aSession: string;
let a1Session: string;

/** Bodies that pass validation, so a refusal can only come from the tenancy check. */
const PLAUSIBLE: Record<string, unknown> = {
  updateAgent: { instructions: 'changed by the other org' },
  createRun: { message: 'hello from the other org' },
  createTask: { name: 'intruder task', instructions: 'do things' },
  createSchedule: { cron: '0 0 1 1 *', message: 'scheduled by the other org', paused: true },
  updateSchedule: { message: 'changed by the other org' },
  createTrigger: { name: 'intruder trigger', scheme: 'github', message_template: 'Issue {{ payload.x }}' },
  createWebhook: { name: 'intruder webhook' },
  updateEndpoint: { description: 'changed by the other org' },
  rotateEndpointSecret: { grace_seconds: 0 },
  updateTask: { instructions: 'changed by the other org' },
  updateTrigger: { name: 'changed by the other org' },
  testTrigger: { payload: { x: 1 } },
  invokeTrigger: { x: 1 },
  updateWebhook: { name: 'changed by the other org' },
  adminGrantCredits: { amount: 1000, reason: 'the other org wants more' },
  adminUpdateOrgLimits: { max_concurrent_runs: null },
  recoverEndpoint: { since: '2026-01-01T00:00:00Z' },
  adminUpdateOrg: { retention_days: 3 },
  callWebhook: { message: 'hello' },
  invokeTriggerByToken: { x: 1 },
};

/** Path parameter → the kind of id it takes. A new parameter fails here until taught. */
function paramKind(path: string, param: string): Kind | 'token' | 'static' {
  if (param === 'token') return 'token';
  if (param === 'file') return 'static';
  if (param === 'runId') return 'run';
  const collection = /^\/(?:v1|api)\/(agents|api-keys|runs|tasks|conversations|webhooks|triggers|endpoints|events|deliveries|admin\/orgs|portal-sessions|schedules|recoveries)\/\{id\}/.exec(path)?.[1];
  const kinds: Record<string, Kind> = {
    agents: 'agent', 'api-keys': 'apiKey', runs: 'run', tasks: 'task', conversations: 'conversation', webhooks: 'webhook',
    triggers: 'trigger', endpoints: 'endpoint', events: 'event', deliveries: 'delivery', 'admin/orgs': 'org', 'portal-sessions': 'portalSession', schedules: 'schedule', recoveries: 'recovery',
  };
  const kind = collection && param === 'id' ? kinds[collection] : undefined;
  if (!kind) throw new Error(`no id kind known for {${param}} in ${path}: teach tenancy.test.ts`);
  return kind;
}

const tenantParams = (op: Operation) => op.params.filter((p) => !['token', 'static'].includes(paramKind(op.path, p)));

/** Fills a path: tenant ids from `owner` (or `pick`), tokens from the caller's own agent. */
function concrete(op: Operation, owner: Agentful, caller: Agentful, pick?: (param: string) => string) {
  const used: string[] = [];
  const path = op.path.replace(/\{(\w+)\}/g, (_, param: string) => {
    const kind = paramKind(op.path, param);
    if (kind === 'static') return 'swagger-ui.css';
    if (kind === 'token') return op.path.startsWith('/api/triggers') ? caller.triggerToken : caller.webhookToken;
    const id = pick?.(param) ?? owner.ids[kind];
    used.push(id);
    return id;
  });
  return { path, used };
}

interface Answer {
  status: number;
  text: string;
}

async function call(method: string, path: string, opts: { key?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.key) headers.authorization = `Bearer ${opts.key}`;
  const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  // Bounded: an event stream that were wrongly opened must not hang the sweep.
  const response = await fetch(`${stack.baseUrl}${path}`, { method, headers, body, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, text: await response.text() };
}

/** What of the other tenant shows in an answer, ids the caller put in the path aside. */
function shown(text: string, used: string[], of: Agentful, extra: string[] = []): string[] {
  let cleaned = text;
  for (const id of used) cleaned = cleaned.split(id).join('<path id>');
  return [of.marker, ...Object.values(of.ids), of.webhookToken, of.triggerToken, of.triggerSecret, of.endpointSecret, of.portalLink, ...extra].filter(
    (secret) => secret && cleaned.includes(secret),
  );
}

async function populate(key: string, marker: string): Promise<Agentful> {
  const ok = async (method: string, path: string, body?: unknown, status = 201) => {
    const r = await stack.api(path, { method, key, body });
    expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBe(status);
    return r.body;
  };
  const agent = await ok('POST', '/v1/agents', { name: `${marker} agent`, instructions: `${marker} instructions`, allow_callback_urls: true });
  const apiKey = await ok('POST', '/v1/api-keys', { name: `${marker} key`, agent_id: agent.id });
  const task = await ok('POST', `/v1/agents/${agent.id}/tasks`, { name: `${marker} task`, instructions: `${marker} task instructions` });
  const webhook = await ok('POST', `/v1/agents/${agent.id}/webhooks`, { name: `${marker} webhook` });
  const trigger = await ok('POST', `/v1/agents/${agent.id}/triggers`, { name: `${marker} trigger`, scheme: 'github', message_template: `${marker} {{ payload.x }}` });
  const tokenTrigger = await ok('POST', `/v1/agents/${agent.id}/triggers`, { name: `${marker} token trigger`, scheme: 'none', message_template: '{{ payload.x }}' });
  const schedule = await ok('POST', `/v1/agents/${agent.id}/schedules`, { name: `${marker} schedule`, cron: '0 0 1 1 *', message: `${marker} scheduled message`, paused: true });
  const portal = await ok('POST', '/v1/portal-sessions', { agent_id: agent.id, scopes: ['agents:read', 'runs:read'], name: `${marker} portal` });
  const endpoint = await ok('POST', '/v1/endpoints', {
    url: receiver.url, events: ['run.completed'], agent_ids: [agent.id], name: `${marker} endpoint`, description: `${marker} endpoint`,
  });
  const reply = await stack.api(`/api/webhook/${webhook.token}`, { body: { message: `${marker} message`, user_id: `${marker}-user` } });
  expect(reply.status, JSON.stringify(reply.body)).toBe(200);
  const event = await eventually(async () => {
    const events = await stack.api(`/v1/events?agent_id=${agent.id}&type=run.completed`, { key });
    return events.body.data?.[0]?.id as string | undefined;
  }, `${marker}'s run.completed event`);
  const delivery = await eventually(async () => {
    const d = (await stack.api(`/v1/events/${event}`, { key })).body.deliveries?.[0];
    return d?.status === 'succeeded' ? (d.id as string) : undefined;
  }, `${marker}'s delivery`);
  const org = (await stack.database.db.selectFrom('agents').select('org_id').where('id', '=', agent.id).executeTakeFirstOrThrow()).org_id;
  const recovery = await ok('POST', `/v1/endpoints/${endpoint.id}/recover`, { since: new Date(Date.now() - 3_600_000).toISOString() }, 202);
  // Finished before the sweep, so the snapshots of B's rows compare like for like.
  await eventually(async () => ((await stack.api(`/v1/recoveries/${recovery.id}`, { key })).body.status === 'completed' ? true : undefined), `${marker}'s recovery`);
  return {
    marker,
    ids: {
      agent: agent.id, apiKey: apiKey.id, task: task.id, webhook: webhook.id, trigger: trigger.id, endpoint: endpoint.id,
      run: reply.body.run_id, conversation: reply.body.conversation_id, event, delivery, org, portalSession: portal.id, schedule: schedule.id, recovery: recovery.id,
    },
    agentKey: apiKey.key,
    webhookToken: webhook.token,
    triggerToken: tokenTrigger.token,
    triggerSecret: trigger.secret,
    endpointSecret: endpoint.secret,
    portalLink: String(portal.url).split('#portal=')[1]!,
  };
}

/** Every row of an org, in a stable order; api_keys.last_used_at moves with every read, so it is left out. */
async function snapshotOrg(orgId: string): Promise<string> {
  const db = stack.database.db;
  const byOrg = ['agents', 'runs', 'credit_entries', 'signing_secrets', 'task_definitions', 'conversations', 'events', 'deliveries', 'inbound_webhooks', 'endpoints', 'triggers', 'portal_sessions', 'schedules', 'recoveries'] as const;
  const rows: Record<string, unknown> = {};
  rows.orgs = await db.selectFrom('orgs').selectAll().where('id', '=', orgId).execute();
  rows.api_keys = (await db.selectFrom('api_keys').selectAll().where('org_id', '=', orgId).orderBy('id').execute()).map(({ last_used_at: _, ...k }) => k);
  for (const table of byOrg) rows[table] = await db.selectFrom(table).selectAll().where('org_id', '=', orgId).orderBy('id').execute();
  const runIds = (rows.runs as Array<{ id: string }>).map((r) => r.id);
  const conversationIds = (rows.conversations as Array<{ id: string }>).map((c) => c.id);
  const deliveryIds = (rows.deliveries as Array<{ id: string }>).map((d) => d.id);
  rows.messages = conversationIds.length ? await db.selectFrom('messages').selectAll().where('conversation_id', 'in', conversationIds).orderBy('id').execute() : [];
  rows.run_events = runIds.length ? await db.selectFrom('run_events').selectAll().where('run_id', 'in', runIds).orderBy('run_id').orderBy('sequence').execute() : [];
  rows.delivery_attempts = deliveryIds.length
    ? await db.selectFrom('delivery_attempts').selectAll().where('delivery_id', 'in', deliveryIds).orderBy('delivery_id').orderBy('attempt').execute()
    : [];
  return JSON.stringify(rows);
}

/** B as B's own key sees it through the API. */
async function apiView(key: string, t: Agentful): Promise<string> {
  const paths = [
    `/v1/agents/${t.ids.agent}`, `/v1/agents/${t.ids.agent}/tasks`, `/v1/agents/${t.ids.agent}/triggers`, `/v1/agents/${t.ids.agent}/webhooks`,
    `/v1/tasks/${t.ids.task}`, `/v1/triggers/${t.ids.trigger}`, `/v1/endpoints/${t.ids.endpoint}`, `/v1/endpoints/${t.ids.endpoint}/deliveries`,
    `/v1/runs/${t.ids.run}`, `/v1/conversations/${t.ids.conversation}`, `/v1/schedules/${t.ids.schedule}`, `/v1/agents/${t.ids.agent}/schedules`, `/v1/events/${t.ids.event}`, '/v1/runs', '/v1/events?limit=100',
    '/v1/endpoints', '/v1/credits', '/v1/agents', '/v1/api-keys',
  ];
  const views = [];
  for (const path of paths) {
    const r = await stack.api(path, { key });
    expect(r.status, path).toBe(200);
    views.push([path, JSON.stringify(r.body).replace(/"last_used_at":"[^"]*"/g, '"last_used_at":"…"')]);
  }
  return JSON.stringify(views);
}

beforeAll(async () => {
  stack = await startTestStack({ config: { ADMIN_TOKEN } });
  receiver = await startReceiver();
  const doc = (await stack.api('/openapi.json')).body as { paths: Record<string, Record<string, any>> };
  operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      operationId: op.operationId as string,
      security: op.security?.length ? ('adminToken' in op.security[0] ? 'admin' : 'apiKey') : 'public',
      scope: op['x-required-scope'] as string | undefined,
      hasBody: Boolean(op.requestBody),
      params: ((op.parameters ?? []) as Array<{ in: string; name: string }>).filter((p) => p.in === 'path').map((p) => p.name),
    })),
  );

  const orgA = await stack.newOrg('Alpha org');
  const orgB = await stack.newOrg('Beta org');
  a = { orgId: orgA.orgId, key: orgA.apiKey };
  b = { orgId: orgB.orgId, key: orgB.apiKey };
  [a1, a2, bb] = [await populate(a.key, 'ALPHA1-3f9c'), await populate(a.key, 'ALPHA2-8d1e'), await populate(b.key, 'BETA-5a7b')];
  aSession = await openPortalSession({ scopes: [...PORTAL_SESSION_SCOPES] });
  a1Session = await openPortalSession({ agent_id: a1.ids.agent, scopes: [...PORTAL_SESSION_SCOPES] });
  const callbackSecret = (await stack.api('/v1/callback-secret/rotate', { method: 'POST', key: b.key })).body.secret as string;
  bOrgKeyId = (await stack.database.db.selectFrom('api_keys').select('id').where('org_id', '=', b.orgId).where('agent_id', 'is', null).executeTakeFirstOrThrow()).id;
  bSecrets = [b.key, bb.agentKey, callbackSecret, bOrgKeyId, 'Beta org'];
  // B is quiet once two looks a moment apart agree (the delivery's bookkeeping lands just
  // after its status): from here on nothing may change it.
  snapshotBefore = await eventually(async () => {
    const first = await snapshotOrg(b.orgId);
    await new Promise((r) => setTimeout(r, 300));
    return first === (await snapshotOrg(b.orgId)) ? first : undefined;
  }, 'org B to settle');
  apiViewBefore = await apiView(b.key, bb);
}, 120_000);
afterAll(async () => {
  await receiver?.close();
  await stack?.close();
});

/** A portal session of org A, issued with A's key and exchanged as the console would. */
async function openPortalSession(body: Record<string, unknown>): Promise<string> {
  const issued = await stack.api('/v1/portal-sessions', { key: a.key, body });
  expect(issued.status, JSON.stringify(issued.body)).toBe(201);
  const exchanged = await stack.api('/v1/portal-sessions/exchange', { body: { token: String(issued.body.url).split('#portal=')[1] } });
  expect(exchanged.status, JSON.stringify(exchanged.body)).toBe(200);
  return exchanged.body.session_token;
}

/** Operations that take some tenant's id in their path. */
const swept = () => operations.filter((op) => tenantParams(op).length > 0);

function bodyFor(op: Operation) {
  if (!op.hasBody) return undefined;
  if (!(op.operationId in PLAUSIBLE)) throw new Error(`no plausible body for ${op.operationId}: teach tenancy.test.ts`);
  return PLAUSIBLE[op.operationId];
}

/** A's key (or A1's agent-scoped key) on the victim's ids: must be a 4xx that shows nothing. */
async function intrude(op: Operation, victim: Agentful, key: string, body: unknown, pick?: (param: string) => string, exact = true, held?: readonly string[]) {
  const { path, used } = concrete(op, victim, a1, pick);
  // The header-token poll is asked with the caller's own token: B's run must stay invisible to it.
  const headers: Record<string, string> = op.operationId === 'getWebhookRunWithTokenHeader' ? { 'x-webhook-token': a1.webhookToken } : {};
  const answer = await call(op.method, path, { key, body, headers });
  const problems: string[] = [];
  // API-key routes hide what the caller may not see behind 404; the admin route wants the
  // operator's token (401) and a trigger's invoke URL its sender's signature (401).
  let expected = op.security === 'apiKey' ? [404] : op.operationId === 'invokeTrigger' || op.security === 'admin' ? [401, 404] : [404];
  // A portal session never holds keys:write or portal:write: those routes refuse it outright.
  if (held && op.security === 'apiKey' && op.scope && !held.includes(op.scope)) expected = [403];
  const acceptable = exact ? expected.includes(answer.status) : answer.status >= 400 && answer.status < 500;
  if (!acceptable) problems.push(`${op.method} ${path} → ${answer.status} ${answer.text.slice(0, 300)}`);
  // The scoped key's own org id is no secret to it.
  const leaked = shown(answer.text, used, victim, victim === bb ? bSecrets : []).filter((s) => victim === bb || s !== victim.ids.org);
  if (leaked.length) problems.push(`${op.method} ${path} shows ${leaked.join(', ')}: ${answer.text.slice(0, 300)}`);
  return problems;
}

describe('org A against org B', () => {
  it('answers 404 to every operation on B\'s ids, with a plausible body', async ({ task }) => {
    const ops = swept();
    // The sweep covers what exists: every kind of resource B has is named by some route.
    const kinds = new Set(ops.flatMap((op) => tenantParams(op).map((p) => paramKind(op.path, p))));
    expect([...kinds].sort()).toEqual(['agent', 'apiKey', 'conversation', 'delivery', 'endpoint', 'event', 'org', 'portalSession', 'recovery', 'run', 'schedule', 'task', 'trigger', 'webhook']);
    expect(ops.length).toBeGreaterThanOrEqual(35);
    const problems: string[] = [];
    for (const op of ops) problems.push(...(await intrude(op, bb, a.key, bodyFor(op))));
    count(task, { 'tenancy cases': ops.length, 'tenancy leaks': problems.length });
    expect(problems).toEqual([]);
  });

  it('still shows nothing for random bodies and B\'s ids of any kind in any slot (fast-check, fixed seed)', async ({ task }) => {
    const ops = swept();
    const anyB = [...Object.values(bb.ids), bOrgKeyId];
    const plausibleKeys = Object.fromEntries(
      [...new Set(Object.values(PLAUSIBLE).flatMap((p) => Object.keys(p as object)))].map((k) => [k, fc.jsonValue({ maxDepth: 2 })]),
    );
    const body = (op: Operation) =>
      op.hasBody ? fc.oneof(fc.constant(bodyFor(op)), fc.jsonValue({ maxDepth: 3 }), fc.record(plausibleKeys, { requiredKeys: [] })) : fc.constant(undefined);
    const problems: string[] = [];
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ops).chain((op) => fc.tuple(fc.constant(op), body(op), fc.array(fc.constantFrom(...anyB), { minLength: 2, maxLength: 2 }))),
        async ([op, payload, ids]) => {
          cases++;
          let i = 0;
          problems.push(...(await intrude(op, bb, a.key, payload, () => ids[i++ % ids.length]!, false)));
        },
      ),
      { numRuns: 600, seed: 20261125 },
    );
    count(task, { 'tenancy cases': cases, 'tenancy leaks': problems.length });
    expect(problems.slice(0, 10)).toEqual([]);
  });

  it('lists only A\'s own things, also when filters name B\'s ids', async ({ task }) => {
    const lists = operations.filter((op) => op.method === 'GET' && op.params.length === 0);
    expect(lists.map((op) => op.path)).toEqual(expect.arrayContaining(['/v1/agents', '/v1/api-keys', '/v1/runs', '/v1/endpoints', '/v1/events', '/v1/credits']));
    const doc = (await stack.api('/openapi.json')).body as { paths: Record<string, Record<string, any>> };
    const problems: string[] = [];
    let cases = 0;
    for (const op of lists) {
      const query = ((doc.paths[op.path]!.get.parameters ?? []) as Array<{ in: string; name: string }>).filter((p) => p.in === 'query').map((p) => p.name);
      const filters = ['?limit=100', ...query.filter((q) => q.endsWith('_id')).flatMap((q) => [...Object.values(bb.ids), bOrgKeyId].map((id) => `?limit=100&${q}=${id}`))];
      for (const filter of filters) {
        cases++;
        const answer = await call('GET', `${op.path}${filter}`, { key: a.key });
        const used = filter.includes('_id=') ? [filter.split('=').pop()!] : [];
        if (answer.status >= 500 || (op.security === 'apiKey' && answer.status !== 200)) problems.push(`GET ${op.path}${filter} → ${answer.status}`);
        const leaked = shown(answer.text, used, bb, bSecrets);
        if (leaked.length) problems.push(`GET ${op.path}${filter} shows ${leaked.join(', ')}`);
      }
    }
    count(task, { 'tenancy cases': cases, 'tenancy leaks': problems.length });
    expect(problems).toEqual([]);
    // The same lists do show A's own things: the check above is not vacuous.
    expect((await call('GET', '/v1/runs?limit=100', { key: a.key })).text).toContain(a1.ids.run);
    expect((await call('GET', `/v1/events?limit=100&agent_id=${a1.ids.agent}`, { key: a.key })).text).toContain(a1.ids.event);
  });

  it('refuses B\'s ids inside A\'s own requests', async ({ task }) => {
    const attempts: Array<[string, string, unknown, number]> = [
      ['POST', `/v1/agents/${a1.ids.agent}/runs`, { message: 'hi', conversation_id: bb.ids.conversation }, 422],
      ['POST', `/v1/agents/${a1.ids.agent}/runs`, { message: 'hi', task_definition_id: bb.ids.task }, 422],
      ['POST', '/v1/endpoints', { url: receiver.url, events: ['run.completed'], agent_ids: [bb.ids.agent] }, 422],
      ['PATCH', `/v1/endpoints/${a1.ids.endpoint}`, { agent_ids: [bb.ids.agent] }, 422],
      ['POST', '/v1/api-keys', { name: 'for B', agent_id: bb.ids.agent }, 422],
      ['POST', `/api/webhook/${a1.webhookToken}`, { message: 'hi', conversation_id: bb.ids.conversation }, 400],
      ['GET', `/api/webhook/${a1.webhookToken}/runs/${bb.ids.run}`, undefined, 404],
    ];
    const problems: string[] = [];
    for (const [method, path, body, status] of attempts) {
      const answer = await call(method, path, { key: a.key, body });
      if (answer.status !== status) problems.push(`${method} ${path} ${JSON.stringify(body)} → ${answer.status} ${answer.text.slice(0, 200)}`);
      const leaked = shown(answer.text, [bb.ids.conversation, bb.ids.task, bb.ids.agent, bb.ids.run], bb, bSecrets);
      if (leaked.length) problems.push(`${method} ${path} shows ${leaked.join(', ')}`);
    }
    count(task, { 'tenancy cases': attempts.length, 'tenancy leaks': problems.length });
    expect(problems).toEqual([]);
  });
});

describe('an agent-scoped key of A against another agent of A', () => {
  it('answers 404 to every operation on the other agent\'s ids, and lists none of them', async ({ task }) => {
    const problems: string[] = [];
    let cases = 0;
    for (const op of swept()) {
      // Org-level ids (the org itself) are not an agent's: an agent-scoped key is judged like any key there.
      if (tenantParams(op).every((p) => paramKind(op.path, p) === 'org')) continue;
      cases++;
      problems.push(...(await intrude(op, a2, a1.agentKey, bodyFor(op))));
    }
    for (const path of ['/v1/agents', '/v1/api-keys', '/v1/runs', '/v1/endpoints', '/v1/events', '/v1/credits']) {
      for (const filter of ['?limit=100', `?limit=100&agent_id=${a2.ids.agent}`]) {
        cases++;
        const answer = await call('GET', `${path}${filter}`, { key: a1.agentKey });
        const leaked = shown(answer.text, filter.includes('agent_id') ? [a2.ids.agent] : [], a2).filter((s) => s !== a2.ids.org);
        if (answer.status !== 200 || leaked.length) problems.push(`GET ${path}${filter} → ${answer.status} shows ${leaked.join(', ')}`);
      }
    }
    for (const [method, path, body] of [
      ['POST', `/v1/agents/${a1.ids.agent}/runs`, { message: 'hi', conversation_id: a2.ids.conversation }],
      ['POST', `/v1/agents/${a1.ids.agent}/runs`, { message: 'hi', task_definition_id: a2.ids.task }],
      ['POST', '/v1/api-keys', { name: 'for A2', agent_id: a2.ids.agent }],
    ] as const) {
      cases++;
      const answer = await call(method, path, { key: a1.agentKey, body });
      if (answer.status !== 422) problems.push(`${method} ${path} ${JSON.stringify(body)} → ${answer.status}`);
    }
    count(task, { 'tenancy cases': cases, 'tenancy leaks': problems.length });
    expect(problems).toEqual([]);
  });
});

describe('portal sessions of A', () => {
  it('answer like A\'s keys: 404 on B\'s ids, 404 on another agent\'s ids when limited to one, and list nothing of either', async ({ task }) => {
    const problems: string[] = [];
    let cases = 0;
    for (const op of swept()) {
      cases++;
      problems.push(...(await intrude(op, bb, aSession, bodyFor(op), undefined, true, PORTAL_SESSION_SCOPES)));
      if (tenantParams(op).every((p) => paramKind(op.path, p) === 'org')) continue;
      cases++;
      problems.push(...(await intrude(op, a2, a1Session, bodyFor(op), undefined, true, PORTAL_SESSION_SCOPES)));
    }
    const lists = operations.filter((op) => op.method === 'GET' && op.params.length === 0 && op.security === 'apiKey');
    for (const op of lists) {
      const held = !op.scope || (PORTAL_SESSION_SCOPES as readonly string[]).includes(op.scope);
      for (const [session, victim, secrets] of [[aSession, bb, bSecrets], [a1Session, a2, []]] as const) {
        for (const filter of ['?limit=100', ...['agent_id', 'org_id'].map((q) => `?limit=100&${q}=${q === 'agent_id' ? victim.ids.agent : victim.ids.org}`)]) {
          cases++;
          const answer = await call('GET', `${op.path}${filter}`, { key: session });
          const used = filter.includes('_id=') ? [filter.split('=').pop()!] : [];
          // A2's org is A1's own: no secret to a session of A.
          const leaked = shown(answer.text, used, victim, [...secrets]).filter((s) => victim === bb || s !== victim.ids.org);
          if (answer.status !== (held ? 200 : 403) || leaked.length) problems.push(`GET ${op.path}${filter} → ${answer.status} shows ${leaked.join(', ')}`);
        }
      }
    }
    count(task, { 'tenancy cases': cases, 'tenancy leaks': problems.length });
    expect(problems).toEqual([]);
    // Controls: the sessions do reach their own things, so the refusals above were not vacuous.
    expect((await call('GET', `/v1/agents/${a2.ids.agent}`, { key: aSession })).status).toBe(200);
    expect((await call('GET', `/v1/runs/${a1.ids.run}`, { key: a1Session })).status).toBe(200);
    expect((await call('GET', '/v1/runs?limit=100', { key: a1Session })).text).toContain(a1.ids.run);
  });
});

describe('controls and aftermath', () => {
  it('lets the owner make the very same calls (so the refusals above were tenancy, not validation)', async () => {
    const rank = (op: Operation) =>
      op.method === 'GET' ? 0 : /^(rotate|regenerate)/.test(op.operationId) ? 2 : op.method === 'DELETE' ? (op.path === '/v1/agents/{id}' ? 4 : 3) : 1;
    const ops = [...swept()].sort((x, y) => rank(x) - rank(y));
    const failures: string[] = [];
    for (const op of ops) {
      const body = bodyFor(op);
      const { path } = concrete(op, a1, a1);
      const headers: Record<string, string> = {};
      let key: string | undefined = a.key;
      if (op.security === 'admin') {
        key = undefined;
        headers.authorization = `Bearer ${ADMIN_TOKEN}`;
      }
      if (op.operationId === 'getWebhookRunWithTokenHeader') headers['x-webhook-token'] = a1.webhookToken;
      if (op.operationId === 'invokeTrigger') {
        headers['x-hub-signature-256'] = `sha256=${createHmac('sha256', a1.triggerSecret).update(JSON.stringify(body)).digest('hex')}`;
        headers['x-github-delivery'] = 'control-1';
      }
      const answer = await call(op.method, path, { key, body, headers });
      // A finished run cannot be cancelled (409), nor a run without a callback called back
      // again (409): those answers too prove the run was found.
      const ok = answer.status < 300 || (['cancelRun', 'retryRunCallback'].includes(op.operationId) && answer.status === 409);
      if (!ok) failures.push(`${op.method} ${path} → ${answer.status} ${answer.text.slice(0, 300)}`);
    }
    expect(failures).toEqual([]);
  });

  it('leaves every row of B as it was, and B\'s own view of itself unchanged', async () => {
    expect(await snapshotOrg(b.orgId)).toBe(snapshotBefore);
    expect(await apiView(b.key, bb)).toBe(apiViewBefore);
  });
});
