import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { storeEvent } from '../src/db/events.js';
import { dispatchEvent } from '../src/services/eventDispatch.js';
import { runOutcomeUpdate } from '../workflows/definitions.js';
import { closedLoop } from './lib/load.js';
import { stepTimes } from './lib/history.js';
import { cpuMsOf } from './lib/procs.js';
import { startStack, type Stack } from './lib/stack.js';
import { median, percentile } from './lib/stats.js';

/**
 * Where the time goes, read from outside the app: each workflow's history gives the queue
 * waits (scheduled → started) and run times (started → completed) of its workflow tasks and
 * activities; /proc gives CPU per process.
 *
 *   node --import tsx bench/profile.ts delivery [events] [concurrency]   event deliveries
 *   node --import tsx bench/profile.ts runs [count]                       agentRun vs the no-op workflow,
 *       one at a time, back to back and with a 300 ms pause between workflows
 *   node --import tsx bench/profile.ts cpu [runs] [concurrency] [rounds]  CPU per async run per process
 *       (api, worker, Temporal, Postgres) vs per no-op workflow, rounds interleaved; the bench's
 *       figure without the rest of the bench. BENCH_WORKER_NODE_ARGS (e.g. `--cpu-prof
 *       --cpu-prof-dir=/tmp/prof`) go to the worker's node command line.
 */
const mode = process.argv[2] ?? 'delivery';
const events = Number(process.argv[3] ?? 240);
const concurrency = Number(process.argv[4] ?? 16);

let closeStack: (() => Promise<void>) | undefined;
process.on('SIGINT', () => void (closeStack?.() ?? Promise.resolve()).finally(() => process.exit(130)));

const post = async (stack: Stack, path: string, key: string, body: unknown) =>
  (await fetch(`${stack.apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<any>;

try {
  const stack = await startStack({ forcePglite: false, retrySchedule: '1s', logLevel: 'info', log: () => undefined, register: (c) => (closeStack = c) });
  const org = await post(stack, '/v1/admin/orgs', stack.adminToken, { name: 'profile', credits: 1e6 });
  const agent = await post(stack, '/v1/agents', org.api_key.key, { name: 'a', provider: { kind: 'echo' } });
  if (mode === 'runs') await profileRuns(stack, org.api_key.key, agent.id, Number(process.argv[3] ?? 20));
  else if (mode === 'cpu') await profileCpu(stack, org.api_key.key, agent.id, { runs: Number(process.argv[3] ?? 200), concurrency: Number(process.argv[4] ?? 16), rounds: Number(process.argv[5] ?? 3) });
  else await profileDelivery(stack, { id: org.org.id, key: org.api_key.key }, agent.id);
} finally {
  await closeStack?.();
}

async function profileDelivery(stack: Stack, org: { id: string; key: string }, agentId: string) {
  const db = stack.db!;
  await post(stack, '/v1/endpoints', org.key, { url: `${stack.receiverUrl}/hook`, events: ['agent.message'] });
  const ids: string[] = [];
  const send = async (n: number, c: number) => {
    await fetch(`${stack.receiverUrl}/_reset?fail_every=0`, { method: 'POST' });
    const t0 = Date.now();
    await closedLoop(c, { amount: n }, async (i) => {
      const { event } = await storeEvent(db, { orgId: org.id, agentId, runId: null, type: 'agent.message', data: { i }, dedupeKey: `p:${randomUUID()}`, at: new Date() });
      await dispatchEvent({ db, temporal: stack.client, taskQueue: stack.taskQueue }, event);
      ids.push(event.id);
    });
    const dispatched = Date.now();
    while (((await (await fetch(`${stack.receiverUrl}/_count`)).json()) as { ok: number }).ok < n) await new Promise((r) => setTimeout(r, 50));
    return { dispatchS: (dispatched - t0) / 1000, totalS: (Date.now() - t0) / 1000 };
  };
  await send(20, 4); // warm-up
  ids.length = 0;
  const pids = { api: stack.pids.api, worker: stack.pids.worker, temporal: stack.pids.temporal };
  const backends = async () => (await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`.execute(db)).rows.map((r) => r.pid);
  const cpu = async () => ({ ...Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuMsOf(p)])), pg: (await backends()).reduce((a, p) => a + cpuMsOf(p), 0) });
  const before = await cpu();
  const started = performance.now();
  const timing = await send(events, concurrency);
  const wall = performance.now() - started;
  const after = await cpu();
  console.log(`${events} events, dispatch concurrency ${concurrency}: dispatched in ${timing.dispatchS.toFixed(1)} s, all delivered after ${timing.totalS.toFixed(1)} s (${(events / timing.totalS).toFixed(1)}/s)`);
  console.log('CPU ms per event:', Object.fromEntries(Object.keys(after).map((k) => [k, ((after[k as keyof typeof after] - before[k as keyof typeof before]) / events).toFixed(1)])), `(wall ${(wall / events).toFixed(1)} ms per event)`);

  // Per-step times from the histories of a sample of the workflows.
  const sample = ids.filter((_, i) => i % Math.max(1, Math.floor(ids.length / 60)) === 0);
  const { steps } = await stepTimes(stack.client, sample.map((id) => `event-${id}`));
  console.log(`per step over ${sample.length} workflows (ms): activity 1 = planEventDeliveries, activity 2 = deliverEvent`);
  for (const [k, v] of Object.entries(steps)) console.log(`  ${k.padEnd(28)} p50 ${median(v).toFixed(1).padStart(7)}  p90 ${percentile(v, 90).toFixed(1).padStart(7)}`);
}

async function profileRuns(stack: Stack, key: string, agentId: string, count: number) {
  const startRun = async () => {
    const response = await fetch(`${stack.apiUrl}/v1/agents/${agentId}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'profile' }),
    });
    const { run_id: runId } = (await response.json()) as { run_id: string };
    await stack.client.workflow.getHandle(`run-${runId}`).executeUpdate(runOutcomeUpdate);
    return `run-${runId}`;
  };
  const startNoop = async () => {
    const id = `noop-${randomUUID()}`;
    await stack.client.workflow.execute('benchNoop', { taskQueue: stack.noopTaskQueue, workflowId: id });
    return id;
  };
  for (const pauseMs of [0, 300]) {
    for (const [name, start] of [['agentRun', startRun], ['no-op', startNoop]] as const) {
      const ids: string[] = [];
      const wall: number[] = [];
      for (let i = 0; i < count + 3; i++) {
        const t0 = performance.now();
        const id = await start();
        if (i >= 3) {
          ids.push(id);
          wall.push(performance.now() - t0);
        }
        if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
      }
      await new Promise((r) => setTimeout(r, 500)); // let the last workflows close
      const { steps } = await stepTimes(stack.client, ids);
      console.log(`${name}, ${pauseMs ? `${pauseMs} ms pause between workflows` : 'back to back'}: client wall p50 ${median(wall).toFixed(1)} ms; per step p50 (ms):`);
      for (const [k, v] of Object.entries(steps)) console.log(`  ${k.padEnd(52)} ${median(v).toFixed(1).padStart(7)}`);
    }
  }
}

async function profileCpu(stack: Stack, key: string, agentId: string, o: { runs: number; concurrency: number; rounds: number }) {
  const db = stack.db!;
  const pids = { api: stack.pids.api, worker: stack.pids.worker, temporal: stack.pids.temporal, noopWorker: stack.pids.noopWorker };
  const backends = async () => (await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`.execute(db)).rows.map((r) => r.pid);
  const cpu = async () => ({ ...Object.fromEntries(Object.entries(pids).map(([k, p]) => [k, cpuMsOf(p)])), pg: (await backends()).reduce((a, p) => a + cpuMsOf(p), 0) }) as Record<string, number>;
  const trigger = async () => {
    const response = await fetch(`${stack.apiUrl}/v1/agents/${agentId}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'Hello from the benchmark' }),
    });
    if (response.status !== 202) throw new Error(`trigger answered ${response.status}`);
    return ((await response.json()) as { run_id: string }).run_id;
  };
  const ours = async (n: number) => {
    const { values: ids } = await closedLoop(o.concurrency, { amount: n }, trigger);
    for (;;) {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from runs where id = any(${ids}::uuid[]) and status in ('processing', 'queued', 'scheduled')`.execute(db);
      if (rows[0]!.n === 0) return ids.length;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const noop = async (n: number) =>
    (await closedLoop(o.concurrency, { amount: n }, () => stack.client.workflow.execute('benchNoop', { taskQueue: stack.noopTaskQueue, workflowId: `noop-${randomUUID()}` }))).values.length;
  await ours(20); // warm-up
  await noop(20);
  const sum: Record<string, Record<string, number>> = { run: {}, noop: {} };
  const count = { run: 0, noop: 0 };
  // The worker's CPU by thread name (main JS thread, workflow threads, Core's Tokio threads, GC …), async runs only.
  const threads = () => {
    const out: Record<string, number> = {};
    for (const tid of readdirSync(`/proc/${pids.worker}/task`)) {
      try {
        const name = readFileSync(`/proc/${pids.worker}/task/${tid}/comm`, 'utf8').trim().replace(/\d+$/, '#');
        const comm = name === 'node' ? `node:${tid === String(pids.worker) ? 'main' : tid}` : name;
        out[comm] = (out[comm] ?? 0) + cpuMsOf(Number(tid), `/proc/${pids.worker}/task/${tid}/stat`);
      } catch {
        // thread gone
      }
    }
    return out;
  };
  const byThread: Record<string, number> = {};
  for (let r = 0; r < o.rounds; r++) {
    for (const [arm, go] of (r % 2 ? [['noop', noop], ['run', ours]] : [['run', ours], ['noop', noop]]) as Array<['run' | 'noop', (n: number) => Promise<number>]>) {
      const before = await cpu();
      const threadsBefore = threads();
      count[arm] += await go(o.runs);
      const after = await cpu();
      if (arm === 'run') for (const [k, v] of Object.entries(threads())) byThread[k] = (byThread[k] ?? 0) + v - (threadsBefore[k] ?? 0);
      for (const k of Object.keys(after)) sum[arm]![k] = (sum[arm]![k] ?? 0) + after[k]! - before[k]!;
    }
  }
  const per = (arm: 'run' | 'noop', k: string) => sum[arm]![k]! / count[arm];
  const f = (x: number) => x.toFixed(1);
  console.log(`${count.run} async runs and ${count.noop} no-op workflows at concurrency ${o.concurrency}, ${o.rounds} rounds interleaved`);
  console.log(`CPU ms per async run: api ${f(per('run', 'api'))}, worker ${f(per('run', 'worker'))}, Temporal ${f(per('run', 'temporal'))}, Postgres ≈${f(per('run', 'pg'))}; worker + Temporal ${f(per('run', 'worker') + per('run', 'temporal'))}`);
  console.log(`CPU ms per no-op workflow: no-op worker ${f(per('noop', 'noopWorker'))}, Temporal ${f(per('noop', 'temporal'))}; worker + Temporal ${f(per('noop', 'noopWorker') + per('noop', 'temporal'))}`);
  console.log(`worker CPU ms per async run by thread: ${Object.entries(byThread).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${f(v / count.run)}`).join(', ')}`);
  console.log(`ratio (worker + Temporal): ${((per('run', 'worker') + per('run', 'temporal')) / (per('noop', 'noopWorker') + per('noop', 'temporal'))).toFixed(2)}×`);
}
