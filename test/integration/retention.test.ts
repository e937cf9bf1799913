import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { ensureRetentionSchedule } from '../../src/temporal/retentionSchedule.js';
import type { RetentionPurgeInput, RetentionPurgeResult } from '../../workflows/retentionPurge.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

const ADMIN_TOKEN = 'retention-admin-token-0123456789';
const DAY = 86_400_000;
/** The statements src/db/retention.ts sends: its deletes, its SKIP LOCKED selections and the key release. */
const PURGE_STATEMENT = /delete from|skip locked|set "idempotency_key" = \$1/i;

let stack: TestStack;
let receiver: Receiver;

beforeAll(async () => {
  // Real PostgreSQL: the purge's locks are what this file measures.
  stack = await startTestStack({ postgres: true, config: { ADMIN_TOKEN, RETENTION_DAYS: '30' } });
  receiver = await startReceiver();
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

const db = () => stack.database.db;

/** The purge as the schedule runs it, on this file's task queue, with the clock injected (asOf). */
async function purge(input: RetentionPurgeInput): Promise<RetentionPurgeResult> {
  return stack.temporal.workflow.execute('retentionPurge', { taskQueue: stack.taskQueue, workflowId: `retention-test-${randomUUID()}`, args: [input] });
}

async function dbNow(): Promise<Date> {
  const { rows } = await sql<{ now: Date }>`select clock_timestamp() as now`.execute(db());
  return rows[0]!.now;
}

/** Every row that belongs to these runs, by table. */
async function rowsOf(runIds: string[], conversationIds?: string[]) {
  const ids = sql`${runIds}::uuid[]`;
  const conversations = conversationIds ? sql`${conversationIds}::uuid[]` : sql`array(select conversation_id from runs where id = any(${ids}))`;
  const { rows } = await sql<Record<string, number>>`
    select
      (select count(*)::int from runs where id = any(${ids})) as runs,
      (select count(*)::int from messages where run_id = any(${ids})) as messages,
      (select count(*)::int from run_events where run_id = any(${ids})) as run_events,
      (select count(*)::int from events where run_id = any(${ids})) as events,
      (select count(*)::int from deliveries where run_id = any(${ids}) or event_id in (select id from events where run_id = any(${ids}))) as deliveries,
      (select count(*)::int from delivery_attempts a join deliveries d on d.id = a.delivery_id
         where d.run_id = any(${ids}) or d.event_id in (select id from events where run_id = any(${ids}))) as delivery_attempts,
      (select count(*)::int from conversations where id = any(${conversations})) as conversations`.execute(db());
  return rows[0]!;
}

async function wallet(orgId: string) {
  const { rows } = await sql<{ balance: string; held: string; ledger: string; entries: number }>`
    select o.balance, o.held, (select coalesce(sum(amount), 0) from credit_entries where org_id = o.id) as ledger,
           (select count(*)::int from credit_entries where org_id = o.id) as entries
    from orgs o where o.id = ${orgId}`.execute(db());
  return rows[0]!;
}

async function trigger(key: string, agentId: string, body: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const response = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'keep me briefly', ...body }, headers });
  expect(response.status).toBe(202);
  return response.body.run_id as string;
}

async function completed(key: string, runId: string) {
  await eventually(async () => ((await stack.api(`/v1/runs/${runId}`, { key })).body.status === 'completed' ? true : undefined), `run ${runId} to complete`);
}

describe('retention', () => {
  it('is scheduled once per task queue, however many workers start, on the latest interval', async () => {
    const log = createLogger('silent', 'test');
    const id = await ensureRetentionSchedule(stack.temporal, { taskQueue: stack.taskQueue, everyMs: 3_600_000, batchSize: 500, log });
    // A second worker (or a restart with another interval) converges the same schedule.
    expect(await ensureRetentionSchedule(stack.temporal, { taskQueue: stack.taskQueue, everyMs: 1_800_000, batchSize: 200, log })).toBe(id);
    const handle = stack.temporal.schedule.getHandle(id);
    try {
      const described = await handle.describe();
      expect(described.spec.intervals).toMatchObject([{ every: 1_800_000 }]);
      expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionPurge', taskQueue: stack.taskQueue, args: [{ batchSize: 200 }] });
    } finally {
      await handle.delete();
    }
  });

  it('removes runs older than the org window with all their rows, keeps newer and live runs, the ledger and the balance', async () => {
    const { orgId, apiKey: key } = await stack.newOrg('retention');
    // The org's own window, set by the operator (the default would be RETENTION_DAYS=30). Its whole
    // event log is kept too, so the purge meets events no endpoint received (by default those are
    // never stored: test/integration/eventLog.test.ts).
    const patched = await stack.api(`/v1/admin/orgs/${orgId}`, { method: 'PATCH', key: ADMIN_TOKEN, body: { retention_days: 7, event_log: 'all' } });
    expect(patched.status).toBe(200);
    expect(patched.body.retention_days).toBe(7);
    const { orgId: otherOrgId, apiKey: otherKey } = await stack.newOrg('retention, default window');

    const agent = (await stack.api('/v1/agents', { key, body: { name: 'Echo', provider: { kind: 'echo' } } })).body;
    const slow = (await stack.api('/v1/agents', { key, body: { name: 'Slow', provider: { kind: 'echo', delay_ms: 120_000 }, run_timeout_seconds: 300 } })).body;
    const otherAgent = (await stack.api('/v1/agents', { key: otherKey, body: { name: 'Echo', provider: { kind: 'echo' } } })).body;
    const endpoint = await stack.api('/v1/endpoints', { key, body: { url: `${receiver.url}`, events: ['run.completed', 'agent.message'] } });
    expect(endpoint.status).toBe(201);

    // Old: two runs of one conversation, one more, a run still processing (holding credits), and the other org's run.
    const first = await trigger(key, agent.id);
    await completed(key, first);
    const conversationId = (await stack.api(`/v1/runs/${first}`, { key })).body.conversation_id as string;
    const old = [first, await trigger(key, agent.id, { conversation_id: conversationId }), await trigger(key, agent.id)];
    for (const id of old) await completed(key, id);
    const live = await trigger(key, slow.id);
    const otherOld = await trigger(otherKey, otherAgent.id);
    await completed(otherKey, otherOld);
    await eventually(async () => {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from deliveries where org_id = ${orgId} and status = 'succeeded'`.execute(db());
      return rows[0]!.n >= old.length * 2 ? true : undefined;
    }, 'the old runs to be delivered');

    await new Promise((r) => setTimeout(r, 20));
    const boundary = await dbNow();
    await new Promise((r) => setTimeout(r, 20));
    const fresh = [await trigger(key, agent.id), await trigger(key, agent.id)];
    for (const id of fresh) await completed(key, id);
    await eventually(async () => {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from deliveries where org_id = ${orgId} and status = 'succeeded'`.execute(db());
      return rows[0]!.n >= (old.length + fresh.length) * 2 ? true : undefined;
    }, 'the new runs to be delivered');

    const oldConversations = (await sql<{ id: string }>`select distinct conversation_id as id from runs where id = any(${old}::uuid[])`.execute(db())).rows.map((r) => r.id);
    const oldRows = await rowsOf(old, oldConversations);
    expect(oldRows).toMatchObject({ runs: 3, messages: 6, conversations: 2, deliveries: 6, delivery_attempts: 6 });
    expect(oldRows.events).toBeGreaterThanOrEqual(12);
    const freshRows = await rowsOf(fresh);
    const walletBefore = await wallet(orgId);
    const otherWalletBefore = await wallet(otherOrgId);
    expect(Number(walletBefore.held)).toBeGreaterThan(0); // the live run holds credits

    // The clock, injected: 7 days after the boundary, the org's old runs are past its window;
    // the other org's run is within its 30 days.
    const result = await purge({ asOf: new Date(boundary.getTime() + 7 * DAY).toISOString(), batchSize: 2 });
    console.log(`[retention] purge removed ${JSON.stringify(result.removed)} in ${result.batches} batches`);

    expect(await rowsOf(old, oldConversations)).toEqual({ runs: 0, messages: 0, run_events: 0, events: 0, deliveries: 0, delivery_attempts: 0, conversations: 0 });
    expect(result.removed.runs).toBeGreaterThanOrEqual(old.length);
    expect(result.removed.conversations).toBeGreaterThanOrEqual(2);
    expect(result.removed.delivery_attempts).toBeGreaterThanOrEqual(6);
    for (const id of old) expect((await stack.api(`/v1/runs/${id}`, { key })).status).toBe(404);
    // Newer runs, the run in progress and the other org keep every row.
    expect(await rowsOf(fresh)).toEqual(freshRows);
    expect((await rowsOf([live])).runs).toBe(1);
    expect((await rowsOf([otherOld])).runs).toBe(1);
    // The ledger keeps its rows (and the charges their run ids); the balance is what it was.
    expect(await wallet(orgId)).toEqual(walletBefore);
    expect(await wallet(otherOrgId)).toEqual(otherWalletBefore);
    const credits = await stack.api('/v1/credits', { key });
    expect(credits.status).toBe(200);
    expect(credits.body.balance).toBe(Number(walletBefore.balance));

    // The metrics counter counts what the worker removed.
    const { registry } = await import('../../src/metrics.js');
    const counted = (await registry.getSingleMetric('aw_retention_purged_rows_total')!.get()).values;
    expect(counted.find((v) => v.labels.table === 'runs')!.value).toBeGreaterThanOrEqual(old.length);

    await stack.api(`/v1/runs/${live}/cancel`, { key, method: 'POST' });
  }, 240_000);

  it('lets an Idempotency-Key replay for 24 hours, then treats the same key as a new run', async () => {
    const { apiKey: key } = await stack.newOrg('idempotency');
    const agent = (await stack.api('/v1/agents', { key, body: { name: 'Echo', provider: { kind: 'echo' } } })).body;
    const headers = { 'Idempotency-Key': 'order-42' };
    const first = await trigger(key, agent.id, {}, headers);
    expect(await trigger(key, agent.id, {}, headers)).toBe(first);
    await completed(key, first);

    // 23 hours on, it still replays; 25 hours on, the purge has released it and the key makes a new run.
    await sql`update runs set created_at = created_at - interval '23 hours' where id = ${first}`.execute(db());
    expect(await trigger(key, agent.id, {}, headers)).toBe(first);
    await sql`update runs set created_at = created_at - interval '2 hours' where id = ${first}`.execute(db());
    const result = await purge({ batchSize: 100 });
    expect(result.removed.idempotency_keys).toBeGreaterThanOrEqual(1);
    const { rows } = await sql<{ idempotency_key: string | null }>`select idempotency_key from runs where id = ${first}`.execute(db());
    expect(rows[0]!.idempotency_key).toBeNull();
    const second = await trigger(key, agent.id, {}, headers);
    expect(second).not.toBe(first);
    expect(await trigger(key, agent.id, {}, headers)).toBe(second);

    // Without the sweep, an expired key is released by the request itself.
    await completed(key, second);
    await sql`update runs set created_at = created_at - interval '25 hours' where id = ${second}`.execute(db());
    const third = await trigger(key, agent.id, {}, headers);
    expect(third).not.toBe(second);
  }, 120_000);

  it('never blocks a concurrent trigger while it purges many rows', async () => {
    const { orgId, apiKey: key } = await stack.newOrg('big purge');
    const agent = (await stack.api('/v1/agents', { key, body: { name: 'Echo', provider: { kind: 'echo' } } })).body;
    const runs = 6_000;
    // 40-day-old completed runs with their conversation, 2 messages, 3 run events, 3 events and a delivery with an attempt each.
    await sql`
      with r as (
        insert into runs (id, org_id, agent_id, source, status, message, result, credits_used, created_at, completed_at, conversation_id, credits_held)
        select gen_random_uuid(), ${orgId}, ${agent.id}, 'api', 'completed', 'old message ' || i, 'Echo: old message ' || i, 1,
               now() - interval '40 days' + i * interval '1 ms', now() - interval '40 days', null, 0
        from generate_series(1, ${runs}) i returning id, created_at)
      , c as (insert into conversations (id, org_id, agent_id, created_at, updated_at)
              select r.id, ${orgId}, ${agent.id}, r.created_at, r.created_at from r returning id)
      , m as (insert into messages (id, conversation_id, run_id, role, content, created_at)
              select gen_random_uuid(), r.id, r.id, role, 'old text', r.created_at from r, unnest(array['user', 'assistant']) role returning 1)
      , re as (insert into run_events (run_id, sequence, event_type, dedupe_key, created_at)
               select r.id, s, 'step', 'step' || s, r.created_at from r, generate_series(1, 3) s returning 1)
      , e as (insert into events (id, org_id, agent_id, run_id, type, data, dedupe_key, created_at)
              select gen_random_uuid(), ${orgId}, ${agent.id}, r.id, t, '{}', t || ':' || r.id, r.created_at
              from r, unnest(array['run.started', 'agent.message', 'run.completed']) t returning id, run_id, type)
      , d as (insert into deliveries (id, org_id, kind, run_id, event_id, endpoint_id, url, message_id, status, attempts, created_at, updated_at)
              select gen_random_uuid(), ${orgId}, 'endpoint', e.run_id, e.id, null, 'https://example.com/hook', 'msg_' || e.id, 'succeeded', 1, now(), now()
              from e where e.type = 'run.completed' returning id)
      insert into delivery_attempts (delivery_id, attempt, started_at, latency_ms, succeeded) select d.id, 1, now(), 5, true from d`.execute(db());
    await sql`update runs set conversation_id = id where org_id = ${orgId} and conversation_id is null and status = 'completed' and message like 'old message %'`.execute(db());
    const seeded = await rowsOf((await sql<{ id: string }>`select id from runs where org_id = ${orgId}`.execute(db())).rows.map((r) => r.id));
    expect(seeded.runs).toBe(runs);

    // Lock waits of every other backend while the purge runs, sampled from pg_stat_activity.
    let maxLockWaitMs = 0;
    let longestWait = '';
    let samples = 0;
    let purging = true;
    const sampler = (async () => {
      while (purging) {
        const { rows } = await sql<{ waited_ms: number; query: string; blockers: string }>`
          select extract(epoch from clock_timestamp() - a.query_start)::float8 * 1000 as waited_ms, left(a.query, 200) as query,
                 (select string_agg(left(b.query, 200), ' | ') from pg_stat_activity b where b.pid = any(pg_blocking_pids(a.pid))) as blockers
          from pg_stat_activity a where a.datname = current_database() and a.wait_event_type = 'Lock' and a.pid <> pg_backend_pid()`.execute(db());
        for (const row of rows) {
          // The app's own waits (e.g. two completions of one org on its row) are not the purge's doing.
          if (!PURGE_STATEMENT.test(`${row.query} ${row.blockers}`)) continue;
          if (row.waited_ms > maxLockWaitMs) {
            maxLockWaitMs = row.waited_ms;
            longestWait = `${row.query} (waiting on: ${row.blockers})`;
          }
        }
        samples++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const latencies: number[] = [];
    const triggered: string[] = [];
    const triggers = (async () => {
      while (purging) {
        const started = performance.now();
        triggered.push(await trigger(key, agent.id));
        latencies.push(performance.now() - started);
      }
    })();
    const started = performance.now();
    const result = await purge({ batchSize: 500 });
    const purgeMs = performance.now() - started;
    purging = false;
    await Promise.all([sampler, triggers]);

    latencies.sort((a, b) => a - b);
    console.log(
      `[retention] purged ${result.removed.runs} runs (${Object.values(result.removed).reduce((a, b) => a + b, 0)} rows) in ${result.batches} batches, ${purgeMs.toFixed(0)} ms; ` +
        `${latencies.length} concurrent triggers: p50 ${latencies[Math.floor(latencies.length / 2)]?.toFixed(0)} ms, max ${latencies.at(-1)?.toFixed(0)} ms; ` +
        `longest lock wait involving the purge ${maxLockWaitMs.toFixed(1)} ms over ${samples} samples${longestWait ? `: ${longestWait}` : ''}`,
    );
    expect(result.removed.runs).toBeGreaterThanOrEqual(runs);
    expect(result.batches).toBeGreaterThan(runs / 500);
    expect(await rowsOf((await sql<{ id: string }>`select id from runs where org_id = ${orgId} and message like 'old message %'`.execute(db())).rows.map((r) => r.id))).toMatchObject({ runs: 0 });
    expect(latencies.length).toBeGreaterThan(0);
    expect(samples).toBeGreaterThan(10);
    expect(maxLockWaitMs).toBeLessThan(100);
    for (const id of triggered) await completed(key, id);
    expect((await rowsOf(triggered)).runs).toBe(triggered.length);
  }, 600_000);
});
