import { Client, Connection } from '@temporalio/client';
import { retryWithinDeadline } from '../../src/temporal/deadline.js';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { startTestStack, eventually, request, testConfig, type TestStack } from '../support/stack.js';
import { AgentIdKey, OrgIdKey, RunSourceKey, RunStatusKey } from '../../workflows/searchAttributes.js';

let stack: TestStack;
let key: string;
let orgId: string;

beforeAll(async () => {
  stack = await startTestStack();
  ({ apiKey: key, orgId } = await stack.newOrg());
});
afterAll(() => stack?.close());

describe('an agent run, HTTP → Temporal → Postgres → HTTP', () => {
  it('is accepted with 202, runs the echo agent in its workflow and shows completed', async () => {
    const agent = await stack.api('/v1/agents', { key, body: { name: 'Echo', provider: { kind: 'echo' } } });
    expect(agent.status).toBe(201);

    const accepted = await stack.api(`/v1/agents/${agent.body.id}/runs`, { key, body: { message: 'Hello from the test', metadata: { zap: 1 } } });
    expect(accepted.status).toBe(202);
    expect(accepted.body).toEqual({
      trigger_id: accepted.body.run_id,
      run_id: expect.any(String),
      status: 'processing',
      status_url: `${stack.baseUrl}/v1/runs/${accepted.body.run_id}`,
      events_url: `${stack.baseUrl}/v1/runs/${accepted.body.run_id}/events`,
    });
    const runId: string = accepted.body.run_id;

    const statusPath = new URL(accepted.body.status_url).pathname;
    const first = await stack.api(statusPath, { key });
    expect(first.status).toBe(200);
    expect(['processing', 'completed']).toContain(first.body.status);

    const done = await eventually(async () => {
      const r = await stack.api(statusPath, { key });
      return r.body.status === 'completed' ? r.body : undefined;
    }, 'the run to complete');
    expect(done).toMatchObject({
      run_id: runId,
      status: 'completed',
      result: 'Echo: Hello from the test',
      error: null,
      metadata: { zap: 1 },
      usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) },
    });
    expect(Date.parse(done.completed_at)).toBeGreaterThanOrEqual(Date.parse(done.started_at));
    expect(Date.parse(done.started_at)).toBeGreaterThanOrEqual(Date.parse(done.created_at));

    // What an operator sees in Temporal: the workflow by its id, completed, findable by search attributes.
    const handle = stack.temporal.workflow.getHandle(`run-${runId}`);
    expect(await handle.result()).toMatchObject({ runId, status: 'completed' });
    const description = await handle.describe();
    expect(description.status.name).toBe('COMPLETED');
    expect(description.type).toBe('agentRun');
    const attributes = description.typedSearchAttributes;
    expect(attributes.get(OrgIdKey)).toBe(orgId);
    expect(attributes.get(AgentIdKey)).toBe(agent.body.id);
    expect(attributes.get(RunSourceKey)).toBe('api');
    expect(attributes.get(RunStatusKey)).toBe('completed');
    // ...and by a visibility query, the way an operator types it in the Web UI.
    const found = await eventually(async () => {
      for await (const execution of stack.temporal.workflow.list({ query: `AgentId = "${agent.body.id}" AND RunStatus = "completed"` })) {
        return execution.workflowId;
      }
      return undefined;
    }, 'the run to be visible by its search attributes');
    expect(found).toBe(`run-${runId}`);
  });

  it('answers 503 and keeps no run when the workflow engine is unreachable', async () => {
    const agent = await stack.api('/v1/agents', { key, body: { name: 'Unlucky' } });
    const deadConnection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 500, interceptors: [retryWithinDeadline()] }); // as src/main.ts
    const server = await stack.startSecondApi({
      config: testConfig({ TEMPORAL_TASK_QUEUE: stack.taskQueue }),
      temporal: new Client({ connection: deadConnection }),
      readiness: { database: async () => true, temporal: async () => false },
    });
    const base = server.baseUrl;
    try {
      const before = await stack.database.db.selectFrom('runs').select((eb) => eb.fn.countAll<string>().as('n')).where('agent_id', '=', agent.body.id).executeTakeFirstOrThrow();
      const response = await request(base, `/v1/agents/${agent.body.id}/runs`, { key, body: { message: 'lost?' } });
      expect(response.status).toBe(503);
      expect(response.body.code).toBe('SERVICE_UNAVAILABLE');
      expect(response.headers.get('retry-after')).toBe('5');
      const after = await stack.database.db.selectFrom('runs').select((eb) => eb.fn.countAll<string>().as('n')).where('agent_id', '=', agent.body.id).executeTakeFirstOrThrow();
      expect(Number(after.n)).toBe(Number(before.n));
      const ready = await request(base, '/readyz');
      expect(ready.status).toBe(503);
    } finally {
      server.close();
      await deadConnection.close().catch(() => undefined);
    }
  });

  it('does not let one org read another org\'s run', async () => {
    const agent = await stack.api('/v1/agents', { key, body: { name: 'Private' } });
    const run = await stack.api(`/v1/agents/${agent.body.id}/runs`, { key, body: { message: 'secret' } });
    const other = await stack.newOrg('Nosy org');
    const peek = await stack.api(`/v1/runs/${run.body.run_id}`, { key: other.apiKey });
    expect(peek.status).toBe(404);
    expect(JSON.stringify(peek.body)).not.toContain('secret');
    expect((await stack.api('/v1/runs/not-a-uuid', { key })).status).toBe(404);
  });
});

it('uses the Temporal server started for this test run', () => {
  expect(inject('temporalAddress')).toMatch(/^127\.0\.0\.1:\d+$/);
});
