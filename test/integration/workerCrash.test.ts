import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, expect, it, inject } from 'vitest';
import { freePort } from '../../src/temporal/devServer.js';
import { exitOf, startDevStack } from '../support/processes.js';
import { eventually, request } from '../support/stack.js';

const dataDir = mkdtempSync(join(tmpdir(), 'aw-crash-'));
const chargeDataDir = mkdtempSync(join(tmpdir(), 'aw-charge-crash-'));
const deliveryDataDir = mkdtempSync(join(tmpdir(), 'aw-delivery-crash-'));
const children: Array<{ kill(signal: NodeJS.Signals): boolean }> = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(chargeDataDir, { recursive: true, force: true });
  rmSync(deliveryDataDir, { recursive: true, force: true });
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
    const handle = new Client({ connection }).workflow.getHandle(`run-${runId}`);
    await handle.result(); // the run's row is final before the workflow's last announcements are
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    const scheduled = new Map<string, string>();
    for (const e of events) {
      const a = e.activityTaskScheduledEventAttributes;
      if (a) scheduled.set(String(e.eventId), a.activityType?.name ?? '');
    }
    const startedAttempts = events
      .filter((e) => e.activityTaskStartedEventAttributes)
      .map((e) => ({ name: scheduled.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId)), attempt: e.activityTaskStartedEventAttributes!.attempt }));
    // The run is one activity (runToEnd: begin, the agent, the charge and the reply): the crash
    // hit its first attempt, the second finished it; no other step was recorded.
    expect(startedAttempts.map((a) => a.name)).toEqual(['runToEnd']);
    expect(startedAttempts[0]!.attempt).toBeGreaterThanOrEqual(2);
    expect(events.filter((e) => e.markerRecordedEventAttributes)).toEqual([]);
    expect(events.filter((e) => e.workflowExecutionCompletedEventAttributes)).toHaveLength(1);
  } finally {
    await connection.close();
  }

  const stopped = second.child.kill('SIGTERM');
  expect(stopped).toBe(true);
  expect((await exitOf(second.child)).code).toBe(0);
});

it('charges exactly once when the worker dies after the agent answered, before the charge completed', async () => {
  let stack: Awaited<ReturnType<typeof startDevStack>> | undefined;
  let agentCalls = 0;
  // The user's own agent service: its first answer is the last thing the first worker hears.
  const agentService = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      agentCalls++;
      const first = agentCalls === 1;
      res.on('finish', () => {
        if (first) stack?.child.kill('SIGKILL');
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ response: 'done', usage: { input_tokens: 500, output_tokens: 100 } }));
    });
  });
  await new Promise<void>((r) => agentService.listen(0, '127.0.0.1', r));
  const agentUrl = `http://127.0.0.1:${(agentService.address() as AddressInfo).port}/agent`;
  try {
    const env = {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `charge-crash-${randomUUID()}`,
      DATABASE_URL: inject('databaseUrl') ?? undefined,
      PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
    };
    stack = await startDevStack(chargeDataDir, env);
    children.push(stack.child);
    const { api_url: base, api_key: key } = stack.credentials;
    const agent = await request(base, '/v1/agents', { key, body: { name: 'Own service', provider: { kind: 'http', url: agentUrl } } });
    expect(agent.status).toBe(201);
    const before = (await request(base, '/v1/credits', { key })).body.balance;
    const accepted = await request(base, `/v1/agents/${agent.body.id}/runs`, { key, body: { message: 'charge me once' } });
    expect(accepted.status).toBe(202);

    expect((await exitOf(stack.child)).signal).toBe('SIGKILL');
    expect(agentCalls).toBe(1);
    stack = await startDevStack(chargeDataDir, env);
    children.push(stack.child);

    const done = await eventually(async () => {
      const r = await request(base, `/v1/runs/${accepted.body.run_id}`, { key });
      return r.body.status === 'completed' ? r.body : undefined;
    }, 'the run to complete after the restart', 60_000);
    expect(done).toMatchObject({ result: 'done', credits_used: 8 }); // ceil((500 + 3 × 100) / 100)
    const ledger = (await request(base, '/v1/credits?limit=100', { key })).body;
    expect(ledger.data.filter((e: { run_id: string | null }) => e.run_id === accepted.body.run_id)).toEqual([
      expect.objectContaining({ kind: 'charge', amount: -8 }),
    ]);
    expect(ledger.balance).toBe(before - 8);
  } finally {
    agentService.close();
    stack?.child.kill('SIGTERM');
  }
});

it('completes a delivery after the worker is killed in the middle of it', async () => {
  let stack: Awaited<ReturnType<typeof startDevStack>> | undefined;
  const seen: string[] = [];
  // The first delivery request never gets an answer: the worker dies while waiting for it.
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push(String(req.headers['webhook-id']));
      if (seen.length === 1) {
        stack?.child.kill('SIGKILL');
        return;
      }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  try {
    const env = {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `delivery-crash-${randomUUID()}`,
      DATABASE_URL: inject('databaseUrl') ?? undefined,
      PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      DELIVERY_RETRY_SCHEDULE: '1s,1s,1s',
    };
    stack = await startDevStack(deliveryDataDir, env);
    children.push(stack.child);
    const { api_url: base, api_key: key, agent_id: agentId } = stack.credentials;
    // Without SECRETS_KEY the dev stack generates one, private to its user, and keeps it.
    const keyFile = join(deliveryDataDir, 'secrets.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const devKey = readFileSync(keyFile, 'utf8');
    const endpoint = await request(base, '/v1/endpoints', { key, body: { url, events: ['run.completed'], timeout_seconds: 2 } });
    expect(endpoint.status).toBe(201);
    await request(base, `/v1/agents/${agentId}/runs`, { key, body: { message: 'deliver through a crash' } });

    expect((await exitOf(stack.child)).signal).toBe('SIGKILL');
    stack = await startDevStack(deliveryDataDir, env);
    children.push(stack.child);
    const deliveries = await eventually(async () => {
      const d = (await request(base, `/v1/endpoints/${endpoint.body.id}/deliveries`, { key })).body.data;
      return d[0]?.status === 'succeeded' ? d : undefined;
    }, 'the delivery to succeed after the restart', 60_000);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    // The restarted stack opened the endpoint secret sealed by the first one: same key.
    expect(readFileSync(keyFile, 'utf8')).toBe(devKey);
    expect(new Set(seen).size).toBe(1); // the same webhook-id: receivers can dedupe
    expect(deliveries[0].attempts.at(-1)).toMatchObject({ status_code: 204, succeeded: true });
  } finally {
    receiver.closeAllConnections();
    receiver.close();
    stack?.child.kill('SIGTERM');
  }
});
