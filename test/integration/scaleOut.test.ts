import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it, inject } from 'vitest';
import { freePort } from '../../src/temporal/devServer.js';
import { ownDatabase, type CreatedDatabase } from '../support/ownDatabase.js';
import { exitOf, spawnEntry } from '../support/processes.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { readSse } from '../support/sse.js';
import { eventually, request } from '../support/stack.js';

/**
 * The production shape: two `npm run api` and two `npm run worker` processes on one Postgres
 * and one Temporal. Nothing that must be shared lives in process memory, so a mixed workload
 * spread across them behaves as on one process.
 */
const ADMIN_TOKEN = `admin-${randomUUID()}`;
const children: Array<ReturnType<typeof spawnEntry>> = [];
let apis: string[] = [];
let receiver: Receiver;
let own: CreatedDatabase | undefined;

beforeAll(async () => {
  const sharedUrl = inject('sharedPostgresUrl');
  if (!sharedUrl) throw new Error('the scale-out test needs PostgreSQL: set DATABASE_URL or run a server on 127.0.0.1:5432');
  // Its workers sweep their database for unstarted runs: not the one other test files' stacks share.
  own = await ownDatabase(sharedUrl);
  const databaseUrl = own.url;
  receiver = await startReceiver();
  const common = {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `scale-${randomUUID()}`,
    APP_ENV: 'development',
    OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
    ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
    SSE_HEARTBEAT_SECONDS: '1',
  };
  const ports = [await freePort(), await freePort()];
  for (const port of ports) {
    children.push(spawnEntry('src/main.ts', { ...common, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}` }));
  }
  for (let i = 0; i < 2; i++) children.push(spawnEntry('src/worker.ts', { ...common, METRICS_PORT: String(await freePort()) }));
  apis = ports.map((p) => `http://127.0.0.1:${p}`);
  for (const base of apis) {
    await eventually(async () => {
      const dead = children.find((c) => c.exitCode !== null);
      if (dead) throw new Error(`a process exited: ${dead.output()}`);
      const ready = await request(base, '/readyz').catch(() => undefined);
      return ready?.status === 200 ? true : undefined;
    }, `${base} to be ready`, 60_000);
  }
});

afterAll(async () => {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => exitOf(c)));
  await receiver?.close();
  await own?.drop();
});

it('runs a mixed workload across two APIs and two workers: every run ends once, charged once, delivered', async () => {
  const [a, b] = apis as [string, string];
  const org = await request(a, '/v1/admin/orgs', { key: ADMIN_TOKEN, body: { name: 'Scaled', credits: 100_000 } });
  expect(org.status).toBe(201);
  const key: string = org.body.api_key.key;
  const agent = (await request(b, '/v1/agents', { key, body: { name: 'Shared agent', allow_callback_urls: true, provider: { kind: 'echo', delay_ms: 200 } } })).body;
  const endpoint = (await request(a, '/v1/endpoints', { key, body: { url: receiver.url, events: ['run.completed'] } })).body;
  const hook = (await request(b, `/v1/agents/${agent.id}/webhooks`, { key, body: { name: 'hook', rate_limit_per_minute: 100 } })).body;

  // A stream opened on API b for a run started on API a: events cross processes by NOTIFY.
  const first = await request(a, `/v1/agents/${agent.id}/runs`, { key, body: { message: 'watched' } });
  const streamOnB = readSse(`${b}/v1/runs/${first.body.run_id}/events`, { key });

  const asyncRuns = await Promise.all(
    Array.from({ length: 16 }, (_, i) =>
      request(i % 2 ? a : b, `/v1/agents/${agent.id}/runs`, { key, body: { message: `async ${i}`, callback_url: receiver.url } }),
    ),
  );
  const syncCalls = await Promise.all(
    Array.from({ length: 8 }, (_, i) => request(`${i % 2 ? a : b}/api/webhook/${hook.token}`, '', { body: { message: `sync ${i}` } })),
  );
  expect(asyncRuns.map((r) => r.status)).toEqual(Array(16).fill(202));
  expect(syncCalls.map((r) => r.status)).toEqual(Array(8).fill(200));
  const runIds = [first.body.run_id, ...asyncRuns.map((r) => r.body.run_id), ...syncCalls.map((r) => r.body.run_id)];

  const stream = await streamOnB;
  expect(stream.events.map((e) => e.data.event_type)).toEqual(['run_queued', 'run_started', 'agent_message', 'run_completed']);

  await eventually(async () => {
    const runs = (await request(b, `/v1/runs?agent_id=${agent.id}&limit=100`, { key })).body.data;
    return runs.length === runIds.length && runs.every((r: { status: string }) => r.status === 'completed') ? true : undefined;
  }, 'every run to complete', 60_000);

  const ledger = (await request(a, '/v1/credits?limit=100', { key })).body;
  const charges = ledger.data.filter((e: { kind: string }) => e.kind === 'charge');
  expect(charges).toHaveLength(runIds.length);
  expect(new Set(charges.map((e: { run_id: string }) => e.run_id))).toEqual(new Set(runIds));

  await eventually(async () => {
    const bodies = receiver.received.map((r) => JSON.parse(r.body));
    const delivered = new Set(bodies.filter((x) => x.type === 'run.completed').map((x) => x.data.run_id));
    const calledBack = new Set(bodies.filter((x) => x.run_key).map((x) => x.run_key));
    return runIds.every((id) => delivered.has(id)) && asyncRuns.every((r) => calledBack.has(r.body.run_id)) ? true : undefined;
  }, 'every delivery and callback', 60_000);
  // Each attempt is recorded a moment after its receiver answered.
  const succeeded = await eventually(async () => {
    const deliveries = (await request(b, `/v1/endpoints/${endpoint.id}/deliveries?limit=100`, { key })).body;
    const done = deliveries.data.filter((d: { status: string }) => d.status === 'succeeded');
    return done.length >= runIds.length ? done : undefined;
  }, 'every delivery recorded as succeeded');
  expect(succeeded).toHaveLength(runIds.length);
});
