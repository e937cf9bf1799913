import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { authenticateBearer, isCredentialActive } from '../../src/api/middleware/auth.js';
import { openDatabase } from '../../src/db/connect.js';
import { exchangePortalLink } from '../../src/db/portalSessions.js';
import { hashSecret } from '../../src/domain/apiKeys.js';
import { createEchoAgent } from '../../src/services/orgs.js';
import { exitOf, spawnEntry } from '../support/processes.js';
import { readSse } from '../support/sse.js';
import { ContractChecker } from '../support/openapi.js';
import { startTestStack, type ApiResponse, type TestStack } from '../support/stack.js';

/**
 * Portal sessions end to end on the real stack: the operator (admin token) or a key with
 * `portal:write` issues a single-use link, the console exchanges it once for a session token,
 * and that token is an API credential with exactly its scopes and agent, until it expires or
 * is revoked. Every answer is also checked against /openapi.json.
 */
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;

let stack: TestStack;
let contract: ContractChecker;
let org: { orgId: string; key: string; agentX: string; agentY: string };
let other: { orgId: string; key: string; agent: string };

async function call(method: string, path: string, key?: string, body?: unknown): Promise<ApiResponse> {
  const response = await stack.api(path, { method, key, body });
  contract.expectDocumented(method, path, response);
  return response;
}

async function ok(method: string, path: string, key: string | undefined, body: unknown, status: number) {
  const response = await call(method, path, key, body);
  expect(response.status, `${method} ${path}: ${JSON.stringify(response.body)}`).toBe(status);
  return response.body;
}

const linkToken = (url: string) => {
  const match = /\/console\/#portal=(apl_[0-9a-f]{64})$/.exec(url);
  expect(match, url).not.toBeNull();
  return match![1]!;
};

/** Issues a link and exchanges it: the session token and what the issue answered. */
async function session(issuer: string, body: Record<string, unknown>) {
  const issued = await ok('POST', '/v1/portal-sessions', issuer, body, 201);
  const exchanged = await ok('POST', '/v1/portal-sessions/exchange', undefined, { token: linkToken(issued.url) }, 200);
  return { issued, token: exchanged.session_token as string, exchanged };
}

const until = async (when: string) => {
  const wait = new Date(when).getTime() - Date.now() + 50;
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
};

/** A problem body minus what differs per request, to compare refusals with each other. */
const problem = (r: ApiResponse) => ({ status: r.status, type: r.body.type, title: r.body.title, detail: r.body.detail, code: r.body.code });

beforeAll(async () => {
  stack = await startTestStack({ config: { ADMIN_TOKEN } });
  contract = new ContractChecker((await stack.api('/openapi.json')).body);
  const a = await stack.newOrg('Portal org');
  const agentX = (await ok('POST', '/v1/agents', a.apiKey, { name: 'Agent X' }, 201)).id;
  const agentY = (await ok('POST', '/v1/agents', a.apiKey, { name: 'Agent Y' }, 201)).id;
  org = { orgId: a.orgId, key: a.apiKey, agentX, agentY };
  const b = await stack.newOrg('Other org');
  other = { orgId: b.orgId, key: b.apiKey, agent: (await ok('POST', '/v1/agents', b.apiKey, { name: 'Other agent' }, 201)).id };
});
afterAll(() => stack?.close());

describe('a portal link issued with the admin token', () => {
  it('opens a session limited to its agent and scopes, once', async () => {
    const issue = await call('POST', '/v1/portal-sessions', ADMIN_TOKEN, { org_id: org.orgId, agent_id: org.agentX, scopes: ['agents:read', 'runs:read'], name: 'Acme portal' });
    expect(issue.status, JSON.stringify(issue.body)).toBe(201);
    expect(issue.headers.get('cache-control')).toBe('no-store');
    expect(issue.body).toMatchObject({ org_id: org.orgId, agent_id: org.agentX, scopes: ['agents:read', 'runs:read'], name: 'Acme portal' });
    expect(issue.body.url.startsWith(`${stack.baseUrl}/console/#portal=apl_`)).toBe(true);
    // Defaults: the link lasts 5 minutes, the session an hour.
    const created = Date.now();
    expect(Math.abs(new Date(issue.body.link_expires_at).getTime() - created - 300_000)).toBeLessThan(30_000);
    expect(Math.abs(new Date(issue.body.expires_at).getTime() - created - 3_600_000)).toBeLessThan(30_000);

    const token = linkToken(issue.body.url);
    const exchange = await call('POST', '/v1/portal-sessions/exchange', undefined, { token });
    expect(exchange.status).toBe(200);
    expect(exchange.headers.get('cache-control')).toBe('no-store');
    expect(exchange.body).toMatchObject({ id: issue.body.id, org_id: org.orgId, agent_id: org.agentX, scopes: ['agents:read', 'runs:read'], expires_at: issue.body.expires_at });
    const sessionToken: string = exchange.body.session_token;
    expect(sessionToken).toMatch(/^aps_[0-9a-f]{64}$/);

    // The session works on what it was given…
    expect(await ok('GET', '/v1/me', sessionToken, undefined, 200)).toEqual({
      id: issue.body.id, kind: 'portal_session', org_id: org.orgId, agent_id: org.agentX, scopes: ['agents:read', 'runs:read'], name: 'Acme portal', expires_at: issue.body.expires_at,
    });
    expect((await ok('GET', `/v1/agents/${org.agentX}`, sessionToken, undefined, 200)).name).toBe('Agent X');
    const agents = await ok('GET', '/v1/agents', sessionToken, undefined, 200);
    expect(agents.data.map((x: { id: string }) => x.id)).toEqual([org.agentX]);
    await ok('GET', '/v1/runs', sessionToken, undefined, 200);
    // …and nothing else: another agent of the same org does not exist for it, other scopes are refused.
    await ok('GET', `/v1/agents/${org.agentY}`, sessionToken, undefined, 404);
    await ok('GET', `/v1/agents/${other.agent}`, sessionToken, undefined, 404);
    await ok('PATCH', `/v1/agents/${org.agentX}`, sessionToken, { instructions: 'changed' }, 403);
    await ok('POST', '/v1/agents', sessionToken, { name: 'New' }, 403);
    await ok('GET', '/v1/api-keys', sessionToken, undefined, 403);
    await ok('GET', '/v1/endpoints', sessionToken, undefined, 403);
    await ok('POST', '/v1/portal-sessions', sessionToken, { scopes: ['agents:read'] }, 403);
    await ok('GET', '/v1/portal-sessions', sessionToken, undefined, 403);

    // The link is spent: a second exchange gets the very answer an unknown or malformed token gets.
    const again = await call('POST', '/v1/portal-sessions/exchange', undefined, { token });
    const unknown = await call('POST', '/v1/portal-sessions/exchange', undefined, { token: `apl_${randomBytes(32).toString('hex')}` });
    const malformed = await call('POST', '/v1/portal-sessions/exchange', undefined, { token: 'not-a-token' });
    expect(again.status).toBe(404);
    expect(problem(again)).toEqual(problem(unknown));
    expect(problem(again)).toEqual(problem(malformed));
    // The session token is not a link, nor the link a session.
    expect((await call('POST', '/v1/portal-sessions/exchange', undefined, { token: sessionToken })).status).toBe(404);
    expect((await call('GET', '/v1/me', token)).status).toBe(401);

    const listed = await ok('GET', `/v1/portal-sessions?org_id=${org.orgId}&limit=100`, ADMIN_TOKEN, undefined, 200);
    const row = listed.data.find((s: { id: string }) => s.id === issue.body.id);
    expect(row).toMatchObject({ status: 'active', created_by: 'admin', agent_id: org.agentX, revoked_at: null });
    expect(row.exchanged_at).toEqual(expect.any(String));
    expect(JSON.stringify(listed)).not.toContain(token);
    expect(JSON.stringify(listed)).not.toContain(sessionToken);
  });

  it('starts a run and follows its live event stream, on its own agent only', async () => {
    const { token } = await session(ADMIN_TOKEN, { org_id: org.orgId, agent_id: org.agentX, scopes: ['runs:read', 'runs:write'] });
    const run = await ok('POST', `/v1/agents/${org.agentX}/runs`, token, { message: 'hello from the console' }, 202);
    await ok('POST', `/v1/agents/${org.agentY}/runs`, token, { message: 'not my agent' }, 404);
    const stream = await readSse(`${stack.baseUrl}/v1/runs/${run.run_id}/events`, { key: token, timeoutMs: 30_000 });
    expect(stream.status).toBe(200);
    expect(stream.events.map((e) => e.data.event_type)).toContain('run_completed');
    expect((await ok('GET', `/v1/runs/${run.run_id}`, token, undefined, 200)).result).toContain('hello from the console');
  });

  it('lets exactly one of five concurrent exchanges of a link win', async () => {
    const issued = await ok('POST', '/v1/portal-sessions', ADMIN_TOKEN, { org_id: org.orgId, scopes: ['agents:read'] }, 201);
    const token = linkToken(issued.url);
    const answers = await Promise.all(Array.from({ length: 5 }, () => call('POST', '/v1/portal-sessions/exchange', undefined, { token })));
    expect(answers.map((r) => r.status).sort()).toEqual([200, 404, 404, 404, 404]);
  });

  it('refuses a link past its lifetime, and never lets a link outlive its session', async () => {
    const issued = await ok('POST', '/v1/portal-sessions', ADMIN_TOKEN, { org_id: org.orgId, scopes: ['agents:read'], link_ttl_seconds: 1 }, 201);
    await until(issued.link_expires_at);
    const late = await call('POST', '/v1/portal-sessions/exchange', undefined, { token: linkToken(issued.url) });
    expect(late.status).toBe(404);
    const listed = await ok('GET', `/v1/portal-sessions?org_id=${org.orgId}&limit=100`, ADMIN_TOKEN, undefined, 200);
    expect(listed.data.find((s: { id: string }) => s.id === issued.id).status).toBe('expired');

    const short = await ok('POST', '/v1/portal-sessions', ADMIN_TOKEN, { org_id: org.orgId, scopes: ['agents:read'], expires_in_seconds: 60, link_ttl_seconds: 3600 }, 201);
    expect(short.link_expires_at).toBe(short.expires_at);
  });

  it('ends the session at expires_at: the next request gets 401', async () => {
    const { token, exchanged } = await session(ADMIN_TOKEN, { org_id: org.orgId, scopes: ['agents:read'], expires_in_seconds: 3 });
    expect((await call('GET', '/v1/me', token)).status).toBe(200);
    await until(exchanged.expires_at);
    const expired = await call('GET', '/v1/agents', token);
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toBe('Bearer');
    expect((await call('GET', '/v1/me', token)).status).toBe(401);
  });

  it('ends the session when revoked, and a revoked link cannot be opened', async () => {
    const { token, issued } = await session(ADMIN_TOKEN, { org_id: org.orgId, scopes: ['agents:read'] });
    const auth = (await authenticateBearer(stack.database.db, token, new Date()))!;
    expect(auth).toMatchObject({ kind: 'portal_session', keyId: issued.id });
    expect(await isCredentialActive(stack.database.db, auth, new Date())).toBe(true);
    expect((await call('GET', '/v1/agents', token)).status).toBe(200);
    expect((await call('DELETE', `/v1/portal-sessions/${issued.id}`, ADMIN_TOKEN)).status).toBe(204);
    expect((await call('GET', '/v1/agents', token)).status).toBe(401);
    expect(await isCredentialActive(stack.database.db, auth, new Date())).toBe(false);
    expect((await call('DELETE', `/v1/portal-sessions/${issued.id}`, ADMIN_TOKEN)).status).toBe(204);

    const unused = await ok('POST', '/v1/portal-sessions', ADMIN_TOKEN, { org_id: org.orgId, scopes: ['agents:read'] }, 201);
    await ok('DELETE', `/v1/portal-sessions/${unused.id}`, ADMIN_TOKEN, undefined, 204);
    expect((await call('POST', '/v1/portal-sessions/exchange', undefined, { token: linkToken(unused.url) })).status).toBe(404);
    const listed = await ok('GET', `/v1/portal-sessions?org_id=${org.orgId}&limit=100`, ADMIN_TOKEN, undefined, 200);
    expect(listed.data.find((s: { id: string }) => s.id === unused.id).status).toBe('revoked');
  });

  it('deletes an org\'s sessions that ended over 30 days ago when it issues the next link', async () => {
    const own = await stack.newOrg('Retention org');
    const ended = await ok('POST', '/v1/portal-sessions', ADMIN_TOKEN, { org_id: own.orgId, scopes: ['agents:read'] }, 201);
    const revoked = await ok('POST', '/v1/portal-sessions', ADMIN_TOKEN, { org_id: own.orgId, scopes: ['agents:read'] }, 201);
    const recent = await ok('POST', '/v1/portal-sessions', ADMIN_TOKEN, { org_id: own.orgId, scopes: ['agents:read'] }, 201);
    const otherOld = await ok('POST', '/v1/portal-sessions', ADMIN_TOKEN, { org_id: other.orgId, scopes: ['agents:read'] }, 201);
    const longAgo = new Date(Date.now() - 31 * 24 * 3600 * 1000);
    const db = stack.database.db;
    await db.updateTable('portal_sessions').set({ expires_at: longAgo, link_expires_at: longAgo }).where('id', 'in', [ended.id, otherOld.id]).execute();
    await db.updateTable('portal_sessions').set({ revoked_at: longAgo }).where('id', '=', revoked.id).execute();
    await db.updateTable('portal_sessions').set({ revoked_at: new Date(Date.now() - 29 * 24 * 3600 * 1000) }).where('id', '=', recent.id).execute();
    const next = await ok('POST', '/v1/portal-sessions', ADMIN_TOKEN, { org_id: own.orgId, scopes: ['agents:read'] }, 201);
    const left = await db.selectFrom('portal_sessions').select('id').where('id', 'in', [ended.id, revoked.id, recent.id, otherOld.id, next.id]).execute();
    // Another org's old session waits for that org's own next issue.
    expect(left.map((r) => r.id).sort()).toEqual([recent.id, otherOld.id, next.id].sort());
  });

  it('ends the sessions limited to an agent when the agent is deleted', async () => {
    const doomed = (await ok('POST', '/v1/agents', org.key, { name: 'Doomed' }, 201)).id;
    const { token } = await session(ADMIN_TOKEN, { org_id: org.orgId, agent_id: doomed, scopes: ['agents:read'] });
    expect((await call('GET', '/v1/me', token)).status).toBe(200);
    await ok('DELETE', `/v1/agents/${doomed}`, org.key, undefined, 204);
    expect((await call('GET', '/v1/me', token)).status).toBe(401);
  });

  it('needs an existing org, an agent of that org and grantable scopes', async () => {
    const bad = async (body: unknown, status: number, field?: string) => {
      const r = await ok('POST', '/v1/portal-sessions', ADMIN_TOKEN, body, status);
      if (field) expect(Object.keys(r.details ?? {}).join(' ')).toContain(field);
    };
    await bad({ scopes: ['agents:read'] }, 422, 'org_id');
    await bad({ org_id: '00000000-0000-4000-8000-000000000000', scopes: ['agents:read'] }, 422, 'org_id');
    await bad({ org_id: org.orgId, agent_id: other.agent, scopes: ['agents:read'] }, 422, 'agent_id');
    await bad({ org_id: org.orgId, scopes: ['keys:write'] }, 422, 'scopes');
    await bad({ org_id: org.orgId, scopes: ['portal:write'] }, 422, 'scopes');
    await bad({ org_id: org.orgId, scopes: [] }, 422, 'scopes');
    await bad({ org_id: org.orgId, scopes: ['agents:read'], expires_in_seconds: 7 * 24 * 3600 + 1 }, 422, 'expires_in_seconds');
    await bad({ org_id: org.orgId, scopes: ['agents:read'], link_ttl_seconds: 3601 }, 422, 'link_ttl_seconds');
    await ok('POST', '/v1/portal-sessions', ADMIN_TOKEN, { org_id: org.orgId, scopes: ['agents:read'], expires_in_seconds: 7 * 24 * 3600 }, 201);
    expect((await call('POST', '/v1/portal-sessions', 'wrong-admin-token-of-some-length', { org_id: org.orgId, scopes: ['agents:read'] })).status).toBe(401);
  });
});

describe('a key with portal:write', () => {
  it('issues sessions for its own org, never broader than itself', async () => {
    const limited = (await ok('POST', '/v1/api-keys', org.key, { name: 'portal issuer', scopes: ['agents:read', 'runs:read', 'portal:write'] }, 201)).key;
    const { token, issued } = await session(limited, { scopes: ['agents:read'] });
    expect(issued).toMatchObject({ org_id: org.orgId, agent_id: null, scopes: ['agents:read'] });
    expect((await ok('GET', '/v1/agents?limit=100', token, undefined, 200)).data).toHaveLength(2);

    const broader = await ok('POST', '/v1/portal-sessions', limited, { scopes: ['agents:read', 'endpoints:read'] }, 403);
    expect(broader.detail).toContain('endpoints:read');
    await ok('POST', '/v1/portal-sessions', limited, { org_id: other.orgId, scopes: ['agents:read'] }, 403);
    await ok('POST', '/v1/portal-sessions', limited, { org_id: org.orgId, scopes: ['agents:read'] }, 201);
    await ok('POST', '/v1/portal-sessions', limited, { agent_id: other.agent, scopes: ['agents:read'] }, 422);
    // Without the scope, a key issues nothing.
    const noPortal = (await ok('POST', '/v1/api-keys', org.key, { name: 'no portal', scopes: ['agents:read'] }, 201)).key;
    await ok('POST', '/v1/portal-sessions', noPortal, { scopes: ['agents:read'] }, 403);

    // Lists and revocations stay inside the key's org.
    const otherSession = await ok('POST', '/v1/portal-sessions', other.key, { scopes: ['agents:read'] }, 201);
    const mine = await ok('GET', '/v1/portal-sessions?limit=100', limited, undefined, 200);
    expect(mine.data.length).toBeGreaterThan(0);
    expect(mine.data.every((s: { org_id: string }) => s.org_id === org.orgId)).toBe(true);
    expect((await ok('GET', `/v1/portal-sessions?org_id=${other.orgId}`, limited, undefined, 200)).data).toEqual([]);
    await ok('DELETE', `/v1/portal-sessions/${otherSession.id}`, limited, undefined, 404);
    await ok('DELETE', `/v1/portal-sessions/${issued.id}`, limited, undefined, 204);
    expect((await call('GET', '/v1/me', token)).status).toBe(401);
  });

  it('when agent-scoped, issues sessions for its own agent only', async () => {
    const agentKey = (await ok('POST', '/v1/api-keys', org.key, { name: 'agent issuer', agent_id: org.agentX }, 201)).key;
    const { token, issued } = await session(agentKey, { scopes: ['agents:read', 'runs:read'] });
    expect(issued.agent_id).toBe(org.agentX);
    await ok('GET', `/v1/agents/${org.agentY}`, token, undefined, 404);
    await ok('POST', '/v1/portal-sessions', agentKey, { agent_id: org.agentY, scopes: ['agents:read'] }, 422);
    const orgWide = await ok('POST', '/v1/portal-sessions', org.key, { agent_id: org.agentY, scopes: ['agents:read'] }, 201);
    expect((await ok('GET', '/v1/portal-sessions?limit=100', agentKey, undefined, 200)).data.every((s: { agent_id: string }) => s.agent_id === org.agentX)).toBe(true);
    await ok('DELETE', `/v1/portal-sessions/${orgWide.id}`, agentKey, undefined, 404);
  });
});

describe('GET /v1/me', () => {
  it('describes an API key', async () => {
    const created = await ok('POST', '/v1/api-keys', org.key, { name: 'me key', agent_id: org.agentY, scopes: ['runs:read', 'events:read'] }, 201);
    expect(await ok('GET', '/v1/me', created.key, undefined, 200)).toEqual({
      id: created.id, kind: 'api_key', org_id: org.orgId, agent_id: org.agentY, scopes: ['runs:read', 'events:read'], name: 'me key', key_prefix: created.prefix, expires_at: null,
    });
    await ok('DELETE', `/v1/api-keys/${created.id}`, org.key, undefined, 204);
    await ok('GET', '/v1/me', created.key, undefined, 401);
    await ok('GET', '/v1/me', undefined, undefined, 401);
  });
});

describe('npm run cli -- portal-session create', () => {
  it('prints a single-use link for an org or one agent; the database keeps only its hash', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'aw-portal-cli-'));
    const env = { DATA_DIR: dataDir, DATABASE_URL: inject('databaseUrl') ?? undefined };
    const open = () => openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL } : { pgliteDir: join(dataDir, 'pglite') });
    try {
      const created = spawnEntry('src/cli.ts', env, ['org', 'create', '--name', 'Portal CLI org']);
      expect((await exitOf(created)).code).toBe(0);
      const out = created.output();
      const orgId: string = JSON.parse(out.slice(0, out.lastIndexOf('}') + 1)).org.id;
      let database = await open();
      const agent = await createEchoAgent(database.db, orgId, 'CLI agent');
      await database.close();

      const bad = spawnEntry('src/cli.ts', env, ['portal-session', 'create', '--org', orgId, '--scopes', 'agents:read,keys:write']);
      expect((await exitOf(bad)).code).toBe(64);
      expect(bad.output()).toContain('--scopes');
      const cli = spawnEntry('src/cli.ts', env, ['portal-session', 'create', '--org', orgId, '--agent', agent.id, '--scopes', 'agents:read,runs:read', '--expires-in', '600']);
      expect((await exitOf(cli)).code, cli.output()).toBe(0);
      const [url, json] = cli.output().split('\n');
      const token = /^http:\/\/localhost:\d+\/console\/#portal=(apl_[0-9a-f]{64})$/.exec(url!)?.[1];
      expect(token, url).toBeDefined();
      const printed = JSON.parse(json!);
      expect(printed).toMatchObject({ org_id: orgId, agent_id: agent.id, scopes: ['agents:read', 'runs:read'] });

      database = await open();
      try {
        const row = await database.db.selectFrom('portal_sessions').selectAll().where('id', '=', printed.id).executeTakeFirstOrThrow();
        expect(row).toMatchObject({ link_hash: hashSecret(token!), created_by: 'cli', session_hash: null });
        expect(JSON.stringify(row)).not.toContain(token!.slice(4));
        expect(row.expires_at.getTime() - row.created_at.getTime()).toBeGreaterThan(590_000);
        // The printed link is the real thing: it exchanges once.
        const now = new Date();
        expect(await exchangePortalLink(database.db, hashSecret(token!), { hash: hashSecret('session-a'), prefix: 'aaaaaaaa' }, now)).toMatchObject({ id: printed.id });
        expect(await exchangePortalLink(database.db, hashSecret(token!), { hash: hashSecret('session-b'), prefix: 'bbbbbbbb' }, now)).toBeUndefined();
      } finally {
        await database.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
