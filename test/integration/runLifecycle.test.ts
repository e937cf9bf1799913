import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completion, startFakeOpenAi, toolCalls, type FakeOpenAi } from '../support/fakeOpenAi.js';
import { readSse } from '../support/sse.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let key: string;
let orgId: string;
let openai: FakeOpenAi;

beforeAll(async () => {
  stack = await startTestStack();
  ({ apiKey: key, orgId } = await stack.newOrg('Lifecycle org'));
  // These tests read every event a run announced: the org keeps its whole event log (without it,
  // an org with no endpoint stores no customer event; see test/integration/eventLog.test.ts).
  await stack.database.db.updateTable('orgs').set({ event_log: 'all' }).where('id', '=', orgId).execute();
  openai = await startFakeOpenAi();
});
afterAll(async () => {
  await openai?.close();
  await stack?.close();
});

async function createAgent(body: Record<string, unknown>, apiKey = key) {
  const agent = await stack.api('/v1/agents', { key: apiKey, body: { name: 'Agent', ...body } });
  expect(agent.status).toBe(201);
  return agent.body.id as string;
}

async function trigger(agentId: string, body: Record<string, unknown>, headers: Record<string, string> = {}, apiKey = key) {
  return stack.api(`/v1/agents/${agentId}/runs`, { key: apiKey, body, headers });
}

async function finished(runId: string, timeoutMs = 30_000, apiKey = key) {
  return eventually(async () => {
    const r = await stack.api(`/v1/runs/${runId}`, { key: apiKey });
    return r.body.status !== 'processing' ? r.body : undefined;
  }, `run ${runId} to end`, timeoutMs);
}

/** A run's stored events once its ending is among them: the status flips a moment before the ending is announced. */
async function eventsOf(runId: string) {
  const endings = ['run.completed', 'run.failed', 'run.cancelled', 'run.timed_out'];
  return eventually(async () => {
    const events = await stack.database.db.selectFrom('events').selectAll().where('run_id', '=', runId).orderBy('created_at').execute();
    return events.some((e) => endings.includes(e.type)) ? events : undefined;
  }, `run ${runId} to announce its ending`);
}

describe('status and stream', () => {
  it('goes processing → completed, and the SSE stream carries every run event then ends', async () => {
    const agentId = await createAgent({ provider: { kind: 'echo', delay_ms: 600 } });
    const accepted = await trigger(agentId, { message: 'Stream me', context: { region: 'APAC', priority: 2 } });
    expect(accepted.status).toBe(202);
    const { run_id: runId, events_url: eventsUrl } = accepted.body;
    expect((await stack.api(`/v1/runs/${runId}`, { key })).body.status).toBe('processing');

    const stream = await readSse(eventsUrl, { key });
    expect(stream.status).toBe(200);
    expect(stream.contentType).toMatch(/^text\/event-stream/);
    expect(stream.ended).toBe(true);
    expect(stream.events.map((e) => e.data.event_type)).toEqual(['run_queued', 'run_started', 'agent_message', 'run_completed']);
    expect(stream.events.map((e) => e.data.sequence)).toEqual([1, 2, 3, 4]);
    expect(stream.events.map((e) => e.id)).toEqual(['1', '2', '3', '4']);
    // Seed 004's frames: `id:` and `data:` only, no named `event:` (EventSource.onmessage sees them all).
    expect(stream.events.map((e) => e.fields)).toEqual(Array(4).fill(['id', 'data']));
    expect(stream.heartbeats).toBeGreaterThanOrEqual(1); // the agent thought for longer than one heartbeat interval

    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'completed', error: null, subject: 'Web trigger (First key)', context: { region: 'APAC', priority: 2 } });
    // The context reached the agent appended to the message.
    expect(run.result).toBe('Echo: Stream me\n\nContext:\n- region: APAC\n- priority: 2');
    expect(run.credits_used).toBeGreaterThanOrEqual(1);

    const types = (await eventsOf(runId)).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['run.started', 'conversation.created', 'user.message', 'agent.message', 'run.completed']));
  });

  it('resumes after a disconnect with Last-Event-ID, with no gap and no duplicate', async () => {
    const agentId = await createAgent({ provider: { kind: 'echo', delay_ms: 1500 } });
    const accepted = await trigger(agentId, { message: 'Reconnect' });
    const first = await readSse(accepted.body.events_url, { key, stopAfter: 2 });
    expect(first.events.map((e) => e.data.sequence)).toEqual([1, 2]);
    const rest = await readSse(accepted.body.events_url, { key, lastEventId: '2' });
    expect(rest.events.map((e) => e.data.sequence)).toEqual([3, 4]);
    expect(rest.events.at(-1)!.data.event_type).toBe('run_completed');
    const viaQuery = await readSse(`${accepted.body.events_url}?after_sequence=3`, { key });
    expect(viaQuery.events.map((e) => e.data.sequence)).toEqual([4]);
  });

  it('wakes open streams by NOTIFY as events are stored, not by a polling interval', async () => {
    // An API whose streams re-read only every 60 s unless notified: prompt events prove the wake-up.
    const server = await stack.startSecondApi({ config: { ...stack.config, SSE_HEARTBEAT_SECONDS: 60 } });
    try {
      const agentId = await createAgent({ provider: { kind: 'echo', delay_ms: 1000 } });
      const accepted = await trigger(agentId, { message: 'Wake me' });
      const started = Date.now();
      const stream = await readSse(`${server.baseUrl}/v1/runs/${accepted.body.run_id}/events`, { key, timeoutMs: 20_000 });
      expect(stream.ended).toBe(true);
      expect(stream.events.map((e) => e.data.event_type)).toEqual(['run_queued', 'run_started', 'agent_message', 'run_completed']);
      expect(stream.heartbeats).toBe(0);
      expect(Date.now() - started).toBeLessThan(15_000); // far below the 60 s re-read
    } finally {
      server.close();
    }
  });
});

describe('control', () => {
  it('cancels a run: status cancelled, announced, workflow closed as cancelled', async () => {
    const agentId = await createAgent({ provider: { kind: 'echo', delay_ms: 20_000 } });
    const accepted = await trigger(agentId, { message: 'Never mind' });
    await eventually(async () => ((await stack.api(`/v1/runs/${accepted.body.run_id}`, { key })).body.started_at ? true : undefined), 'start');
    const cancel = await stack.api(`/v1/runs/${accepted.body.run_id}/cancel`, { key, method: 'POST' });
    expect(cancel.status).toBe(202);
    const run = await finished(accepted.body.run_id, 10_000);
    expect(run).toMatchObject({ status: 'cancelled', result: null, credits_used: 0 });
    expect((await eventsOf(run.run_id)).map((e) => e.type)).toContain('run.cancelled');
    const handle = stack.temporal.workflow.getHandle(`run-${run.run_id}`);
    await handle.result().catch(() => undefined); // the row is final a moment before the workflow closes
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect((await stack.api(`/v1/runs/${run.run_id}/cancel`, { key, method: 'POST' })).status).toBe(409);
  });

  it('leaves no run_timeout_seconds timer waiting once the agent has answered', async () => {
    const agentId = await createAgent({ provider: { kind: 'echo' } });
    const accepted = await trigger(agentId, { message: 'Quick' });
    const handle = stack.temporal.workflow.getHandle(`run-${accepted.body.run_id}`);
    await handle.result();
    // The deadline is the agent activity's schedule-to-close timeout: no timer of the run's own.
    const events = (await handle.fetchHistory()).events ?? [];
    const started = events.filter((e) => e.timerStartedEventAttributes).length;
    const ended = events.filter((e) => e.timerCanceledEventAttributes || e.timerFiredEventAttributes).length;
    expect(started).toBe(ended);
    expect(events.find((e) => e.activityTaskScheduledEventAttributes)?.activityTaskScheduledEventAttributes?.scheduleToCloseTimeout).toBeTruthy();
  });

  it('ends a run that outlives run_timeout_seconds as timed_out', async () => {
    const agentId = await createAgent({ provider: { kind: 'echo', delay_ms: 20_000 }, run_timeout_seconds: 1 });
    const accepted = await trigger(agentId, { message: 'Too slow' });
    const run = await finished(accepted.body.run_id, 15_000);
    expect(run).toMatchObject({ status: 'timed_out', error: 'no answer within 1 seconds', credits_used: 0 });
    const stream = await readSse(accepted.body.events_url, { key });
    expect(stream.events.at(-1)!.data.event_type).toBe('run_timed_out');
    expect((await eventsOf(run.run_id)).map((e) => e.type)).toContain('run.timed_out');
  });

  it('returns the same run for a retried Idempotency-Key and refuses the key with another body', async () => {
    const agentId = await createAgent({});
    const headers = { 'idempotency-key': `zap-${Date.now()}` };
    const first = await trigger(agentId, { message: 'Once only' }, headers);
    const again = await trigger(agentId, { message: 'Once only' }, headers);
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.run_id).toBe(first.body.run_id);
    const different = await trigger(agentId, { message: 'Something else' }, headers);
    expect(different.status).toBe(422);
    expect(different.body.details).toHaveProperty('Idempotency-Key');
    const runs = await stack.api(`/v1/runs?agent_id=${agentId}`, { key });
    expect(runs.body.pagination.total).toBe(1);
  });

  it('rejects a 50,001-character message and other bad fields with 422', async () => {
    const agentId = await createAgent({});
    const long = await trigger(agentId, { message: 'x'.repeat(50_001) });
    expect(long.status).toBe(422);
    expect(long.body.details).toHaveProperty('message');
    expect((await trigger(agentId, { message: 'x'.repeat(50_000) })).status).toBe(202);
    const bad = await trigger(agentId, { message: 'hi', context: { nested: { no: 1 } }, callback_url: 'ftp://x', task_definition_id: 'nope' });
    expect(Object.keys(bad.body.details)).toEqual(expect.arrayContaining(['context.nested', 'callback_url', 'task_definition_id']));
    const noCallbacks = await trigger(agentId, { message: 'hi', callback_url: 'https://example.com/cb' });
    expect(noCallbacks.status).toBe(422);
    expect(noCallbacks.body.details.callback_url).toMatch(/allow_callback_urls/);
  });

  it('refuses a run with 402 and starts no workflow when the balance is zero', async () => {
    const broke = await stack.newOrg('Broke org', 0);
    const agent = await stack.api('/v1/agents', { key: broke.apiKey, body: { name: 'Poor' } });
    const refused = await stack.api(`/v1/agents/${agent.body.id}/runs`, { key: broke.apiKey, body: { message: 'hi' } });
    expect(refused.status).toBe(402);
    expect(refused.body.code).toBe('INSUFFICIENT_CREDITS');
    const runs = await stack.database.db.selectFrom('runs').select('id').where('org_id', '=', broke.orgId).execute();
    expect(runs).toEqual([]);
    const workflows = [];
    for await (const w of stack.temporal.workflow.list({ query: `OrgId = "${broke.orgId}"` })) workflows.push(w);
    expect(workflows).toEqual([]);
  });
});

describe('agent runtime, credits and conversations', () => {
  it('runs an OpenAI-compatible agent over HTTP and charges max(1, ceil((in + 3·out) / 100)) once', async () => {
    const own = await stack.newOrg('Metered org', 1000); // its own ledger: no other test's runs in it
    const agentId = await createAgent(
      { instructions: 'You are terse.', provider: { kind: 'openai', base_url: openai.baseUrl, model: 'gpt-test', api_key: 'sk-test-123' } },
      own.apiKey,
    );
    openai.answer(completion('Sales were up 12%.', { prompt_tokens: 250, completion_tokens: 120 }));
    const accepted = await trigger(agentId, { message: 'Summarise sales' }, {}, own.apiKey);
    const run = await finished(accepted.body.run_id, 30_000, own.apiKey);
    expect(run).toMatchObject({ status: 'completed', result: 'Sales were up 12%.', usage: { input_tokens: 250, output_tokens: 120 }, credits_used: 7 });
    const request = openai.requests.at(-1)!;
    expect(request.headers.authorization).toBe('Bearer sk-test-123');
    expect(request.json.model).toBe('gpt-test');
    expect(request.json.messages[0]).toEqual({ role: 'system', content: 'You are terse.' });

    const credits = (await stack.api('/v1/credits?limit=100', { key: own.apiKey })).body;
    expect(credits.balance).toBe(1000 - 7);
    expect(credits.data).toEqual([
      expect.objectContaining({ kind: 'charge', amount: -7, run_id: run.run_id }),
      expect.objectContaining({ kind: 'grant', amount: 1000 }),
    ]);
  });

  it('turns tool calls into agent.action events and retries a provider 500', async () => {
    const agentId = await createAgent({ provider: { kind: 'openai', base_url: openai.baseUrl, model: 'gpt-test' } });
    openai.answer({ status: 500, body: { error: { message: 'overloaded' } } }, toolCalls('Looked it up.', [{ name: 'search_knowledge', arguments: '{"q":"sales"}' }]));
    const accepted = await trigger(agentId, { message: 'Use a tool' });
    const run = await finished(accepted.body.run_id);
    expect(run.status).toBe('completed');
    const events = await eventsOf(run.run_id);
    const action = events.find((e) => e.type === 'agent.action');
    expect(action?.data).toMatchObject({ action: 'search_knowledge' });
    const stream = await readSse(accepted.body.events_url, { key });
    expect(stream.events.map((e) => e.data.event_type)).toContain('agent_action');
  });

  it('fails a run whose provider rejects the request, without retrying or charging', async () => {
    const agentId = await createAgent({ provider: { kind: 'openai', base_url: openai.baseUrl, model: 'gpt-test' } });
    const seen = openai.requests.length;
    openai.answer({ status: 401, body: { error: { message: 'bad key' } } });
    const accepted = await trigger(agentId, { message: 'Fail' });
    const run = await finished(accepted.body.run_id);
    expect(run).toMatchObject({ status: 'failed', credits_used: 0 });
    expect(run.error).toMatch(/401/);
    expect(openai.requests.length - seen).toBe(1);
    expect((await eventsOf(run.run_id)).map((e) => e.type)).toContain('run.failed');
  });

  it('continues a conversation and runs a task definition', async () => {
    const agentId = await createAgent({ provider: { kind: 'openai', base_url: openai.baseUrl, model: 'gpt-test' }, instructions: 'Base.' });
    const task = await stack.api(`/v1/agents/${agentId}/tasks`, { key, body: { name: 'Report', instructions: 'Write a JSON report.', output_type: 'json' } });
    expect(task.status).toBe(201);
    openai.answer(completion('First answer'), completion('{"report":"ok"}'));
    const first = await finished((await trigger(agentId, { message: 'First question', subject: 'Weekly' })).body.run_id);
    const second = await finished(
      (await trigger(agentId, { message: 'Follow-up', conversation_id: first.conversation_id, task_definition_id: task.body.id })).body.run_id,
    );
    expect(second.conversation_id).toBe(first.conversation_id);
    expect(second.result).toBe('{"report":"ok"}');
    const request = openai.requests.at(-1)!.json;
    expect(request.response_format).toEqual({ type: 'json_object' });
    expect(request.messages[0].content).toContain('Write a JSON report.');
    expect(request.messages.map((m: { content: string }) => m.content)).toEqual(expect.arrayContaining(['First question', 'First answer']));

    const conversation = await stack.api(`/v1/conversations/${first.conversation_id}`, { key });
    expect(conversation.body.subject).toBe('Weekly');
    expect(conversation.body.messages.map((m: { role: string; content: string }) => `${m.role}:${m.content}`)).toEqual([
      'user:First question',
      'assistant:First answer',
      'user:Follow-up',
      'assistant:{"report":"ok"}',
    ]);
    const other = await stack.newOrg('Other');
    expect((await stack.api(`/v1/conversations/${first.conversation_id}`, { key: other.apiKey })).status).toBe(404);
    expect((await trigger(agentId, { message: 'x', conversation_id: '00000000-0000-4000-8000-000000000000' })).status).toBe(422);
  });

  it('records wallet.balance_low once when a charge crosses the threshold', async () => {
    const low = await stack.newOrg('Low org', 101);
    const agent = await stack.api('/v1/agents', { key: low.apiKey, body: { name: 'Spender' } });
    for (const message of ['one', 'two']) {
      const accepted = await stack.api(`/v1/agents/${agent.body.id}/runs`, { key: low.apiKey, body: { message } });
      await eventually(async () => ((await stack.api(`/v1/runs/${accepted.body.run_id}`, { key: low.apiKey })).body.status === 'completed' ? true : undefined), 'run');
    }
    const lowEvents = await stack.database.db.selectFrom('events').selectAll().where('org_id', '=', low.orgId).where('type', '=', 'wallet.balance_low').execute();
    expect(lowEvents).toHaveLength(1);
    expect(lowEvents[0]!.data).toEqual({ balance: 100, threshold: 100 });
    expect(orgId).not.toBe(low.orgId);
  });
});
