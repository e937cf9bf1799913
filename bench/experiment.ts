import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { storeEvent } from '../src/db/events.js';
import { dispatchEvent } from '../src/services/eventDispatch.js';
import { stepTimes } from './lib/history.js';
import { closedLoop } from './lib/load.js';
import { cpuMsOf, waitFor } from './lib/procs.js';
import { renderMarkdown, renderText, type Row } from './lib/report.js';
import { spawnInStack, startStack, type Stack } from './lib/stack.js';
import { fmt, median, percentile, ratio } from './lib/stats.js';

/**
 * `node --import tsx bench/experiment.ts [rounds]`: A/B of one candidate improvement on the
 * worst ratio of the benchmark (event delivery). Two extra workers on the same stack, each
 * on its own task queue, identical but for their workflow bundle: `control` (the production
 * workflows) and `localPlanning` (eventDelivery plans in a local activity, see
 * bench/experiments/eventDeliveryLocalPlanning.ts). Rounds alternate the order of the arms;
 * figures are medians. Writes bench/results/<timestamp>-experiment.json.
 */
const rounds = Number(process.argv[2] ?? 3);
const PACED = 20;
const LOADED = 240;
const CONCURRENCY = 16;
const arms = ['control', 'localPlanning'] as const;
type Arm = (typeof arms)[number];

const began = performance.now();
const log = (line: string) => process.stdout.write(`[${((performance.now() - began) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
let closeStack: (() => Promise<void>) | undefined;
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) process.exit(130);
    stopping = true;
    void (closeStack?.() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

interface ArmRound {
  pacedP50: number;
  pacedP99: number;
  rate: number;
  loadedP50: number;
  loadedP99: number;
  cpuPerEvent: number;
  workerCpuPerEvent: number;
  temporalCpuPerEvent: number;
}

async function main() {
  const stack: Stack = await startStack({ forcePglite: false, retrySchedule: '1s,1s,1s', logLevel: 'info', log, register: (c) => (closeStack = c) });
  if (!stack.db || !stack.workerEnv) throw new Error('the experiment needs PostgreSQL');
  const db = stack.db;
  const queues: Record<Arm, string> = { control: `${stack.taskQueue}-control`, localPlanning: `${stack.taskQueue}-local` };
  const workers = Object.fromEntries(
    arms.map((arm) => [arm, spawnInStack(`exp-${arm}`, 'bench/experiments/worker.ts', { ...stack.workerEnv, TEMPORAL_TASK_QUEUE: queues[arm], BENCH_WORKFLOWS: arm })]),
  ) as Record<Arm, ReturnType<typeof spawnInStack>>;
  for (const arm of arms) {
    await waitFor(`the ${arm} worker`, async () => (readFileSync(workers[arm].logFile, 'utf8').includes('experiment worker') ? true : undefined), 120_000, [workers[arm]]);
  }
  log(`stack up; workers: control on ${queues.control}, localPlanning on ${queues.localPlanning}`);

  const api = async (path: string, key: string, body: unknown) =>
    (await fetch(`${stack.apiUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<any>;
  const org = await api('/v1/admin/orgs', stack.adminToken, { name: 'experiment', credits: 1_000_000 });
  const key: string = org.api_key.key;
  const agent = await api('/v1/agents', key, { name: 'experiment', provider: { kind: 'echo' } });
  await api('/v1/endpoints', key, { url: `${stack.receiverUrl}/hook`, events: ['agent.message'], name: 'experiment' });

  const count = async () => ((await (await fetch(`${stack.receiverUrl}/_count`)).json()) as { ok: number }).ok;
  const arrived = async (n: number, pollMs: number) => {
    const deadline = Date.now() + 120_000;
    while ((await count()) < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, pollMs));
  };
  const backends = async () => (await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`.execute(db)).rows.map((r) => r.pid);

  /** Dispatches `n` events to the arm's queue, `c` at a time (or paced), and reads the receiver. */
  async function send(arm: Arm, n: number, c: number, paced: boolean, ids: string[]) {
    await fetch(`${stack.receiverUrl}/_reset?fail_every=0`, { method: 'POST' });
    const t0 = Date.now();
    await closedLoop(paced ? 1 : c, { amount: n }, async (i) => {
      const { event } = await storeEvent(db, { orgId: org.org.id, agentId: agent.id, runId: null, type: 'agent.message', data: { i }, dedupeKey: `exp:${randomUUID()}`, at: new Date() });
      await dispatchEvent({ db, temporal: stack.client, taskQueue: queues[arm] }, event);
      ids.push(event.id);
      if (paced) await arrived(i + 1, 5);
    });
    await arrived(n, 50);
    const hits = (await (await fetch(`${stack.receiverUrl}/_hits`)).json()) as Array<[string, number, number, 0 | 1]>;
    const latencies = hits.filter((h) => h[3]).map((h) => h[2] - h[1]);
    const last = Math.max(...hits.map((h) => h[2]));
    // Let the workflows close before the next measurement.
    await new Promise((r) => setTimeout(r, 500));
    return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), rate: latencies.length / ((last - t0) / 1000) };
  }

  for (const arm of arms) await send(arm, 20, 4, false, []); // warm-up
  const results: Record<Arm, ArmRound[]> = { control: [], localPlanning: [] };
  const ids: Record<Arm, string[]> = { control: [], localPlanning: [] };
  for (let r = 1; r <= rounds; r++) {
    for (const arm of r % 2 ? arms : [...arms].reverse()) {
      const paced = await send(arm, PACED, 1, true, ids[arm]);
      const pids = await backends();
      const before = { worker: cpuMsOf(workers[arm].pid), temporal: cpuMsOf(stack.pids.temporal), pg: pids.map(cpuMsOf) };
      const loaded = await send(arm, LOADED, CONCURRENCY, false, ids[arm]);
      const worker = cpuMsOf(workers[arm].pid) - before.worker;
      const temporal = cpuMsOf(stack.pids.temporal) - before.temporal;
      const pg = pids.reduce((a, pid, i) => a + Math.max(0, cpuMsOf(pid) - before.pg[i]!), 0);
      const round: ArmRound = {
        pacedP50: paced.p50,
        pacedP99: paced.p99,
        rate: loaded.rate,
        loadedP50: loaded.p50,
        loadedP99: loaded.p99,
        cpuPerEvent: (worker + temporal + pg) / LOADED,
        workerCpuPerEvent: worker / LOADED,
        temporalCpuPerEvent: temporal / LOADED,
      };
      results[arm].push(round);
      log(
        `[r${r}/${rounds}] ${arm.padEnd(13)} one at a time p50 ${fmt(round.pacedP50)} ms | ${LOADED} at c=${CONCURRENCY}: ${fmt(round.rate)}/s p50 ${fmt(round.loadedP50)} ms | ` +
          `CPU/event ${fmt(round.cpuPerEvent)} ms (worker ${fmt(round.workerCpuPerEvent)}, Temporal ${fmt(round.temporalCpuPerEvent)})`,
      );
    }
  }

  const steps = Object.fromEntries(
    await Promise.all(arms.map(async (arm) => [arm, await stepTimes(stack.client, ids[arm].filter((_, i) => i % 10 === 0).map((id) => `event-${id}`))] as const)),
  ) as Record<Arm, Awaited<ReturnType<typeof stepTimes>>>;
  const med = (arm: Arm, pick: (x: ArmRound) => number) => median(results[arm].map(pick));
  const rows: Row[] = [];
  const add = (figure: string, pick: (x: ArmRound) => number, unit: string, better: 'higher' | 'lower') =>
    rows.push({ section: 'Delivery: planEventDeliveries as a local activity (after) vs production (before)', figure, ours: med('localPlanning', pick), unit, baselineName: 'before (production)', baseline: med('control', pick), ratio: ratio(med('localPlanning', pick), med('control', pick)), better });
  add(`one event at a time: stored → hit p50`, (x) => x.pacedP50, ' ms', 'lower');
  add(`one event at a time: stored → hit p99`, (x) => x.pacedP99, ' ms', 'lower');
  add(`${LOADED} events, ${CONCURRENCY} at a time: delivered/s`, (x) => x.rate, '/s', 'higher');
  add(`${LOADED} events, ${CONCURRENCY} at a time: stored → hit p50`, (x) => x.loadedP50, ' ms', 'lower');
  add(`${LOADED} events, ${CONCURRENCY} at a time: stored → hit p99`, (x) => x.loadedP99, ' ms', 'lower');
  add('CPU per event, worker + Temporal + Postgres≈', (x) => x.cpuPerEvent, ' ms', 'lower');
  add('CPU per event, worker', (x) => x.workerCpuPerEvent, ' ms', 'lower');
  add('CPU per event, Temporal server', (x) => x.temporalCpuPerEvent, ' ms', 'lower');
  rows.push({
    section: rows[0]!.section,
    figure: 'history events per eventDelivery',
    ours: median(steps.localPlanning.events),
    unit: '',
    baselineName: 'before (production)',
    baseline: median(steps.control.events),
    ratio: ratio(median(steps.localPlanning.events), median(steps.control.events)),
    better: 'lower',
  });
  process.stdout.write(`\n${renderText(rows)}\n\n`);
  for (const arm of arms) {
    process.stdout.write(`${arm}: per step, one-at-a-time and loaded events mixed (ms, p50)\n`);
    for (const [k, v] of Object.entries(steps[arm].steps)) process.stdout.write(`  ${k.padEnd(42)} ${fmt(median(v)).padStart(8)}\n`);
  }
  const stamp = new Date().toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  mkdirSync(resolve('bench/results'), { recursive: true });
  const file = join(resolve('bench/results'), `${stamp}-experiment-local-planning.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ rounds, paced: PACED, loaded: LOADED, concurrency: CONCURRENCY, loadAverageAtEnd: loadavg(), table: rows, markdown: renderMarkdown(rows), raw: results, steps: Object.fromEntries(arms.map((a) => [a, Object.fromEntries(Object.entries(steps[a].steps).map(([k, v]) => [k, median(v)]))])) }, null, 2)}\n`,
  );
  log(`written ${file}`);
}

try {
  await main();
} catch (err) {
  log(`experiment failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
} finally {
  stopping = true;
  await closeStack?.();
}
