import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { createRunActivities } from '../../activities/runs.js';
import type { AgentReply } from '../../activities/agents.js';
import { createLogger } from '../../src/logger.js';
import { activityDeps } from '../../src/temporal/activityDeps.js';
import { startTestStack, type TestStack } from '../support/stack.js';

/**
 * The run bookkeeping activities in an activity context (MockActivityEnvironment), against the
 * real database: each is idempotent by run id (a local activity runs again whenever its
 * workflow task is retried), and the first ending stored is the one every later call reports.
 * Runs are accepted through the API of a stack without a worker, so no workflow touches them.
 */
let stack: TestStack;
let key: string;
let activities: ReturnType<typeof createActivities>;
const env = new MockActivityEnvironment();
const reply: AgentReply = { text: 'Echo: hello', usage: { input_tokens: 500, output_tokens: 100 }, actions: [{ type: 'tool_call', name: 'lookup', input: {} }] };

beforeAll(async () => {
  stack = await startTestStack({ worker: false });
  const org = await stack.newOrg('Run activities', 10_000);
  key = org.apiKey;
  // Every announcement is checked stored exactly once: this org keeps its whole event log (by
  // default an org without endpoints stores no customer event, see test/integration/eventLog.test.ts).
  await stack.database.db.updateTable('orgs').set({ event_log: 'all' }).where('id', '=', org.orgId).execute();
  activities = createActivities(activityDeps(stack.config, stack.database.db, createLogger('silent', 'test'), stack.temporal));
});

afterAll(async () => {
  await stack?.close();
});

async function acceptedRun(): Promise<string> {
  const agent = await stack.api('/v1/agents', { key, body: { name: `Agent ${Math.random()}`, provider: { kind: 'echo' }, run_timeout_seconds: 42 } });
  expect(agent.status).toBe(201);
  const accepted = await stack.api(`/v1/agents/${agent.body.id}/runs`, { key, body: { message: 'hello' } });
  expect(accepted.status).toBe(202);
  return accepted.body.run_id;
}

const eventTypes = async (runId: string) =>
  (await stack.database.db.selectFrom('events').select('type').where('run_id', '=', runId).orderBy('created_at').orderBy('id').execute()).map((e) => e.type);
const streamTypes = async (runId: string) =>
  (await stack.database.db.selectFrom('run_events').select('event_type').where('run_id', '=', runId).orderBy('sequence').execute()).map((e) => e.event_type);
const ledgerOf = async (runId: string) => stack.database.db.selectFrom('credit_entries').select(['kind', 'amount']).where('run_id', '=', runId).execute();

describe('startRunAndAnnounce', () => {
  it('marks the run started, returns its plan and announces the start once however often it runs', async () => {
    const runId = await acceptedRun();
    const plan = await env.run(activities.startRunAndAnnounce, runId);
    expect(plan).toMatchObject({ timeoutSeconds: 42, hasCallback: false });
    await env.run(activities.startRunAndAnnounce, runId); // a retried workflow task
    const row = await stack.database.db.selectFrom('runs').select(['started_at', 'status']).where('id', '=', runId).executeTakeFirstOrThrow();
    expect(row.status).toBe('processing');
    expect(row.started_at).not.toBeNull();
    expect((await eventTypes(runId)).filter((t) => t === 'run.started' || t === 'user.message')).toEqual(['run.started', 'user.message']);
    expect((await streamTypes(runId)).filter((t) => t === 'run_started')).toEqual(['run_started']);
  });
});

describe('completeRunAndAnnounce', () => {
  it('charges once, stores the reply and announces it once, however often it runs', async () => {
    const runId = await acceptedRun();
    await env.run(activities.startRunAndAnnounce, runId);
    const first = await env.run(activities.completeRunAndAnnounce, runId, reply);
    const again = await env.run(activities.completeRunAndAnnounce, runId, reply);
    expect(first).toEqual({ status: 'completed', credits_used: 8, detail: null, result: 'Echo: hello' }); // ceil((500 + 3 × 100) / 100)
    expect(again).toEqual(first);
    expect((await ledgerOf(runId)).map((e) => [e.kind, Number(e.amount)])).toEqual([['charge', -8]]);
    expect(await eventTypes(runId)).toEqual(['run.started', 'conversation.created', 'user.message', 'agent.action', 'agent.message', 'run.completed']);
    expect(await streamTypes(runId)).toEqual(['run_queued', 'run_started', 'agent_action', 'agent_message', 'run_completed']);
  });

  it('reports, charges and announces nothing of its own when the run already ended otherwise (the first ending wins)', async () => {
    const runId = await acceptedRun();
    await env.run(activities.startRunAndAnnounce, runId);
    const cancelled = await env.run(activities.endRun, runId, 'cancelled' as const, 'cancelled on request');
    expect(cancelled).toEqual({ status: 'cancelled', credits_used: 0, detail: 'cancelled on request', result: null });
    const late = await env.run(activities.completeRunAndAnnounce, runId, reply);
    expect(late).toEqual(cancelled);
    expect(await ledgerOf(runId)).toEqual([]);
    expect(await eventTypes(runId)).toEqual(['run.started', 'conversation.created', 'user.message', 'run.cancelled']);
  });
});

describe('endRun', () => {
  it('reports the completion that came first and announces no second ending', async () => {
    const runId = await acceptedRun();
    await env.run(activities.startRunAndAnnounce, runId);
    await env.run(activities.completeRunAndAnnounce, runId, reply);
    const outcome = await env.run(activities.endRun, runId, 'timed_out' as const, 'no answer within 42 seconds');
    expect(outcome).toMatchObject({ status: 'completed', credits_used: 8, result: 'Echo: hello' });
    expect((await eventTypes(runId)).filter((t) => t.startsWith('run.') && t !== 'run.started')).toEqual(['run.completed']);
  });

  it('records a failure once, releases the hold and reports it', async () => {
    const runId = await acceptedRun();
    await env.run(activities.startRunAndAnnounce, runId);
    const first = await env.run(activities.endRun, runId, 'failed' as const, 'agent answered 400');
    const again = await env.run(activities.endRun, runId, 'failed' as const, 'agent answered 400');
    expect(first).toEqual({ status: 'failed', credits_used: 0, detail: 'agent answered 400', result: null });
    expect(again).toEqual(first);
    const row = await stack.database.db.selectFrom('runs').select('credits_held').where('id', '=', runId).executeTakeFirstOrThrow();
    expect(row.credits_held).toBe(0);
    expect((await eventTypes(runId)).filter((t) => t === 'run.failed')).toEqual(['run.failed']);
  });
});

describe('runToEnd and recordEnding (the one-activity shape)', () => {
  type Ended = Awaited<ReturnType<ReturnType<typeof createRunActivities>['runToEnd']>>;
  /** The run activities around an agent that counts its calls (the real echo agent's reply). */
  const withCountedAgent = () => {
    const deps = activityDeps(stack.config, stack.database.db, createLogger('silent', 'test'), stack.temporal);
    const calls: string[] = [];
    const runs = createRunActivities(deps, {
      async runAgent(runId: string) {
        calls.push(runId);
        return reply;
      },
    });
    return { runs, calls };
  };

  it('begins, runs the agent once, charges once and announces in order; a retry after it ended returns the ending without the agent', async () => {
    const { runs, calls } = withCountedAgent();
    const runId = await acceptedRun();
    const first = (await env.run(runs.runToEnd, runId)) as Ended;
    expect(first.outcome).toEqual({ status: 'completed', credits_used: 8, detail: null, result: 'Echo: hello' });
    expect(first.plan).toMatchObject({ timeoutSeconds: 42, hasCallback: false });
    // An attempt that died after its commit is retried: the stored ending, no second agent call.
    const again = await env.run(runs.runToEnd, runId);
    expect(again).toEqual(first);
    expect(calls).toEqual([runId]);
    expect(await ledgerOf(runId)).toEqual([{ kind: 'charge', amount: '-8' }]);
    expect(await eventTypes(runId)).toEqual(['run.started', 'conversation.created', 'user.message', 'agent.action', 'agent.message', 'run.completed']);
  });

  it('recordEnding records the start of a run cancelled before its activity began, then cancelled, releasing the hold; the ending stored first wins', async () => {
    const { runs, calls } = withCountedAgent();
    const runId = await acceptedRun();
    const ended = (await env.run(runs.recordEnding, runId, 'cancelled' as const, 'cancelled on request')) as Ended;
    expect(ended.outcome).toEqual({ status: 'cancelled', credits_used: 0, detail: 'cancelled on request', result: null });
    expect(await eventTypes(runId)).toEqual(['run.started', 'conversation.created', 'user.message', 'run.cancelled']);
    const row = await stack.database.db.selectFrom('runs').select(['credits_held', 'started_at']).where('id', '=', runId).executeTakeFirstOrThrow();
    expect(row.credits_held).toBe(0);
    expect(row.started_at).not.toBeNull();
    // A late attempt of the activity finds the run ended: no agent call, no charge, no new ending.
    expect(((await env.run(runs.runToEnd, runId)) as Ended).outcome).toEqual(ended.outcome);
    expect(((await env.run(runs.recordEnding, runId, 'timed_out' as const, 'late')) as Ended).outcome).toEqual(ended.outcome);
    expect(calls).toEqual([]);
    expect(await ledgerOf(runId)).toEqual([]);
  });
});
