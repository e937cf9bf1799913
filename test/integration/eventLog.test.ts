import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWorkflowId } from '../../workflows/ids.js';
import { readSse } from '../support/sse.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { eventually, startTestStack, type TestStack } from '../support/stack.js';

/**
 * Issue 19: a customer event is stored only when someone can read it — an enabled endpoint
 * subscribed to it, or an org that keeps its whole event log (`event_log: "all"`, set by the
 * operator). The run's own stream (SSE) and its status are the same either way.
 */
const ADMIN_TOKEN = 'event-log-admin-token-0123456789';
let stack: TestStack;
let receiver: Receiver;

beforeAll(async () => {
  stack = await startTestStack({ config: { ADMIN_TOKEN } });
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await stack?.close();
});

async function completedRun(key: string, agentId: string, message: string): Promise<{ runId: string; eventsUrl: string }> {
  const accepted = await stack.api(`/v1/agents/${agentId}/runs`, { key, body: { message } });
  expect(accepted.status).toBe(202);
  // The workflow's end, not the status: the completion is announced a moment after the status flips.
  await stack.temporal.workflow.getHandle(runWorkflowId(accepted.body.run_id)).result();
  expect((await stack.api(`/v1/runs/${accepted.body.run_id}`, { key })).body.status).toBe('completed');
  return { runId: accepted.body.run_id, eventsUrl: accepted.body.events_url };
}

const storedTypes = async (runId: string) =>
  (await stack.database.db.selectFrom('events').select('type').where('run_id', '=', runId).orderBy('created_at').orderBy('id').execute()).map((e) => e.type).sort();

const listedTypes = async (key: string) => ((await stack.api('/v1/events?limit=100', { key })).body.data as Array<{ type: string }>).map((e) => e.type).sort();

const agentOf = async (key: string, name = 'Echo') => (await stack.api('/v1/agents', { key, body: { name, provider: { kind: 'echo' } } })).body.id as string;

describe('which customer events are stored', () => {
  it('stores none for an org without endpoints, while the run, its messages and its SSE stream are whole', async () => {
    const { apiKey: key } = await stack.newOrg('no readers');
    const { runId, eventsUrl } = await completedRun(key, await agentOf(key), 'Nobody listens');
    const stream = await readSse(eventsUrl, { key });
    expect(stream.events.map((e) => e.data.event_type)).toEqual(['run_queued', 'run_started', 'agent_message', 'run_completed']);
    expect(stream.events[2]!.data.payload).toEqual({ content: 'Echo: Nobody listens' });
    const run = (await stack.api(`/v1/runs/${runId}`, { key })).body;
    expect(run).toMatchObject({ status: 'completed', result: 'Echo: Nobody listens' });
    const conversation = (await stack.api(`/v1/conversations/${run.conversation_id}`, { key })).body;
    expect(conversation.messages.map((m: { role: string; content: string }) => [m.role, m.content])).toEqual([
      ['user', 'Nobody listens'],
      ['assistant', 'Echo: Nobody listens'],
    ]);
    expect(await storedTypes(runId)).toEqual([]);
    expect(await listedTypes(key)).toEqual([]);
    // The reply is stored once: the reply frame references the run's result (listRunEvents puts it back).
    const frame = await stack.database.db.selectFrom('run_events').select('payload').where('run_id', '=', runId).where('event_type', '=', 'agent_message').executeTakeFirstOrThrow();
    expect(JSON.stringify(frame.payload)).not.toContain('Nobody listens');
  });

  it('stores, delivers and lists exactly the events an enabled endpoint subscribes to (its types, its agents)', async () => {
    const { apiKey: key } = await stack.newOrg('one subscriber');
    const agent = await agentOf(key);
    const otherAgent = await agentOf(key, 'Unwatched');
    const endpoint = await stack.api('/v1/endpoints', { key, body: { url: receiver.url, events: ['run.completed'], agent_ids: [agent] } });
    expect(endpoint.status).toBe(201);
    // Disabled endpoints read nothing: subscribed to everything, they store nothing.
    const disabled = await stack.api('/v1/endpoints', { key, body: { url: receiver.url, events: ['user.message', 'agent.message'], enabled: false } });
    expect(disabled.status).toBe(201);

    const { runId } = await completedRun(key, agent, 'Watched');
    const { runId: unwatched } = await completedRun(key, otherAgent, 'Not watched');
    await eventually(async () => ((await storedTypes(runId)).length ? true : undefined), 'the run.completed event');
    expect(await storedTypes(runId)).toEqual(['run.completed']);
    expect(await storedTypes(unwatched)).toEqual([]);
    const listed = (await stack.api('/v1/events?limit=100', { key })).body.data;
    expect(listed).toEqual([expect.objectContaining({ type: 'run.completed', run_id: runId, data: expect.objectContaining({ run_id: runId, result: 'Echo: Watched' }) })]);
    const delivered = await eventually(async () => {
      const e = (await stack.api(`/v1/events/${listed[0].id}`, { key })).body;
      return e.deliveries?.[0]?.status === 'succeeded' ? e : undefined;
    }, 'the delivery');
    expect(delivered.deliveries).toEqual([expect.objectContaining({ endpoint_id: endpoint.body.id, status: 'succeeded' })]);
    expect(receiver.received.some((r) => JSON.parse(r.body).id === listed[0].id)).toBe(true);
  });

  it('stores every event of an org whose operator keeps its whole event log', async () => {
    const { apiKey: key, orgId } = await stack.newOrg('full log');
    const patched = await stack.api(`/v1/admin/orgs/${orgId}`, { method: 'PATCH', key: ADMIN_TOKEN, body: { event_log: 'all' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id: orgId, event_log: 'all', retention_days: null });
    const { runId } = await completedRun(key, await agentOf(key), 'Log everything');
    const all = ['agent.message', 'conversation.created', 'run.completed', 'run.started', 'user.message'];
    await eventually(async () => ((await storedTypes(runId)).length === all.length ? true : undefined), 'every event');
    expect(await storedTypes(runId)).toEqual(all);
    expect(await listedTypes(key)).toEqual(all);
    const userMessage = (await stack.api('/v1/events?type=user.message', { key })).body.data[0];
    expect(userMessage.data).toMatchObject({ run_id: runId, content: 'Log everything', source: 'api' });

    // Back to the operator default (subscribed): the next run stores nothing; retention_days untouched.
    const reset = await stack.api(`/v1/admin/orgs/${orgId}`, { method: 'PATCH', key: ADMIN_TOKEN, body: { event_log: null } });
    expect(reset.body).toMatchObject({ event_log: null, retention_days: null });
    const { runId: quiet } = await completedRun(key, await agentOf(key, 'Second'), 'Log nothing');
    expect(await storedTypes(quiet)).toEqual([]);
  });
});
