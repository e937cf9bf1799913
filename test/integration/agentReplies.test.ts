import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { createLogger } from '../../src/logger.js';
import { activityDeps } from '../../src/temporal/activityDeps.js';
import { startFakeOpenAi, type FakeOpenAi } from '../support/fakeOpenAi.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

/** What an agent answers is bounded: hostile replies fail the run with a reason, and actions are capped. */
let stack: TestStack;
let key: string;
let agentServer: FakeOpenAi; // a real HTTP server speaking the HTTP agent protocol: {response, usage, actions}
let receiver: Receiver;

beforeAll(async () => {
  stack = await startTestStack();
  const org = await stack.newOrg('Replies', 10_000);
  key = org.apiKey;
  // The tests read the run's stored events, subscribed or not (run.completed): the org keeps its whole event log.
  await stack.database.db.updateTable('orgs').set({ event_log: 'all' }).where('id', '=', org.orgId).execute();
  agentServer = await startFakeOpenAi();
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await agentServer?.close();
  await stack?.close();
});

async function httpAgent() {
  const agent = await stack.api('/v1/agents', { key, body: { name: 'Remote', max_credits_per_run: 10, provider: { kind: 'http', url: `${agentServer.origin}/agent` } } });
  expect(agent.status).toBe(201);
  return agent.body.id as string;
}
async function ended(runId: string) {
  return eventually(async () => {
    const r = await stack.api(`/v1/runs/${runId}`, { key });
    return r.body.status !== 'processing' ? r.body : undefined;
  }, `run ${runId} to end`);
}

describe('hostile agent replies', () => {
  const hostile: Array<[string, unknown, RegExp]> = [
    ['a NUL byte in the text', { response: 'bad \u0000 byte' }, /text contains a NUL byte/],
    ['a lone surrogate in the text', { response: 'half \ud800 a pair' }, /unpaired surrogate/],
    ['3,000,000,000 input tokens', { response: 'ok', usage: { input_tokens: 3_000_000_000, output_tokens: 1 } }, /usage\.input_tokens/],
    ['10^12 output tokens', { response: 'ok', usage: { input_tokens: 1, output_tokens: 1e12 } }, /usage\.output_tokens/],
    ['600,000 characters of text', { response: 'x'.repeat(600_000) }, /600000 characters/],
    ['a NUL byte in an action', { response: 'ok', actions: [{ type: 'tool', name: 'n', input: { 'k\u0000': 1 } }] }, /actions\[0\]/],
    ['a lone surrogate in an action name', { response: 'ok', actions: [{ type: 'tool', name: '\udc00' }] }, /actions\[0\]/],
  ];

  it.each(hostile)('fails the run at once on %s, with the reason, charging nothing', async (_name, reply, reason) => {
    const agentId = await httpAgent();
    const seen = agentServer.requests.length;
    agentServer.answer({ status: 200, body: reply });
    const accepted = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'answer badly' } });
    expect(accepted.status).toBe(202);
    const run = await ended(accepted.body.run_id);
    expect(run).toMatchObject({ status: 'failed', credits_used: 0 });
    expect(run.error).toMatch(/the agent's reply was refused/);
    expect(run.error).toMatch(reason);
    expect(agentServer.requests.length - seen).toBe(1); // not retried: the same reply would come back
    const row = await stack.database.db.selectFrom('runs').select('credits_held').where('id', '=', run.run_id).executeTakeFirstOrThrow();
    expect(row.credits_held).toBe(0);
  });

  it('makes completeRun fail for good (not retry forever) when the database refuses the reply', async () => {
    // A reply that skipped the bounds (an older worker's history): Postgres answers 22003.
    const slow = await stack.api('/v1/agents', { key, body: { name: 'Slow', provider: { kind: 'echo', delay_ms: 30_000 } } });
    const accepted = await stack.api(`/v1/agents/${slow.body.id}/runs`, { key, body: { message: 'hold on' } });
    const activities = createActivities(activityDeps(stack.config, stack.database.db, createLogger('silent', 'test'), stack.temporal));
    const failure = await activities
      .completeRun(accepted.body.run_id, { text: 'ok', usage: { input_tokens: 3_000_000_000, output_tokens: 1 }, actions: [] })
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ nonRetryable: true, type: 'InvalidAgentReply' });
    expect((failure as Error).message).toMatch(/out of range/);
    // Nothing was charged or stored; the run can still be cancelled.
    expect((await stack.api(`/v1/runs/${accepted.body.run_id}/cancel`, { method: 'POST', key })).status).toBe(202);
    expect((await ended(accepted.body.run_id)).status).toBe('cancelled');
  });
});

describe('actions per run', () => {
  it('announces at most MAX_ACTIONS_PER_RUN (20) of 300 actions and says how many were dropped', async () => {
    const endpoint = await stack.api('/v1/endpoints', { key, body: { url: receiver.url, events: ['agent.action'] } });
    expect(endpoint.status).toBe(201);
    const agentId = await httpAgent();
    const actions = Array.from({ length: 300 }, (_, i) => ({ type: 'tool_call', name: `step_${i}`, input: { i } }));
    agentServer.answer({ status: 200, body: { response: 'did 300 things', usage: { input_tokens: 10, output_tokens: 10 }, actions } });
    const accepted = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message: 'do everything' } });
    const run = await ended(accepted.body.run_id);
    expect(run).toMatchObject({ status: 'completed', actions_dropped: 280 });

    const events = await eventually(async () => {
      const rows = await stack.database.db.selectFrom('events').select(['type', 'data']).where('run_id', '=', run.run_id).execute();
      return rows.some((e) => e.type === 'run.completed') ? rows : undefined;
    }, 'the run to announce its completion');
    const announced = events.filter((e) => e.type === 'agent.action');
    expect(announced).toHaveLength(20);
    expect(announced.map((e) => e.data.action).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `step_${i}`).sort());
    expect(events.find((e) => e.type === 'run.completed')!.data).toMatchObject({ actions_dropped: 280 });

    // 20 deliveries reach the endpoint, not 300.
    await eventually(async () => (receiver.received.length >= 20 ? true : undefined), '20 deliveries');
    const deliveries = await stack.database.db.selectFrom('deliveries').select('id').where('endpoint_id', '=', endpoint.body.id).execute();
    expect(deliveries).toHaveLength(20);
  });
});
