import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAgentById } from '../../src/db/agents.js';
import { createLogger } from '../../src/logger.js';
import { acceptRun } from '../../src/services/runs.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';
import { sweepUntilExamined } from '../support/sweep.js';

let stack: TestStack;
let key: string;
let agentId: string;

beforeAll(async () => {
  stack = await startTestStack();
  ({ apiKey: key } = await stack.newOrg('Delayed runs', 1_000));
  const agent = await stack.api('/v1/agents', { key, body: { name: 'Later', provider: { kind: 'echo' }, max_credits_per_run: 10 } });
  agentId = agent.body.id;
});
afterAll(() => stack?.close());

const credits = async () => (await stack.api('/v1/credits', { key })).body as { balance: number; held: number; available: number };

describe('a delayed run (run_at / delay_seconds)', () => {
  it('waits as scheduled, holding its credits, and is started by the engine no earlier than run_at', async () => {
    const runAt = new Date(Date.now() + 3_000);
    const accepted = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'later please', run_at: runAt.toISOString() } });
    expect(accepted.status).toBe(202);
    expect(accepted.body.status).toBe('scheduled');
    const runId: string = accepted.body.run_id;

    const waiting = await stack.api(`/v1/runs/${runId}`, { key });
    expect(waiting.body).toMatchObject({ status: 'scheduled', run_at: runAt.toISOString(), started_at: null });
    expect((await credits()).held).toBe(10);

    // The workflow exists at once, its first task delayed by the server (no polling loop of ours).
    const description = await stack.temporal.workflow.getHandle(`run-${runId}`).describe();
    expect(description.status.name).toBe('RUNNING');

    const done = await eventually(async () => {
      const r = await stack.api(`/v1/runs/${runId}`, { key });
      return r.body.status === 'completed' ? r.body : undefined;
    }, 'the delayed run to complete');
    expect(done.result).toBe('Echo: later please');
    expect(Date.parse(done.started_at)).toBeGreaterThanOrEqual(runAt.getTime());
    console.log(`delayed run: run_at ${runAt.toISOString()}, started_at ${done.started_at} (+${Date.parse(done.started_at) - runAt.getTime()} ms)`);
    const after = await credits();
    expect(after.held).toBe(0);
    expect(after.balance).toBe(1_000 - done.credits_used);
  });

  it('is cancelled before it starts: cancelled at once, hold released, nothing charged', async () => {
    const before = await credits();
    const accepted = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'never mind', delay_seconds: 3_600 } });
    expect(accepted.body.status).toBe('scheduled');
    const runId: string = accepted.body.run_id;
    expect((await credits()).held).toBe(before.held + 10);

    const cancel = await stack.api(`/v1/runs/${runId}/cancel`, { key, method: 'POST' });
    expect(cancel.status).toBe(202);
    // An hour's delay: only a cancel that reaches the delayed workflow now can end it within the wait.
    const ended = await eventually(async () => {
      const r = await stack.api(`/v1/runs/${runId}`, { key });
      return r.body.status === 'cancelled' ? r.body : undefined;
    }, 'the delayed run to be cancelled');
    expect(ended).toMatchObject({ status: 'cancelled', credits_used: 0, result: null });
    const after = await credits();
    expect(after).toEqual(before);
    const events = await stack.database.db.selectFrom('run_events').select('event_type').where('run_id', '=', runId).orderBy('sequence').execute();
    expect(events.map((e) => e.event_type)).toContain('run_cancelled');
    const closed = await eventually(async () => {
      const status = (await stack.temporal.workflow.getHandle(`run-${runId}`).describe()).status.name;
      return status === 'RUNNING' ? undefined : status;
    }, 'the delayed workflow to close');
    expect(closed).toBe('CANCELLED');
    // Once cancelled, a second cancel is a conflict like for any ended run.
    expect((await stack.api(`/v1/runs/${runId}/cancel`, { key, method: 'POST' })).status).toBe(409);
  });

  it('refuses a run_at more than a year ahead, and run_at with delay_seconds, as problem+json', async () => {
    const far = await stack.api(`/v1/agents/${agentId}/runs`, {
      key,
      body: { message: 'too far', run_at: new Date(Date.now() + 400 * 24 * 3600_000).toISOString() },
    });
    expect(far.status).toBe(422);
    expect(far.headers.get('content-type')).toContain('application/problem+json');
    expect(far.body.details).toHaveProperty('run_at');
    const both = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'both', run_at: new Date().toISOString(), delay_seconds: 5 } });
    expect(both.status).toBe(422);
    const tooLong = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'too long', delay_seconds: 400 * 24 * 3600 } });
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.details).toHaveProperty('delay_seconds');
  });

  it('accepted by an API that died before starting it: the reconciler starts it, still not before run_at', async () => {
    const agent = (await findAgentById(stack.database.db, agentId))!;
    const runAt = new Date(Date.now() + 9_000);
    // What an API killed between its commit and the workflow start leaves behind.
    const { run } = await acceptRun({ db: stack.database.db, clock: () => new Date(), temporal: stack.temporal }, { agent, message: 'orphaned and delayed', source: 'api', runAt });
    expect(run.status).toBe('scheduled');
    await new Promise((r) => setTimeout(r, 5_500)); // past the sweep's minimum age (younger runs of other tests are left alone)
    const deps = { db: stack.database.db, temporal: stack.temporal, taskQueue: stack.taskQueue, log: createLogger('silent', 'test') };
    // Started by a sweep (ours, or another test file's sweeping the shared database first).
    await sweepUntilExamined(deps, run, 5_000);
    const done = await eventually(async () => {
      const r = await stack.api(`/v1/runs/${run.id}`, { key });
      return r.body.status === 'completed' ? r.body : undefined;
    }, 'the swept delayed run to complete');
    expect(Date.parse(done.started_at)).toBeGreaterThanOrEqual(runAt.getTime());
  });
});
