import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantCredits } from '../../src/db/credits.js';
import { TOTAL_CAP } from '../../src/db/pagination.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/** Keyset pagination on every list (#19.1): cursors, has_more/next_cursor, the capped total and bounded pages. */
const ADMIN_TOKEN = `admin-${randomBytes(16).toString('hex')}`;
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ worker: false, postgres: true, config: { ADMIN_TOKEN } });
});
afterAll(async () => {
  await stack?.close();
});

async function orgWithAgent(name: string) {
  const org = await stack.newOrg(name);
  const agent = await stack.api('/v1/agents', { key: org.apiKey, body: { name: 'paged', provider: { kind: 'echo' } } });
  expect(agent.status).toBe(201);
  return { ...org, agentId: agent.body.id as string };
}

/** `count` finished runs, created at `at` minus i seconds modulo `distinctTimes` (so many share a created_at: ties break by id). */
async function insertRuns(orgId: string, agentId: string, count: number, opts: { distinctTimes?: number; status?: string; at?: string } = {}) {
  await sql`
    insert into runs (id, org_id, agent_id, source, status, message, created_at)
    select gen_random_uuid(), ${orgId}::uuid, ${agentId}::uuid, 'api', ${opts.status ?? 'completed'}, 'seeded ' || g,
           ${opts.at ?? '2026-01-01T00:00:00Z'}::timestamptz - make_interval(secs => g % ${opts.distinctTimes ?? 1_000_000})
    from generate_series(1, ${count}) g`.execute(stack.database.db);
}

async function get(path: string, key: string) {
  const res = await stack.api(path, { key });
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
  const body = res.body as { data: { id?: string; run_id?: string }[]; pagination: Record<string, unknown> };
  // Runs are named by run_id, everything else by id.
  return { ...body, data: body.data.map((d) => ({ id: (d.id ?? d.run_id) as string })) };
}

describe('cursor pagination (#19.1)', () => {
  it('walks every page while rows are inserted concurrently: each pre-existing row exactly once, no duplicates', async () => {
    const { orgId, apiKey, agentId } = await orgWithAgent('Walked org');
    // 300 runs on 40 distinct timestamps: pages end in the middle of ties.
    await insertRuns(orgId, agentId, 300, { distinctTimes: 40 });
    const before = await stack.database.db.selectFrom('runs').select('id').where('org_id', '=', orgId).execute();
    const preExisting = new Set(before.map((r) => r.id));

    // A writer inserting new runs (now, and back-dated into the part not yet walked) for the whole walk.
    let writing = true;
    let inserted = 0;
    const writer = (async () => {
      while (writing) {
        await insertRuns(orgId, agentId, 3, { at: new Date().toISOString(), distinctTimes: 1 });
        await insertRuns(orgId, agentId, 2, { at: '2025-12-31T23:59:30Z', distinctTimes: 1 });
        inserted += 5;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    let useStartingAfter = false;
    try {
      do {
        const query: string = cursor
          ? useStartingAfter
            ? `starting_after=${seen.at(-1)}`
            : `cursor=${encodeURIComponent(cursor)}`
          : 'page=1';
        const body = await get(`/v1/runs?limit=7&${query}`, apiKey);
        pages++;
        seen.push(...body.data.map((r) => r.id));
        expect(body.pagination.has_more).toBe(body.pagination.next_cursor !== null);
        if (cursor) expect(body.pagination.page).toBeNull();
        cursor = body.pagination.next_cursor as string | null;
        useStartingAfter = !useStartingAfter; // alternate the two ways to name a position
      } while (cursor);
    } finally {
      writing = false;
      await writer;
    }

    const counts = new Map<string, number>();
    for (const id of seen) counts.set(id, (counts.get(id) ?? 0) + 1);
    const duplicates = [...counts.values()].filter((n) => n > 1).length;
    const preExistingSeen = [...preExisting].filter((id) => counts.get(id) === 1).length;
    console.log(`cursor walk: ${pages} pages, ${seen.length} rows, ${preExistingSeen}/${preExisting.size} pre-existing seen once, ${duplicates} duplicates, ${inserted} inserted during the walk`);
    expect(inserted).toBeGreaterThan(0);
    expect(duplicates).toBe(0);
    expect(preExistingSeen).toBe(preExisting.size);
  });

  it('counts exactly up to the cap, reports the cap beyond it, and bounds page numbers', async () => {
    const { orgId, apiKey, agentId } = await orgWithAgent('Capped org');
    await insertRuns(orgId, agentId, TOTAL_CAP + 50);
    await insertRuns(orgId, agentId, 3, { status: 'failed' });

    const first = await get('/v1/runs?limit=100', apiKey);
    expect(first.pagination).toMatchObject({ page: 1, limit: 100, total: TOTAL_CAP, total_capped: true, pages: TOTAL_CAP / 100, has_more: true });
    const last = await get(`/v1/runs?limit=100&page=${TOTAL_CAP / 100}`, apiKey);
    expect(last.data).toHaveLength(100);
    expect(last.pagination.has_more).toBe(true); // items remain beyond the cap: reach them by cursor

    const tooDeep = await stack.api(`/v1/runs?limit=100&page=${TOTAL_CAP / 100 + 1}`, { key: apiKey });
    expect(tooDeep.status).toBe(422);
    expect(tooDeep.body.details.page).toMatch(/next_cursor/);
    const beyond = await get(`/v1/runs?limit=100&cursor=${encodeURIComponent(last.pagination.next_cursor as string)}`, apiKey);
    expect(beyond.data).toHaveLength(53);
    expect(beyond.pagination.has_more).toBe(false);

    const filtered = await get('/v1/runs?status=failed&limit=2', apiKey);
    expect(filtered.pagination).toMatchObject({ total: 3, total_capped: false, pages: 2, has_more: true });

    expect((await stack.api('/v1/runs?cursor=not-a-cursor', { key: apiKey })).status).toBe(422);
    expect((await stack.api(`/v1/runs?starting_after=${randomUUID()}`, { key: apiKey })).status).toBe(422);
    expect((await stack.api(`/v1/runs?page=2&cursor=${encodeURIComponent(first.pagination.next_cursor as string)}`, { key: apiKey })).status).toBe(422);
  });

  it('answers has_more and next_cursor on every list, and the cursor walk equals the page walk', async () => {
    const { orgId, apiKey, agentId } = await orgWithAgent('Listed org');
    const key = apiKey;
    const post = async (path: string, body: unknown, token = key) => {
      const res = await stack.api(path, { key: token, body });
      expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(201);
      return res.body as { id: string };
    };
    await post('/v1/agents', { name: 'second', provider: { kind: 'echo' } });
    await post('/v1/api-keys', { name: 'second key', scopes: ['runs:read'] });
    for (const n of [1, 2]) {
      await post(`/v1/agents/${agentId}/webhooks`, { name: `hook ${n}` });
      await post(`/v1/agents/${agentId}/triggers`, { name: `trigger ${n}`, scheme: 'none', message_template: 'hi' });
      await post(`/v1/agents/${agentId}/tasks`, { name: `task ${n}`, instructions: 'do it' });
      await post('/v1/portal-sessions', { org_id: orgId, scopes: ['agents:read'], name: `portal ${n}` }, ADMIN_TOKEN);
    }
    const endpoint = await post('/v1/endpoints', { url: 'http://127.0.0.1:9/a', events: ['run.completed'] });
    await post('/v1/endpoints', { url: 'http://127.0.0.1:9/b', events: ['run.completed'] });
    await insertRuns(orgId, agentId, 3);
    const db = stack.database.db;
    await sql`insert into events (id, org_id, agent_id, type, data, dedupe_key)
              select gen_random_uuid(), ${orgId}::uuid, ${agentId}::uuid, 'run.completed', '{}'::jsonb, 'paged-' || gen_random_uuid() from generate_series(1, 3)`.execute(db);
    await sql`insert into deliveries (id, org_id, kind, endpoint_id, url, message_id, status)
              select gen_random_uuid(), ${orgId}::uuid, 'endpoint', ${endpoint.id}::uuid, 'http://127.0.0.1:9/a', 'msg_' || g, 'failed' from generate_series(1, 3) g`.execute(db);
    await grantCredits(db, { orgId, amount: 5, reason: 'paged' });
    const conversationId = randomUUID();
    await sql`insert into conversations (id, org_id, agent_id, subject, updated_at) values (${conversationId}::uuid, ${orgId}::uuid, ${agentId}::uuid, 'paged', now())`.execute(db);
    // 105 messages, a second apart, alternating user/assistant: more than GET /v1/conversations/{id} embeds.
    await sql`insert into messages (id, conversation_id, role, content, created_at)
              select gen_random_uuid(), ${conversationId}::uuid, case when g % 2 = 1 then 'user' else 'assistant' end, 'message ' || g,
                     '2026-01-01T00:00:00Z'::timestamptz + make_interval(secs => g)
              from generate_series(1, 105) g`.execute(db);

    const lists = [
      '/v1/runs',
      '/v1/events',
      '/v1/agents',
      '/v1/api-keys',
      '/v1/endpoints',
      `/v1/endpoints/${endpoint.id}/deliveries`,
      `/v1/agents/${agentId}/webhooks`,
      `/v1/agents/${agentId}/triggers`,
      `/v1/agents/${agentId}/tasks`,
      '/v1/credits',
      '/v1/portal-sessions',
      `/v1/conversations/${conversationId}/messages`,
    ];
    const walked: Record<string, number> = {};
    for (const list of lists) {
      const byPage: string[] = [];
      for (let page = 1; ; page++) {
        const body = await get(`${list}?limit=1&page=${page}`, key);
        byPage.push(...body.data.map((d) => d.id));
        if (page === 1) expect(body.pagination.total, list).toBeGreaterThanOrEqual(2);
        if (!body.pagination.has_more) break;
      }
      const byCursor: string[] = [];
      let cursor: string | null = null;
      do {
        const body = await get(`${list}?limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, key);
        byCursor.push(...body.data.map((d) => d.id));
        expect(typeof body.pagination.has_more, list).toBe('boolean');
        expect(body.pagination.next_cursor === null, list).toBe(!body.pagination.has_more);
        cursor = body.pagination.next_cursor as string | null;
      } while (cursor);
      expect(byCursor, list).toEqual(byPage);
      expect(new Set(byCursor).size, list).toBe(byCursor.length);
      walked[list] = byCursor.length;
    }
    console.log(`lists walked by cursor (items): ${JSON.stringify(walked)}`);
    expect(walked[`/v1/conversations/${conversationId}/messages`]).toBe(105);

    // The conversation itself embeds only its latest 100 messages, oldest first, and says so.
    const conversation = await stack.api(`/v1/conversations/${conversationId}`, { key });
    expect(conversation.status).toBe(200);
    const contents = conversation.body.messages.map((m: { content: string }) => m.content);
    expect(contents).toHaveLength(100);
    expect(contents[0]).toBe('message 6');
    expect(contents.at(-1)).toBe('message 105');
    expect(conversation.body.messages_truncated).toBe(true);
    expect(conversation.body.links.messages).toBe(`${stack.baseUrl}/v1/conversations/${conversationId}/messages`);
    const newest = await stack.api(`/v1/conversations/${conversationId}/messages?limit=2`, { key });
    expect(newest.body.data.map((m: { content: string }) => m.content)).toEqual(['message 105', 'message 104']);
    expect((await stack.api(`/v1/conversations/${conversationId}/messages`, { key: (await stack.newOrg('Stranger')).apiKey })).status).toBe(404);
  });
});
