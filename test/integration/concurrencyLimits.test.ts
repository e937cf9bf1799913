import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../src/temporal/devServer.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { ownDatabase, type CreatedDatabase } from '../support/ownDatabase.js';
import { exitOf, spawnEntry } from '../support/processes.js';
import { readSse } from '../support/sse.js';
import { eventually, request, startTestStack, type TestStack } from '../support/stack.js';

/** Issue 18.3: max_concurrent_runs per agent (and per org): the rest wait `queued`, in order, and start as slots free. */

const RUNS = 30;
const MAX = 3;
/** A slow agent: each run thinks this long. */
const THINK_MS = 1_200;

interface Sampler {
  maxDb: number;
  maxVisible: number;
  samples: number;
  stop(): Promise<void>;
}

/**
 * Samples, until stopped, how many of the agent's runs are processing: in the database (status)
 * and in Temporal's visibility (open run workflows whose RunStatus is processing).
 */
function sampleRunning(db: DatabaseHandle['db'], temporal: Client, agentId: string): Sampler {
  const sampler = { maxDb: 0, maxVisible: 0, samples: 0 } as Sampler;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const [row, visible] = await Promise.all([
        db.selectFrom('runs').select((eb) => eb.fn.countAll<string>().as('n')).where('agent_id', '=', agentId).where('status', '=', 'processing').executeTakeFirstOrThrow(),
        temporal.workflow.count(`AgentId = "${agentId}" AND RunStatus = "processing" AND ExecutionStatus = "Running"`),
      ]);
      sampler.maxDb = Math.max(sampler.maxDb, Number(row.n));
      sampler.maxVisible = Math.max(sampler.maxVisible, visible.count);
      sampler.samples++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  sampler.stop = async () => {
    stopped = true;
    await loop;
  };
  return sampler;
}

/** Asserts the properties every scenario must keep, and returns the runs in start order. */
async function expectFifoAndComplete(db: DatabaseHandle['db'], runIds: string[], timeoutMs: number) {
  const runs = await eventually(async () => {
    const rows = await db.selectFrom('runs').selectAll().where('id', 'in', runIds).execute();
    return rows.length === runIds.length && rows.every((r) => r.status === 'completed') ? rows : undefined;
  }, `all ${runIds.length} runs to complete`, timeoutMs);
  // Accepted one after the other, so arrival order is the order of runIds; slots were given in it.
  // Ordered by the database (microseconds: runs admitted together share a JavaScript millisecond).
  const byAdmission = await db.selectFrom('runs').selectAll().where('id', 'in', runIds).orderBy('admitted_at').execute();
  expect(byAdmission.map((r) => r.id)).toEqual(runIds);
  // And each run's workflow began its work after every earlier run had been given its slot.
  for (const run of runs) expect(run.started_at!.getTime()).toBeGreaterThanOrEqual(run.admitted_at!.getTime());
  // Each was charged once.
  const charges = await db.selectFrom('credit_entries').select('run_id').where('run_id', 'in', runIds).where('kind', '=', 'charge').execute();
  expect(charges).toHaveLength(runIds.length);
  return byAdmission;
}

describe('one process', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ postgres: true });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('30 runs against max_concurrent_runs 3: never more than 3 processing (database and visibility), all complete, started in arrival order', async () => {
    const { apiKey } = await stack.newOrg('Queue org');
    const agent = await stack.api('/v1/agents', { key: apiKey, body: { name: 'slow', provider: { kind: 'echo', delay_ms: THINK_MS }, max_concurrent_runs: MAX } });
    expect(agent.status).toBe(201);
    expect(agent.body.max_concurrent_runs).toBe(MAX);
    const sampler = sampleRunning(stack.database.db, stack.temporal, agent.body.id);
    const accepted = [];
    for (let i = 0; i < RUNS; i++) {
      const res = await stack.api(`/v1/agents/${agent.body.id}/runs`, { key: apiKey, body: { message: `run ${i}` } });
      expect(res.status).toBe(202);
      accepted.push(res.body);
    }
    const runIds = accepted.map((a) => a.run_id as string);
    // The first ones take the free slots; the later ones are told they wait.
    expect(accepted.filter((a) => a.status === 'queued').length).toBeGreaterThanOrEqual(RUNS - 2 * MAX);
    const last = await stack.api(`/v1/runs/${runIds[RUNS - 1]}`, { key: apiKey });
    expect(last.body.status).toBe('queued');
    expect(last.body.status_detail).toMatch(/waiting for a slot/);
    const stream = await readSse(`${stack.baseUrl}/v1/runs/${runIds[RUNS - 1]}/events`, { key: apiKey, stopAfter: 1 });
    expect(stream.events[0]!.data).toMatchObject({ event_type: 'run_queued', payload: { status: 'queued' } });

    await expectFifoAndComplete(stack.database.db, runIds, 180_000);
    await sampler.stop();
    console.log(`concurrency: ${sampler.samples} samples; at most ${sampler.maxDb} processing in the database, ${sampler.maxVisible} in visibility (limit ${MAX})`);
    expect(sampler.maxDb).toBeLessThanOrEqual(MAX);
    expect(sampler.maxVisible).toBeLessThanOrEqual(MAX);
    expect(sampler.maxDb).toBe(MAX); // the limit was reached, not merely unused
    // Every run's stream: queued runs show their wait, then run as usual.
    const replay = await readSse(`${stack.baseUrl}/v1/runs/${runIds[RUNS - 1]}/events`, { key: apiKey });
    expect(replay.events.map((e) => e.data.event_type)).toEqual(['run_queued', 'run_started', 'agent_message', 'run_completed']);
  }, 240_000);

  it('a delayed run joins its agent\'s queue when its time comes, placed by its run_at: the limit holds for it too', async () => {
    const { apiKey } = await stack.newOrg('Delayed queue org', 10_000);
    const agent = (await stack.api('/v1/agents', { key: apiKey, body: { name: 'one at a time, later', provider: { kind: 'echo', delay_ms: 4_000 }, max_concurrent_runs: 1 } }))
      .body;
    const sampler = sampleRunning(stack.database.db, stack.temporal, agent.id);
    const later = (await stack.api(`/v1/agents/${agent.id}/runs`, { key: apiKey, body: { message: 'later', delay_seconds: 2 } })).body;
    const now = (await stack.api(`/v1/agents/${agent.id}/runs`, { key: apiKey, body: { message: 'now' } })).body;
    const next = (await stack.api(`/v1/agents/${agent.id}/runs`, { key: apiKey, body: { message: 'next' } })).body;
    expect([later.status, now.status, next.status]).toEqual(['scheduled', 'processing', 'queued']);

    // At its run_at the slot is taken: the delayed run waits, queued, instead of running beside it.
    const waiting = await eventually(async () => {
      const run = (await stack.api(`/v1/runs/${later.run_id}`, { key: apiKey })).body;
      return run.status !== 'scheduled' ? run : undefined;
    }, 'the delayed run to leave scheduled');
    expect(waiting.status).toBe('queued');
    expect(waiting.status_detail).toMatch(/waiting for a slot/);

    // Queued before its run_at, `next` goes first; the delayed run after it; one at a time throughout.
    const ended = await expectFifoAndComplete(stack.database.db, [now.run_id, next.run_id, later.run_id], 60_000);
    await sampler.stop();
    expect(sampler.maxDb).toBe(1);
    expect(sampler.maxVisible).toBeLessThanOrEqual(1);
    expect(ended[2]!.started_at!.getTime()).toBeGreaterThanOrEqual(ended[2]!.run_at!.getTime());
  }, 120_000);

  it('a queued run cancelled before its turn ends cancelled: nothing charged, its hold released, no slot taken', async () => {
    const { apiKey, orgId } = await stack.newOrg('Cancel org', 10_000);
    const agent = (await stack.api('/v1/agents', { key: apiKey, body: { name: 'one at a time', provider: { kind: 'echo', delay_ms: 3_000 }, max_concurrent_runs: 1 } })).body;
    const first = (await stack.api(`/v1/agents/${agent.id}/runs`, { key: apiKey, body: { message: 'first' } })).body;
    const second = (await stack.api(`/v1/agents/${agent.id}/runs`, { key: apiKey, body: { message: 'second' } })).body;
    const third = (await stack.api(`/v1/agents/${agent.id}/runs`, { key: apiKey, body: { message: 'third' } })).body;
    expect([first.status, second.status, third.status]).toEqual(['processing', 'queued', 'queued']);
    const held = await stack.database.db.selectFrom('orgs').select('held').where('id', '=', orgId).executeTakeFirstOrThrow();
    expect(Number(held.held)).toBe(300);

    const cancel = await stack.api(`/v1/runs/${second.run_id}/cancel`, { key: apiKey, method: 'POST' });
    expect(cancel.status).toBe(202);
    const cancelled = await eventually(async () => {
      const run = (await stack.api(`/v1/runs/${second.run_id}`, { key: apiKey })).body;
      return run.status === 'cancelled' ? run : undefined;
    }, 'the queued run to be cancelled');
    expect(cancelled.started_at).toBeNull();
    expect(cancelled.credits_used).toBe(0);
    // The slot stayed with the first run: the third still waits behind it.
    expect((await stack.api(`/v1/runs/${third.run_id}`, { key: apiKey })).body.status).toBe('queued');
    const stream = await readSse(`${stack.baseUrl}/v1/runs/${second.run_id}/events`, { key: apiKey });
    expect(stream.events.map((e) => e.data.event_type)).toEqual(['run_queued', 'run_cancelled']);

    const done = await eventually(async () => {
      const rows = await stack.database.db.selectFrom('runs').selectAll().where('id', 'in', [first.run_id, third.run_id]).execute();
      return rows.every((r) => r.status === 'completed') ? rows : undefined;
    }, 'the other two runs to complete', 60_000);
    expect(done).toHaveLength(2);
    const charges = await stack.database.db.selectFrom('credit_entries').select('run_id').where('org_id', '=', orgId).where('kind', '=', 'charge').execute();
    expect(charges.map((c) => c.run_id).sort()).toEqual([first.run_id, third.run_id].sort());
    const after = await stack.database.db.selectFrom('orgs').select('held').where('id', '=', orgId).executeTakeFirstOrThrow();
    expect(Number(after.held)).toBe(0);
  }, 120_000);

  it('the org-wide cap set by the admin API holds across agents', async () => {
    const { apiKey, orgId } = await stack.newOrg('Capped org');
    const { setOrgConcurrency } = await import('../../src/db/runQueue.js');
    await setOrgConcurrency(stack.database.db, orgId, 2);
    const agents = [];
    for (const name of ['a', 'b']) agents.push((await stack.api('/v1/agents', { key: apiKey, body: { name, provider: { kind: 'echo', delay_ms: THINK_MS } } })).body);
    let maxOrg = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const row = await stack.database.db.selectFrom('runs').select((eb) => eb.fn.countAll<string>().as('n')).where('org_id', '=', orgId).where('status', '=', 'processing').executeTakeFirstOrThrow();
        maxOrg = Math.max(maxOrg, Number(row.n));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const runIds: string[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await stack.api(`/v1/agents/${agents[i % 2].id}/runs`, { key: apiKey, body: { message: `m${i}` } });
      runIds.push(res.body.run_id);
    }
    await expectFifoAndComplete(stack.database.db, runIds, 120_000);
    sampling = false;
    await sampler;
    expect(maxOrg).toBe(2);
  }, 180_000);
});

/**
 * The production shape: two APIs and two workers on one Postgres and Temporal; one worker is
 * killed mid-way. The limit and the order hold (the slots live in the database, the waits in
 * workflows the surviving worker picks up).
 */
describe('two APIs, two workers, one killed mid-way', () => {
  const ADMIN_TOKEN = `admin-${randomUUID()}`;
  const children: Array<ReturnType<typeof spawnEntry>> = [];
  let apis: string[] = [];
  let database: DatabaseHandle;
  let own: CreatedDatabase | undefined;
  let temporal: Client;
  let connection: Connection;

  beforeAll(async () => {
    const sharedUrl = inject('sharedPostgresUrl');
    if (!sharedUrl) throw new Error('this test needs PostgreSQL');
    // Its workers sweep their database for unstarted runs: not the one other test files' stacks share.
    own = await ownDatabase(sharedUrl);
    const databaseUrl = own.url;
    database = await openDatabase({ url: databaseUrl, poolSize: 3 });
    connection = await Connection.connect({ address: inject('temporalAddress') });
    temporal = new Client({ connection, namespace: 'default' });
    const common = {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_TASK_QUEUE: `queue-${randomUUID()}`,
      APP_ENV: 'development',
      OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
      ADMIN_TOKEN,
      LOG_LEVEL: 'warn',
    };
    const ports = [await freePort(), await freePort()];
    for (const port of ports) children.push(spawnEntry('src/main.ts', { ...common, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}` }));
    for (let i = 0; i < 2; i++) children.push(spawnEntry('src/worker.ts', { ...common, METRICS_PORT: String(await freePort()) }));
    apis = ports.map((p) => `http://127.0.0.1:${p}`);
    for (const base of apis) {
      await eventually(async () => {
        const dead = children.find((c) => c.exitCode !== null);
        if (dead) throw new Error(`a process exited: ${dead.output()}`);
        const ready = await request(base, '/readyz').catch(() => undefined);
        return ready?.status === 200 ? true : undefined;
      }, `${base} to be ready`, 90_000);
    }
  }, 120_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => exitOf(c)));
    await connection?.close();
    await database?.close();
    await own?.drop();
  });

  it('keeps at most 3 processing and arrival order while a worker dies', async () => {
    const [a, b] = apis as [string, string];
    const org = await request(a, '/v1/admin/orgs', { key: ADMIN_TOKEN, body: { name: 'Scaled queue', credits: 100_000 } });
    const key: string = org.body.api_key.key;
    const agent = (await request(b, '/v1/agents', { key, body: { name: 'slow', provider: { kind: 'echo', delay_ms: THINK_MS }, max_concurrent_runs: MAX } })).body;
    const sampler = sampleRunning(database.db, temporal, agent.id);
    const runIds: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const res = await request(i % 2 ? a : b, `/v1/agents/${agent.id}/runs`, { key, body: { message: `run ${i}` } });
      expect(res.status).toBe(202);
      runIds.push(res.body.run_id);
    }
    // Mid-way: a third of the runs done, then one worker dies without a goodbye.
    await eventually(async () => {
      const done = await database.db.selectFrom('runs').select('id').where('id', 'in', runIds).where('status', '=', 'completed').execute();
      return done.length >= RUNS / 3 ? true : undefined;
    }, 'a third of the runs to complete', 120_000);
    const victim = children[2]!;
    victim.kill('SIGKILL');
    await exitOf(victim);

    await expectFifoAndComplete(database.db, runIds, 240_000);
    await sampler.stop();
    console.log(`concurrency, 2 APIs + 2 workers (one killed): ${sampler.samples} samples; at most ${sampler.maxDb} processing in the database, ${sampler.maxVisible} in visibility`);
    expect(sampler.maxDb).toBeLessThanOrEqual(MAX);
    expect(sampler.maxVisible).toBeLessThanOrEqual(MAX);
    expect(sampler.maxDb).toBe(MAX);
  }, 400_000);
});
