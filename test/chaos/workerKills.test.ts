import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it, inject } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { freePort } from '../../src/temporal/devServer.js';
import { count } from '../support/figures.js';
import { exitOf, spawnEntry } from '../support/processes.js';
import { startReceiver, type Receiver } from '../support/receiver.js';
import { ownDatabase } from '../support/ownDatabase.js';
import { eventually, request, type ApiResponse } from '../support/stack.js';

/**
 * The promise users buy: kill -9 the worker as often as you like, and every accepted run
 * still ends once, is charged once, is delivered to every subscribed endpoint and called
 * back. 500 mixed runs (async with and without callbacks, sync webhook calls) go through
 * one API process while a second task kills the worker process at random moments and
 * starts a new one. The invariants are then checked against the database and the receivers.
 */
const RUNS = 500;
const SYNC_SHARE = 0.3; // of the runs, sync webhook calls
const MIN_KILLS = 5;
const CONCURRENCY = 12;

const ADMIN_TOKEN = `admin-${randomUUID()}`;
const children: Array<ReturnType<typeof spawnEntry>> = [];
let env: Record<string, string | undefined>;
let api: string;
let database: DatabaseHandle;
let own: Awaited<ReturnType<typeof ownDatabase>> | undefined;
let finals: Receiver; // endpoint subscribed to run endings
let starts: Receiver; // endpoint subscribed to run.started and agent.message
let callbacks: Receiver;

beforeAll(async () => {
  const sharedUrl = inject('sharedPostgresUrl');
  if (!sharedUrl) throw new Error('the worker-kill chaos test needs PostgreSQL: set DATABASE_URL or run a server on 127.0.0.1:5432');
  // Its own database: no other test file's worker sweeps these runs onto its own task queue.
  own = await ownDatabase(sharedUrl);
  const databaseUrl = own.url;
  [finals, starts, callbacks] = await Promise.all([startReceiver(), startReceiver(), startReceiver()]);
  database = await openDatabase({ url: databaseUrl, poolSize: 2 });
  const port = await freePort();
  env = {
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_TASK_QUEUE: `chaos-${randomUUID()}`,
    WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'), // a restart takes a second, not a bundling
    METRICS_PORT: '0', // several workers at once: no shared port
    APP_ENV: 'development',
    OUTBOUND_ALLOWED_CIDRS: '127.0.0.0/8',
    DELIVERY_RETRY_SCHEDULE: '1s,2s,4s,8s,16s',
    // Sync callers waiting through a kill get their 202 + status_url sooner.
    SYNC_WAIT_SECONDS: '10',
    ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
  };
  children.push(spawnEntry('src/main.ts', env));
  api = `http://127.0.0.1:${port}`;
  startWorker();
  await eventually(async () => {
    const dead = children.find((c) => c.exitCode !== null);
    if (dead) throw new Error(`a process exited: ${dead.output()}`);
    const ready = await request(api, '/readyz').catch(() => undefined);
    return ready?.status === 200 ? true : undefined;
  }, 'the API to be ready', 60_000);
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(children.map((c) => exitOf(c)));
  await Promise.all([finals, starts, callbacks].map((r) => r?.close()));
  await database?.close();
  await own?.drop();
});

let worker: ReturnType<typeof spawnEntry>;
function startWorker() {
  worker = spawnEntry('src/worker.ts', { ...env, LOG_LEVEL: 'info' }); // its "worker running" line says it polls
  children.push(worker);
}

it(`ends, charges, delivers and calls back every one of ${RUNS} mixed runs while the worker is killed -9 at random`, async ({ task }) => {
  const org = await request(api, '/v1/admin/orgs', { key: ADMIN_TOKEN, body: { name: 'Chaos org', credits: 1_000_000 } });
  expect(org.status).toBe(201);
  const key: string = org.body.api_key.key;
  const orgId: string = org.body.org.id;
  const agent = (await request(api, '/v1/agents', { key, body: { name: 'Chaos agent', allow_callback_urls: true, provider: { kind: 'echo', delay_ms: 300 } } })).body;
  const endings = ['run.completed', 'run.failed', 'run.cancelled', 'run.timed_out'];
  const finalsEndpoint = await request(api, '/v1/endpoints', { key, body: { url: finals.url, events: endings, max_retries: 10 } });
  const startsEndpoint = await request(api, '/v1/endpoints', { key, body: { url: starts.url, events: ['run.started', 'agent.message'], max_retries: 10 } });
  expect([finalsEndpoint.status, startsEndpoint.status]).toEqual([201, 201]);
  const hook = (await request(api, `/v1/agents/${agent.id}/webhooks`, { key, body: { name: 'chaos hook', rate_limit_per_minute: 10_000 } })).body;

  // The killer: a random pause, kill -9, a new worker at once; until the load is done and
  // there were at least MIN_KILLS kills.
  let loadDone = false;
  let kills = 0;
  const killer = (async () => {
    while (!loadDone || kills < MIN_KILLS) {
      // Kill a worker that is polling, at a random moment of its work.
      const victim = worker;
      await eventually(async () => {
        if (victim.exitCode !== null) throw new Error(`the worker exited by itself: ${victim.output()}`);
        return victim.output().includes('worker running') ? true : undefined;
      }, 'the new worker to poll', 120_000);
      await sleep(2000 + Math.random() * 6000);
      victim.kill('SIGKILL');
      expect((await exitOf(victim)).signal).toBe('SIGKILL');
      kills++;
      startWorker();
    }
  })();

  // The load: RUNS requests from CONCURRENCY callers; every 200/202 is an accepted run.
  const accepted: Array<{ runId: string; callback: boolean; via: string; status: number }> = [];
  const refused: string[] = [];
  let next = 0;
  const began = Date.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < RUNS; i = next++) {
        const sync = i % Math.round(1 / SYNC_SHARE) === 0;
        const callback = !sync && i % 2 === 0;
        let response: ApiResponse;
        if (sync) {
          response = await request(`${api}/api/webhook/${hook.token}`, '', { body: { message: `sync ${i}`, user_id: `user-${i % 7}` } });
        } else {
          const body = { message: `async ${i}`, ...(callback ? { callback_url: callbacks.url } : {}) };
          response = await request(api, `/v1/agents/${agent.id}/runs`, { key, body });
        }
        if (response.status === 200 || response.status === 202) {
          accepted.push({ runId: response.body.run_id, callback, via: sync ? 'sync' : 'async', status: response.status });
        } else {
          refused.push(`${sync ? 'sync' : 'async'} ${i}: ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`);
        }
        await sleep(20); // spread the load over the kills
      }
    }),
  );
  loadDone = true;
  const loadSeconds = (Date.now() - began) / 1000;
  await killer;
  // Nothing here is the caller's fault: the API accepts every request while workers die.
  expect(refused).toEqual([]);
  expect(accepted).toHaveLength(RUNS);
  const runIds = accepted.map((a) => a.runId);
  expect(new Set(runIds).size).toBe(RUNS);

  // 1. Every accepted run ends (echo never fails, so: completed).
  const db = database.db;
  const statuses = await eventually(async () => {
    const rows = await db.selectFrom('runs').select(['id', 'status', 'error']).where('org_id', '=', orgId).execute();
    return rows.length === RUNS && rows.every((r) => r.status !== 'processing') ? rows : undefined;
  }, 'every run to end', 240_000);
  expect(statuses.filter((r) => r.status !== 'completed').slice(0, 5)).toEqual([]);
  expect(new Set(statuses.map((r) => r.id))).toEqual(new Set(runIds));

  // 2. Exactly one charge per completed run.
  const charges = await db
    .selectFrom('credit_entries')
    .select(['run_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('org_id', '=', orgId)
    .where('kind', '=', 'charge')
    .groupBy('run_id')
    .execute();
  const doubleCharges = charges.filter((c) => Number(c.n) !== 1);
  expect(doubleCharges).toEqual([]);
  expect(new Set(charges.map((c) => c.run_id))).toEqual(new Set(runIds));

  // 3. Every subscribed endpoint received every event at least once (distinct webhook-ids).
  // A run's row is final a moment before its events are stored (a kill in between delays them).
  const expectedIds = async (types: string[], size: number) =>
    eventually(async () => {
      const events = await db.selectFrom('events').select('id').where('org_id', '=', orgId).where('type', 'in', types).execute();
      return events.length >= size ? new Set(events.map((e) => `msg_${e.id.replaceAll('-', '')}`)) : undefined;
    }, `${size} ${types.join('/')} events`, 120_000);
  const finalsExpected = await expectedIds(endings, RUNS).catch(async (err: Error) => {
    // Say which runs lack their ending event, and what each has stored instead.
    const ended = new Set((await db.selectFrom('events').select('run_id').where('org_id', '=', orgId).where('type', 'in', endings).execute()).map((e) => e.run_id));
    const lacking = runIds.filter((id) => !ended.has(id));
    const detail = await Promise.all(
      lacking.slice(0, 3).map(async (id) => {
        const run = await db.selectFrom('runs').select(['status', 'started_at', 'completed_at']).where('id', '=', id).executeTakeFirst();
        const stream = await db.selectFrom('run_events').select('event_type').where('run_id', '=', id).orderBy('sequence').execute();
        const events = await db.selectFrom('events').select('type').where('run_id', '=', id).execute();
        return `${id}: ${JSON.stringify(run)} stream [${stream.map((e) => e.event_type).join(' ')}] events [${events.map((e) => e.type).join(' ')}]`;
      }),
    );
    const endpoints = await db.selectFrom('endpoints').select(['url', 'enabled', 'disabled_reason']).where('org_id', '=', orgId).execute();
    throw new Error(`${err.message}: ${lacking.length} runs lack one; ${detail.join('; ')}; endpoints ${JSON.stringify(endpoints)}`);
  });
  expect(finalsExpected.size).toBe(RUNS);
  const startsExpected = await expectedIds(['run.started', 'agent.message'], 2 * RUNS);
  expect(startsExpected.size).toBe(2 * RUNS);
  const received = (receiver: Receiver) => new Set(receiver.received.map((r) => String(r.headers['webhook-id'])));
  const missing = (receiver: Receiver, expected: Set<string>) => [...expected].filter((id) => !received(receiver).has(id));
  await eventually(
    async () => (missing(finals, finalsExpected).length === 0 && missing(starts, startsExpected).length === 0 ? true : undefined),
    'every event at every subscribed endpoint',
    360_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${missing(finals, finalsExpected).length} ending and ${missing(starts, startsExpected).length} start/message events missing`);
  });

  // 4. No callback is missing.
  const wantCallback = new Set(accepted.filter((a) => a.callback).map((a) => a.runId));
  const calledBack = () => new Set(callbacks.received.map((r) => JSON.parse(r.body).run_key as string));
  await eventually(async () => ([...wantCallback].every((id) => calledBack().has(id)) ? true : undefined), 'every callback', 120_000).catch(
    (err: Error) => {
      throw new Error(`${err.message}: ${[...wantCallback].filter((id) => !calledBack().has(id)).length} of ${wantCallback.size} missing`);
    },
  );

  const duplicates = finals.received.length + starts.received.length - finalsExpected.size - startsExpected.size;
  count(task, {
    'chaos runs': RUNS,
    'worker kills': kills,
    'lost runs': RUNS - statuses.length,
    'double charges': doubleCharges.length,
    'deliveries checked': finalsExpected.size + startsExpected.size,
    'callbacks checked': wantCallback.size,
  });
  process.stdout.write(
    `worker kills: ${kills} kills, ${RUNS} runs (${accepted.filter((a) => a.via === 'sync').length} sync, ` +
      `${accepted.filter((a) => a.via === 'sync' && a.status === 202).length} of them answered 202 after the sync wait), ` +
      `${wantCallback.size} callbacks, ${duplicates} redelivered duplicates; load ${loadSeconds.toFixed(0)} s, ` +
      `all checked after ${((Date.now() - began) / 1000).toFixed(0)} s\n`,
  );
}, 900_000);

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}
