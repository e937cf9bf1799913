import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, type Scope } from '../../src/domain/apiKeys.js';
import { ContractChecker } from '../support/openapi.js';
import { startTestStack, type ApiResponse, type TestStack } from '../support/stack.js';

/**
 * Two orgs, each with an org-wide key, a key scoped to one of its agents and keys missing a
 * scope, walk every management route. Every answer is also checked against /openapi.json.
 */
let stack: TestStack;
let contract: ContractChecker;

interface Org {
  orgId: string;
  key: string; // org-wide, every scope
  agentKey: string; // scoped to `agent`
  agent: string;
  otherAgent: string;
  run: string; // a run of `agent`
  otherRun: string; // a run of `otherAgent`
}
let a: Org;
let b: Org;

async function call(method: string, path: string, key?: string, body?: unknown): Promise<ApiResponse> {
  const response = await stack.api(path, { method, key, body });
  contract.expectDocumented(method, path, response);
  return response;
}

async function createKey(key: string, body: Record<string, unknown>): Promise<string> {
  const created = await call('POST', '/v1/api-keys', key, body);
  expect(created.status).toBe(201);
  return created.body.key;
}

async function setUpOrg(name: string): Promise<Org> {
  const { orgId, apiKey: key } = await stack.newOrg(name);
  const agent = (await call('POST', '/v1/agents', key, { name: `${name} agent` })).body.id;
  const otherAgent = (await call('POST', '/v1/agents', key, { name: `${name} other agent` })).body.id;
  const agentKey = await createKey(key, { name: 'agent key', agent_id: agent });
  const run = (await call('POST', `/v1/agents/${agent}/runs`, key, { message: `${name} secret message` })).body.run_id;
  const otherRun = (await call('POST', `/v1/agents/${otherAgent}/runs`, key, { message: `${name} other message` })).body.run_id;
  return { orgId, key, agentKey, agent, otherAgent, run, otherRun };
}

beforeAll(async () => {
  stack = await startTestStack();
  contract = new ContractChecker((await stack.api('/openapi.json')).body);
  a = await setUpOrg('Alpha');
  b = await setUpOrg('Beta');
});
afterAll(() => stack?.close());

/** Every id-bearing route, with what an allowed caller gets and a body when it needs one. */
const idRoutes: Array<{ method: string; path: (o: Org) => string; scope: Scope; ok: number; body?: unknown; own: (o: Org) => string }> = [
  { method: 'GET', path: (o) => `/v1/agents/${o.agent}`, scope: 'agents:read', ok: 200, own: (o) => o.agent },
  { method: 'PATCH', path: (o) => `/v1/agents/${o.agent}`, scope: 'agents:write', ok: 200, body: { instructions: 'Be brief.' }, own: (o) => o.agent },
  { method: 'POST', path: (o) => `/v1/agents/${o.agent}/runs`, scope: 'runs:write', ok: 202, body: { message: 'hi' }, own: (o) => o.agent },
  { method: 'GET', path: (o) => `/v1/runs/${o.run}`, scope: 'runs:read', ok: 200, own: (o) => o.run },
];

const listRoutes: Array<{ path: string; scope: Scope }> = [
  { path: '/v1/agents', scope: 'agents:read' },
  { path: '/v1/api-keys', scope: 'keys:read' },
  { path: '/v1/runs', scope: 'runs:read' },
  { path: '/v1/credits', scope: 'credits:read' },
];

describe('authentication and scopes on every route', () => {
  const everyRoute = [
    ...idRoutes.map((r) => ({ method: r.method, path: r.path, scope: r.scope, body: r.body })),
    ...listRoutes.map((r) => ({ method: 'GET', path: () => r.path, scope: r.scope, body: undefined })),
    { method: 'POST', path: () => '/v1/agents', scope: 'agents:write' as Scope, body: { name: 'x' } },
    { method: 'POST', path: () => '/v1/api-keys', scope: 'keys:write' as Scope, body: { name: 'x' } },
    { method: 'DELETE', path: () => '/v1/api-keys/00000000-0000-4000-8000-000000000000', scope: 'keys:write' as Scope, body: undefined },
    { method: 'DELETE', path: (o: Org) => `/v1/agents/${o.otherAgent}`, scope: 'agents:write' as Scope, body: undefined },
  ];

  it.each(everyRoute.map((r) => [`${r.method} ${r.path({ agent: ':agent', otherAgent: ':other', run: ':run' } as Org)}`, r] as const))(
    '%s: 401 without a valid key, 403 without its scope',
    async (_, r) => {
      const none = await call(r.method, r.path(a), undefined, r.body);
      expect(none.status).toBe(401);
      expect(none.body.code).toBe('UNAUTHORIZED');
      const unknown = await call(r.method, r.path(a), `awk_${'f'.repeat(64)}`, r.body);
      expect(unknown.status).toBe(401);

      const lacking = await createKey(a.key, { name: `without ${r.scope}`, scopes: SCOPES.filter((s) => s !== r.scope) });
      const forbidden = await call(r.method, r.path(a), lacking, r.body);
      expect(forbidden.status).toBe(403);
      expect(forbidden.body.code).toBe('FORBIDDEN');
      expect(forbidden.body.detail).toMatch(/missing required scope/);
    },
  );
});

describe('tenancy', () => {
  it.each(idRoutes.map((r) => [`${r.method} ${r.path({ agent: ':agent', run: ':run' } as Org)}`, r] as const))(
    '%s: allowed for the owner, 404 for the other org and for a key scoped to another agent',
    async (_, r) => {
      const own = await call(r.method, r.path(a), a.key, r.body);
      expect(own.status).toBe(r.ok);
      const scopedOwn = await call(r.method, r.path(a), a.agentKey, r.body);
      expect(scopedOwn.status).toBe(r.ok);

      const otherOrg = await call(r.method, r.path(a), b.key, r.body);
      expect(otherOrg.status).toBe(404);
      expect(JSON.stringify(otherOrg.body)).not.toContain('Alpha');

      const otherAgentPath = r.path({ ...a, agent: a.otherAgent, run: a.otherRun });
      const scopedOther = await call(r.method, otherAgentPath, a.agentKey, r.body);
      expect(scopedOther.status).toBe(404);
    },
  );

  it.each(listRoutes.map((r) => [r.path, r] as const))('GET %s lists only the caller\'s org (and agent)', async (path) => {
    const mine = await call('GET', `${path}?limit=100`, a.key);
    expect(mine.status).toBe(200);
    const serialized = JSON.stringify(mine.body);
    for (const id of [b.orgId, b.agent, b.otherAgent, b.run, b.otherRun]) expect(serialized).not.toContain(id);
    expect(serialized).not.toContain('Beta');

    const scoped = await call('GET', `${path}?limit=100`, a.agentKey);
    expect(scoped.status).toBe(200);
    const scopedText = JSON.stringify(scoped.body);
    if (path !== '/v1/credits') expect(scopedText).not.toContain(a.otherAgent);
    expect(scopedText).not.toContain(a.otherRun);
  });

  it('lets an agent-scoped key see its own agent in lists', async () => {
    const agents = await call('GET', '/v1/agents', a.agentKey);
    expect(agents.body.data.map((x: { id: string }) => x.id)).toEqual([a.agent]);
    const runs = await call('GET', '/v1/runs?limit=100', a.agentKey);
    expect(runs.body.data.length).toBeGreaterThan(0);
    expect(new Set(runs.body.data.map((x: { agent_id: string }) => x.agent_id))).toEqual(new Set([a.agent]));
  });

  it('does not let an agent-scoped key create agents or keys for other agents, nor grant scopes it lacks', async () => {
    expect((await call('POST', '/v1/agents', a.agentKey, { name: 'sneaky' })).status).toBe(403);
    const other = await call('POST', '/v1/api-keys', a.agentKey, { name: 'sneaky', agent_id: a.otherAgent });
    expect(other.status).toBe(422);
    expect(other.body.details.agent_id).toBeDefined();
    const readOnly = await createKey(a.key, { name: 'read only', scopes: ['agents:read', 'keys:write'] });
    const escalate = await call('POST', '/v1/api-keys', readOnly, { name: 'escalate', scopes: ['runs:write'] });
    expect(escalate.status).toBe(403);
    const inherited = await call('POST', '/v1/api-keys', readOnly, { name: 'inherits' });
    expect(inherited.body.scopes).toEqual(['agents:read', 'keys:write']);
  });

  it('cannot revoke or delete another org\'s key or agent', async () => {
    const keys = await call('GET', '/v1/api-keys?limit=100', b.key);
    const bKeyId = keys.body.data[0].id;
    expect((await call('DELETE', `/v1/api-keys/${bKeyId}`, a.key)).status).toBe(404);
    expect((await call('DELETE', `/v1/agents/${b.agent}`, a.key)).status).toBe(404);
    expect((await call('GET', `/v1/agents/${b.agent}`, b.key)).status).toBe(200);
    expect((await call('GET', '/v1/agents', b.key)).status).toBe(200);
  });
});

describe('agents', () => {
  it('creates with defaults, lists newest first with pagination, updates and soft-deletes', async () => {
    const created = await call('POST', '/v1/agents', a.key, {
      name: 'Support bot',
      instructions: 'Answer support questions.',
      provider: { kind: 'openai', base_url: 'https://api.openai.com/v1', model: 'gpt-4o-mini', api_key: 'sk-management-test-key' },
      allow_callback_urls: true,
      run_timeout_seconds: 120,
      metadata: { team: 'support' },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(`/v1/agents/${created.body.id}`);
    expect(created.body).toMatchObject({ name: 'Support bot', allow_callback_urls: true, run_timeout_seconds: 120, metadata: { team: 'support' } });
    // The tenant's model key is write-only: masked in every answer.
    expect(created.body.provider).toEqual({ kind: 'openai', base_url: 'https://api.openai.com/v1', model: 'gpt-4o-mini', api_key: '***' });
    expect(JSON.stringify((await call('GET', `/v1/agents/${created.body.id}`, a.key)).body)).not.toContain('sk-management-test-key');

    const defaults = await call('POST', '/v1/agents', a.key, { name: 'Plain' });
    expect(defaults.body).toMatchObject({ provider: { kind: 'echo' }, allow_callback_urls: false, run_timeout_seconds: 300, instructions: '', metadata: {} });

    const page1 = await call('GET', '/v1/agents?limit=1', a.key);
    expect(page1.body.data[0].id).toBe(defaults.body.id);
    expect(page1.body.pagination).toMatchObject({ page: 1, limit: 1 });
    expect(page1.body.pagination.pages).toBe(page1.body.pagination.total);
    const page2 = await call('GET', '/v1/agents?limit=1&page=2', a.key);
    expect(page2.body.data[0].id).toBe(created.body.id);

    const patched = await call('PATCH', `/v1/agents/${created.body.id}`, a.key, { name: 'Support bot v2' });
    expect(patched.body).toMatchObject({ name: 'Support bot v2', instructions: 'Answer support questions.', run_timeout_seconds: 120 });
    expect(Date.parse(patched.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(created.body.updated_at));

    const run = await call('POST', `/v1/agents/${defaults.body.id}/runs`, a.key, { message: 'before delete' });
    const scopedKey = await createKey(a.key, { name: 'plain key', agent_id: defaults.body.id });
    expect((await call('DELETE', `/v1/agents/${defaults.body.id}`, a.key)).status).toBe(204);
    expect((await call('GET', `/v1/agents/${defaults.body.id}`, a.key)).status).toBe(404);
    expect((await call('DELETE', `/v1/agents/${defaults.body.id}`, a.key)).status).toBe(404);
    expect((await call('POST', `/v1/agents/${defaults.body.id}/runs`, a.key, { message: 'after' })).status).toBe(404);
    // History stays readable; keys scoped to the deleted agent stop working.
    expect((await call('GET', `/v1/runs/${run.body.run_id}`, a.key)).status).toBe(200);
    expect((await call('GET', `/v1/runs?agent_id=${defaults.body.id}`, a.key)).body.data).toHaveLength(1);
    expect((await call('GET', '/v1/runs', scopedKey)).status).toBe(401);
  });

  it('masks http provider header values when read back', async () => {
    const created = await call('POST', '/v1/agents', a.key, {
      name: 'Own service',
      provider: { kind: 'http', url: 'https://agent.example.com/run', headers: { Authorization: 'Bearer very-secret' } },
    });
    expect(created.status).toBe(201);
    expect(created.body.provider.headers).toEqual({ Authorization: '***' });
    expect(JSON.stringify((await call('GET', `/v1/agents/${created.body.id}`, a.key)).body)).not.toContain('very-secret');
  });

  it('rejects invalid bodies with 422 and details naming each bad field', async () => {
    const bad = await call('POST', '/v1/agents', a.key, {
      name: 'x'.repeat(201),
      instructions: 42,
      provider: { kind: 'telepathy' },
      run_timeout_seconds: 0,
      colour: 'blue',
    });
    expect(bad.status).toBe(422);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    expect(Object.keys(bad.body.details)).toEqual(expect.arrayContaining(['name', 'instructions', 'provider.kind', 'run_timeout_seconds']));
    expect(Object.values(bad.body.details).join(' ')).toMatch(/colour/);

    const badProvider = await call('POST', '/v1/agents', a.key, { name: 'x', provider: { kind: 'openai', base_url: 'ftp://x', model: '' } });
    expect(Object.keys(badProvider.body.details)).toEqual(expect.arrayContaining(['provider.base_url', 'provider.model']));

    const emptyPatch = await call('PATCH', `/v1/agents/${a.agent}`, a.key, {});
    expect(emptyPatch.status).toBe(422);
    const badQuery = await call('GET', '/v1/agents?limit=101&page=0', a.key);
    expect(badQuery.status).toBe(422);
    expect(Object.keys(badQuery.body.details).sort()).toEqual(['limit', 'page']);
    const badKey = await call('POST', '/v1/api-keys', a.key, { name: '', scopes: ['runs:read', 'runs:read', 'root'] });
    expect(badKey.status).toBe(422);
    expect(Object.keys(badKey.body.details)).toEqual(expect.arrayContaining(['name']));
    expect(Object.keys(badKey.body.details).some((k) => k.startsWith('scopes'))).toBe(true);
  });
});

describe('API keys', () => {
  it('shows the secret once, lists by prefix, and a revoked key fails on the very next request', async () => {
    const created = await call('POST', '/v1/api-keys', a.key, { name: 'Zapier', scopes: ['runs:read', 'runs:write'] });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const { key, id, prefix } = created.body;
    expect(key).toMatch(/^awk_[0-9a-f]{64}$/);
    expect(prefix).toBe(key.slice(4, 12));

    const listed = await call('GET', '/v1/api-keys?limit=100', a.key);
    const row = listed.body.data.find((k: { id: string }) => k.id === id);
    expect(row).toMatchObject({ name: 'Zapier', prefix, agent_id: null, scopes: ['runs:read', 'runs:write'], revoked_at: null });
    expect(JSON.stringify(listed.body)).not.toContain(key);

    expect((await call('GET', '/v1/runs', key)).status).toBe(200);
    expect(listed.body.data.find((k: { id: string }) => k.id === id).last_used_at).toBeNull();
    const used = (await call('GET', '/v1/api-keys?limit=100', a.key)).body.data.find((k: { id: string }) => k.id === id);
    expect(used.last_used_at).not.toBeNull();

    expect((await call('DELETE', `/v1/api-keys/${id}`, a.key)).status).toBe(204);
    expect((await call('GET', '/v1/runs', key)).status).toBe(401);
    expect((await call('DELETE', `/v1/api-keys/${id}`, a.key)).status).toBe(204);
    const revoked = (await call('GET', '/v1/api-keys?limit=100', a.key)).body.data.find((k: { id: string }) => k.id === id);
    expect(revoked.revoked_at).not.toBeNull();
  });

  it('supports several keys per agent for rotation', async () => {
    const first = await createKey(a.key, { name: 'rotate 1', agent_id: a.agent });
    const second = await createKey(a.key, { name: 'rotate 2', agent_id: a.agent });
    expect((await call('GET', `/v1/agents/${a.agent}`, first)).status).toBe(200);
    expect((await call('GET', `/v1/agents/${a.agent}`, second)).status).toBe(200);
    const keys = await call('GET', `/v1/api-keys?agent_id=${a.agent}&limit=100`, a.key);
    expect(keys.body.data.filter((k: { name: string }) => k.name.startsWith('rotate'))).toHaveLength(2);
  });

  it('keeps no plaintext key anywhere in the database', async () => {
    const secrets = [a.key, a.agentKey, b.key, b.agentKey, await createKey(a.key, { name: 'probe' })];
    const tables = ['orgs', 'api_keys', 'agents', 'runs', 'credit_entries'] as const;
    let dump = '';
    for (const table of tables) dump += JSON.stringify(await stack.database.db.selectFrom(table).selectAll().execute());
    for (const secret of secrets) {
      expect(dump).not.toContain(secret);
      expect(dump).not.toContain(secret.slice(4)); // nor its hex part
    }
  });
});
