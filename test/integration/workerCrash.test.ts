import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, expect, it, inject } from 'vitest';
import { freePort } from '../../src/temporal/devServer.js';
import { exitOf, startDevStack } from '../support/processes.js';
import { eventually, request } from '../support/stack.js';

const dataDir = mkdtempSync(join(tmpdir(), 'aw-crash-'));
const children: Array<{ kill(signal: NodeJS.Signals): boolean }> = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

it('finishes a run exactly once when the worker is killed mid-run and a new one starts', async () => {
  const env = {
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `crash-${randomUUID()}`,
    DATABASE_URL: inject('databaseUrl') ?? undefined, // unset: the stack's own PGlite in dataDir
    PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
  };
  const first = await startDevStack(dataDir, env);
  children.push(first.child);
  const { api_url: base, api_key: key } = first.credentials;

  // An agent slow enough to be killed while it thinks.
  const agent = await request(base, '/v1/agents', { key, body: { name: 'Slow echo', provider: { kind: 'echo', delay_ms: 4000 } } });
  expect(agent.status).toBe(201);
  const accepted = await request(base, `/v1/agents/${agent.body.id}/runs`, { key, body: { message: 'survive a crash' } });
  expect(accepted.status).toBe(202);
  const runId: string = accepted.body.run_id;

  const started = await eventually(async () => {
    const r = await request(base, `/v1/runs/${runId}`, { key });
    return r.body.started_at ? r.body : undefined;
  }, 'the run to start');
  expect(started.status).toBe('processing');
  await new Promise((r) => setTimeout(r, 1000)); // the agent activity is now mid-flight

  first.child.kill('SIGKILL');
  expect((await exitOf(first.child)).signal).toBe('SIGKILL');

  const second = await startDevStack(dataDir, env);
  children.push(second.child);
  const done = await eventually(async () => {
    const r = await request(base, `/v1/runs/${runId}`, { key });
    return r.body.status === 'completed' ? r.body : undefined;
  }, 'the run to complete on the new worker', 60_000);
  expect(done).toMatchObject({ status: 'completed', result: 'Echo: survive a crash', error: null });

  // The history proves the crash hit mid-activity and the reply was stored once.
  const connection = await Connection.connect({ address: inject('temporalAddress') });
  try {
    const history = await new Client({ connection }).workflow.getHandle(`run-${runId}`).fetchHistory();
    const events = history.events ?? [];
    const scheduled = new Map<string, string>();
    for (const e of events) {
      const a = e.activityTaskScheduledEventAttributes;
      if (a) scheduled.set(String(e.eventId), a.activityType?.name ?? '');
    }
    const startedAttempts = events
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => ({ name: scheduled.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId)), attempt: e.activityTaskStartedEventAttributes!.attempt }));
    expect(startedAttempts.find((a) => a.name === 'runAgent')?.attempt).toBeGreaterThanOrEqual(2);
    expect([...scheduled.values()].filter((name) => name === 'completeRun')).toHaveLength(1);
    expect(events.some((e) => e.workflowExecutionCompletedEventAttributes)).toBe(true);
  } finally {
    await connection.close();
  }

  const stopped = second.child.kill('SIGTERM');
  expect(stopped).toBe(true);
  expect((await exitOf(second.child)).code).toBe(0);
});
