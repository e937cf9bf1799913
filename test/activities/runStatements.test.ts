import { MockActivityEnvironment } from '@temporalio/testing';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAgentActivities, type AgentReply } from '../../activities/agents.js';
import { createRunActivities } from '../../activities/runs.js';
import type { Database } from '../../src/db/schema.js';
import { createLogger } from '../../src/logger.js';
import { activityDeps } from '../../src/temporal/activityDeps.js';
import { request, startTestStack, type TestStack } from '../support/stack.js';

/**
 * SQL statements a run's worker side sends to Postgres (BEGIN and COMMIT included), counted on
 * the wire of a pool of its own: every statement is a round trip and CPU in the worker and in
 * Postgres, so this is the figure issue 16's CPU per run follows. The bench's standard run: an
 * async echo run of an org without endpoints.
 *
 * Observed (2026-11-30, PostgreSQL 15): 50 statements per run before issue 16's worker pass
 * (17 + 3 + 30: a read per row, a transaction of 7 per run-stream event), 13 after it (4 + 2 + 7:
 * per step one locked read and one statement for the step's writes and announcements), 11 once
 * the charge became one statement (4 + 2 + 5, src/db/credits.ts captureLockedRunCredits), and 10
 * in the one-activity shape new runs take (`runToEnd`: its agent step reuses the begin step's read
 * of the run and agent). The budget leaves room for a few more, so a return to per-event round
 * trips fails.
 */
const BUDGET = 16;
let stack: TestStack;
let key: string;
let agentId: string;
let pool: pg.Pool;
let db: Kysely<Database>;
let statements: string[] = [];
const env = new MockActivityEnvironment();

beforeAll(async () => {
  stack = await startTestStack({ worker: false, postgres: true });
  ({ apiKey: key } = await stack.newOrg('Run statements', 10_000));
  const agent = await stack.api('/v1/agents', { key, body: { name: 'Echo', provider: { kind: 'echo' } } });
  expect(agent.status).toBe(201);
  agentId = agent.body.id;
  pool = new pg.Pool({ connectionString: inject('sharedPostgresUrl')!, max: 4 });
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string })?.text;
      statements.push(String(text ?? '?'));
      return query(...args);
    };
  });
  db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
});

afterAll(async () => {
  await db?.destroy();
  await stack?.close();
});

async function acceptedRun(): Promise<string> {
  const accepted = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'Hello from the benchmark' } });
  expect(accepted.status).toBe(202);
  return accepted.body.run_id;
}

describe('SQL statements per run (worker side)', () => {
  it(`stays within ${BUDGET} for an async echo run (each step counted)`, async () => {
    const deps = activityDeps(stack.config, db, createLogger('silent', 'test'), stack.temporal);
    const agents = createAgentActivities(deps);
    const runs = createRunActivities(deps, agents);
    // Warm the pool so connection set-up is not counted.
    await env.run(runs.startRunAndAnnounce, await acceptedRun());
    const counts: Record<string, number> = {};
    const runId = await acceptedRun();
    const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      statements = [];
      const out = await work();
      counts[name] = statements.length;
      if (process.env.SHOW_STATEMENTS) console.log(`${name}:\n  ${statements.map((s) => s.replace(/\s+/g, ' ').slice(0, 160)).join('\n  ')}`);
      return out;
    };
    await step('startRunAndAnnounce', () => env.run(runs.startRunAndAnnounce, runId));
    const reply: AgentReply = await step('runAgent', () => env.run(agents.runAgent, runId));
    const outcome: { status: string } = await step('completeRunAndAnnounce', () => env.run(runs.completeRunAndAnnounce, runId, reply));
    expect(outcome.status).toBe('completed');
    // The one-activity shape (what new runs run): the agent step reuses the begin step's read.
    const oneActivityRun = await acceptedRun();
    const oneActivity = await step('runToEnd', () => env.run(runs.runToEnd, oneActivityRun));
    expect(oneActivity).toMatchObject({ outcome: { status: 'completed' } });
    console.log(`[statements] runToEnd ${counts.runToEnd}`);
    expect(counts.runToEnd).toBeLessThanOrEqual(BUDGET);
    delete counts.runToEnd;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    console.log(`[statements] per run ${total}: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    expect(total).toBeLessThanOrEqual(BUDGET);
  });
});

/**
 * The API side of the same run: accepting an async trigger is the key's look-up, the agent's,
 * and one statement for the hold with the run, its conversation and its first event
 * (src/db/runs.ts insertAcceptedRunHoldingCredits). Observed (2026-11-30): 7 before (the limits
 * read, BEGIN, the inserts, the hold, COMMIT), 3 after.
 */
describe('SQL statements per accepted run (API side)', () => {
  it('accepts an async trigger in 3 statements', async () => {
    const api = await stack.startSecondApi({ db });
    try {
      const trigger = () => request(api.baseUrl, `/v1/agents/${agentId}/runs`, { key, body: { message: 'Hello from the benchmark' } });
      // Warm: the pool's connections, and the key's last-use stamp (written at most once a minute).
      expect((await trigger()).status).toBe(202);
      statements = [];
      const accepted = await trigger();
      expect(accepted.status).toBe(202);
      if (process.env.SHOW_STATEMENTS) console.log(statements.map((s) => s.replace(/\s+/g, ' ').slice(0, 160)).join('\n'));
      console.log(`[statements] per accepted run ${statements.length}`);
      expect(statements).toHaveLength(3);
      const stored = await db.selectFrom('runs').select(['status', 'credits_held']).where('id', '=', accepted.body.run_id).executeTakeFirstOrThrow();
      expect(stored).toEqual({ status: 'processing', credits_held: expect.any(Number) });
    } finally {
      api.close();
    }
  });
});
