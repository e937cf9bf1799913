import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { storeEvent } from '../src/db/events.js';
import { dispatchEvent } from '../src/services/eventDispatch.js';
import { runOutcomeUpdate } from '../workflows/definitions.js';
import { closedLoop, httpLoad, type HttpLoadResult } from './lib/load.js';
import { databaseFootprint, perRunDelta, type DatabaseFootprint } from './lib/footprint.js';
import { cpuMsOf, memoryOf, RssSampler } from './lib/procs.js';
import { renderMarkdown, renderText, updateBenchmarksMd, type Row } from './lib/report.js';
import { startStack, type Stack } from './lib/stack.js';
import { fmt, median, percentile, ratio, summarize } from './lib/stats.js';

// `--scale`: the data-at-scale section (bench/scale.ts), its own stack and report.
if (process.argv.includes('--scale')) {
  await import('./scale.js');
  process.exit(process.exitCode ?? 0);
}

/**
 * `npm run bench [-- --quick] [-- --pglite] [-- --no-md]` (`-- --scale`: bench/scale.ts): starts its own stack (API and
 * worker as separate processes on a fresh Postgres database, the Temporal dev server) plus
 * the baselines, measures, prints every figure next to its baseline and writes
 * bench/results/<timestamp>.json and (full runs) the table in BENCHMARKS.md. It reports;
 * it never fails because the machine is slow.
 */
const argv = process.argv.slice(2);
const args = new Set(argv);
const quick = args.has('--quick');
/** `--soak [--soak-seconds N]`: only the soak (default 600 s) at half the measured capacity. */
const soakMode = args.has('--soak');
const soakSeconds = Number(argv[argv.indexOf('--soak-seconds') + 1] ?? 600) || 600;
const profile = quick
  ? { rounds: 2, levels: [1, 16], syncLevels: [1, 16], temporalS: 1.5, koaS: 1, syncS: 1.5, rawPostS: 1, ingest: { 1: 12, 16: 64 } as Record<number, number>, wait: { 1: 6, 16: 32 } as Record<number, number>, deliveries: 64, pacedDeliveries: 8 }
  : { rounds: 3, levels: [1, 16, 64], syncLevels: [1, 16], temporalS: 3, koaS: 2, syncS: 3, rawPostS: 2, ingest: { 1: 30, 16: 160, 64: 384 } as Record<number, number>, wait: { 1: 16, 16: 96 } as Record<number, number>, deliveries: 240, pacedDeliveries: 20 };
const DELIVERY_CONCURRENCY = 16;
const FAIL_EVERY = 10;
/** rate_limit_per_second of the rate-limited delivery round. */
const RATE_LIMIT = 20;
const RETRY_SCHEDULE = '1s,1s,1s';
const SETTLE_TIMEOUT_MS = 120_000;

const began = performance.now();
const log = (line: string) => process.stdout.write(`[${((performance.now() - began) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);
const notes: string[] = [];

// ---- cleanup on every exit path, Ctrl-C included -------------------------------------------
let stack: Stack | undefined;
let closeStack: (() => Promise<void>) | undefined;
let cleanup: Promise<void> | undefined;
let interrupted = false;
/** Cleans up once; a failure caused by the interrupt's own cleanup waits for it instead of cutting it short. */
async function shutdown(code: number): Promise<never> {
  cleanup ??= (closeStack?.() ?? Promise.resolve()).catch((err: unknown) => {
    log(`cleanup failed: ${String(err)}`);
  });
  await cleanup;
  process.exit(interrupted ? 130 : code);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130); // second Ctrl-C: the exit hook kills the children
    interrupted = true;
    log(`${signal}: stopping the bench stack …`);
    void shutdown(130);
  });
}

// ---- small API client ---------------------------------------------------------------------------
interface ApiAnswer {
  status: number;
  body: any;
}
async function api(path: string, init: { key?: string; body?: unknown; method?: string } = {}): Promise<ApiAnswer> {
  const headers: Record<string, string> = {};
  if (init.key) headers.authorization = `Bearer ${init.key}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${stack!.apiUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
async function must(path: string, init: { key?: string; body?: unknown }, status: number): Promise<any> {
  const answer = await api(path, init);
  if (answer.status !== status) throw new Error(`${path}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}
async function newOrg(name: string): Promise<{ id: string; key: string }> {
  const body = await must('/v1/admin/orgs', { key: stack!.adminToken, body: { name, credits: 10_000_000 } }, 201);
  return { id: body.org.id, key: body.api_key.key };
}
async function newAgent(key: string, name: string): Promise<string> {
  return (await must('/v1/agents', { key, body: { name, provider: { kind: 'echo' } } }, 201)).id;
}

// ---- waiting for runs to finish -----------------------------------------------------------------
/** Waits until `expected` runs of the agent exist and none is processing; when the last one ended. */
async function runsSettled(agentId: string, key: string, expected: number): Promise<{ doneAt: number; notCompleted: number }> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    if (stack!.db) {
      const row = await sql<{ total: string; pending: string; other: string; last: Date | null }>`
        select count(*) as total,
               count(*) filter (where status = 'processing') as pending,
               count(*) filter (where status not in ('processing', 'completed')) as other,
               max(completed_at) as last
        from runs where agent_id = ${agentId}`.execute(stack!.db);
      const r = row.rows[0]!;
      if (Number(r.total) >= expected && Number(r.pending) === 0) return { doneAt: r.last ? r.last.getTime() : Date.now(), notCompleted: Number(r.other) };
    } else {
      const count = async (query: string) => (await must(`/v1/runs?agent_id=${agentId}&limit=1${query}`, { key }, 200)).pagination.total as number;
      const [total, pending, completed] = [await count(''), await count('&status=processing'), await count('&status=completed')];
      if (total >= expected && pending === 0) return { doneAt: Date.now(), notCompleted: total - completed };
    }
    if (Date.now() > deadline) {
      notes.push(`runs of agent ${agentId} did not all finish within ${SETTLE_TIMEOUT_MS / 1000} s`);
      return { doneAt: Number.NaN, notCompleted: Number.NaN };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function describeStatuses(result: HttpLoadResult, okStatus: number): string {
  const others = Object.entries(result.statuses).filter(([s]) => Number(s) !== okStatus);
  return others.length || result.errors ? ` (other answers: ${others.map(([s, n]) => `${n}×${s}`).join(', ') || 'none'}; errors ${result.errors})` : '';
}

// ---- measurements -----------------------------------------------------------------------------------
interface Figures {
  rate: number;
  p50: number;
  p99: number;
}

async function rawTemporal(c: number, limit: { durationMs?: number; amount?: number }, keep?: string[]): Promise<Figures & { count: number }> {
  const result = await closedLoop(c, limit, async () => {
    const workflowId = `noop-${randomUUID()}`;
    await stack!.client.workflow.execute('benchNoop', { taskQueue: stack!.noopTaskQueue, workflowId, args: [] });
    if (keep && keep.length < 5) keep.push(workflowId);
  });
  if (result.errors) notes.push(`raw Temporal c=${c}: ${result.errors} errors (${result.firstError})`);
  return { rate: result.rate, p50: result.p50, p99: result.p99, count: result.n };
}

/**
 * The ingest baseline: a bare client starting the no-op workflow (no waiting for it to run) in
 * a closed loop at concurrency c — the least an accepted run costs. The started workflows are
 * then left to finish before anything else is measured.
 */
async function rawTemporalStarts(c: number, amount: number, held?: Held): Promise<Figures> {
  const started: string[] = [];
  const result = await holding(held, () =>
    closedLoop(c, { amount }, async () => {
      const workflowId = `noop-start-${randomUUID()}`;
      await stack!.client.workflow.start('benchNoop', { taskQueue: stack!.noopTaskQueue, workflowId, args: [] });
      started.push(workflowId);
    }),
  );
  if (result.errors) notes.push(`raw Temporal starts c=${c}: ${result.errors} errors (${result.firstError})`);
  if (held) held.cpu.count += started.length;
  for (const id of started) await stack!.client.workflow.getHandle(id).result().catch(() => undefined);
  return { rate: result.rate, p50: result.p50, p99: result.p99 };
}

/**
 * Runs `fn` with the process `pid` (a worker) held still (SIGSTOP), then lets it go on
 * (SIGCONT): accepting measured without that worker running what was accepted. Its open polls
 * get their tasks after it resumes (or, past the task timeout, again); nothing is lost.
 */
async function holding<T>(held: Held | undefined, fn: () => Promise<T>): Promise<T> {
  if (held === undefined) return fn();
  process.kill(held.pid, 'SIGSTOP');
  const before = await cpuSnapshot();
  const clientBefore = process.cpuUsage();
  try {
    return await fn();
  } finally {
    const client = process.cpuUsage(clientBefore);
    addCpu(held.cpu, { ...cpuUse(before, await cpuSnapshot()), client: (client.user + client.system) / 1000 });
    process.kill(held.pid, 'SIGCONT');
  }
}

/** A worker held still while its side is measured, and the CPU the other processes (and this client) used meanwhile. */
interface Held {
  pid: number;
  cpu: CpuUse & { client: number; count: number };
}

const triggerBody = JSON.stringify({ message: 'Hello from the benchmark' });

async function rawHttp(c: number, durationS: number): Promise<Figures> {
  const result = await httpLoad({ url: `${stack!.koaUrl}/v1/agents/x/runs`, connections: c, durationS, headers: { authorization: 'Bearer awk_bench' }, body: triggerBody, okStatus: 202 });
  return { rate: result.rate, p50: result.p50, p99: result.p99 };
}

interface IngestFigures extends Figures {
  accepted: number;
  completeS: number;
  drainS: number;
  completionRate: number;
}

async function ingestion(org: { key: string }, c: number, amount: number, label: string, keepRunIds?: string[], held?: Held): Promise<IngestFigures> {
  const agentId = await newAgent(org.key, `ingest ${label}`);
  const t0 = Date.now();
  const load = await holding(held, () =>
    httpLoad({
      url: `${stack!.apiUrl}/v1/agents/${agentId}/runs`,
      connections: c,
      amount,
      headers: { authorization: `Bearer ${org.key}` },
      body: triggerBody,
      okStatus: 202,
    }),
  );
  const loadEnd = Date.now();
  if (held) held.cpu.count += load.ok;
  const other = describeStatuses(load, 202);
  if (other) notes.push(`async trigger ${label}:${other}`);
  const settled = await runsSettled(agentId, org.key, load.ok);
  if (settled.notCompleted) notes.push(`async trigger ${label}: ${settled.notCompleted} runs did not complete`);
  if (keepRunIds && stack!.db && keepRunIds.length < 5) {
    const ids = await sql<{ id: string }>`select id from runs where agent_id = ${agentId} and status = 'completed' limit ${5 - keepRunIds.length}`.execute(stack!.db);
    keepRunIds.push(...ids.rows.map((r) => r.id));
  }
  const completeS = (settled.doneAt - t0) / 1000;
  return { rate: load.rate, p50: load.p50, p99: load.p99, accepted: load.ok, completeS, drainS: (settled.doneAt - loadEnd) / 1000, completionRate: load.ok / completeS };
}

async function syncWebhook(org: { key: string }, c: number, durationS: number, label: string): Promise<Figures & { calls: number }> {
  const agentId = await newAgent(org.key, `sync ${label}`);
  const hook = await must(`/v1/agents/${agentId}/webhooks`, { key: org.key, body: { name: `bench ${label}`, rate_limit_per_minute: 10_000 } }, 201);
  const load = await httpLoad({ url: `${stack!.apiUrl}/api/webhook/${hook.token}`, connections: c, durationS, body: triggerBody, okStatus: 200 });
  const other = describeStatuses(load, 200);
  if (other) notes.push(`sync webhook ${label}:${other}`);
  await runsSettled(agentId, org.key, load.ok);
  return { rate: load.rate, p50: load.p50, p99: load.p99, calls: load.ok };
}

interface WaitFigures extends Figures {
  waitP50: number;
  waitP99: number;
}

/** (i) the app's way (a workflow update that resolves once the reply is stored) vs (ii) handle.result(). */
async function syncWait(org: { key: string }, mode: 'update' | 'result', c: number, amount: number, label: string, keepRunIds: string[]): Promise<WaitFigures> {
  const agentId = await newAgent(org.key, `wait ${mode} ${label}`);
  const result = await closedLoop(c, { amount }, async () => {
    const response = await fetch(`${stack!.apiUrl}/v1/agents/${agentId}/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${org.key}`, 'content-type': 'application/json' },
      body: triggerBody,
    });
    const body = (await response.json()) as { run_id: string };
    if (response.status !== 202) throw new Error(`trigger answered ${response.status}`);
    const accepted = performance.now();
    const handle = stack!.client.workflow.getHandle(`run-${body.run_id}`);
    if (mode === 'update') await handle.executeUpdate(runOutcomeUpdate);
    else await handle.result();
    if (keepRunIds.length < 5) keepRunIds.push(body.run_id);
    return performance.now() - accepted;
  });
  if (result.errors) notes.push(`sync wait (${mode}) ${label}: ${result.errors} errors (${result.firstError})`);
  await runsSettled(agentId, org.key, amount - result.errors);
  const wait = summarize(result.values);
  return { rate: result.rate, p50: result.p50, p99: result.p99, waitP50: wait.p50, waitP99: wait.p99 };
}

async function receiverControl(path: string): Promise<any> {
  const response = await fetch(`${stack!.receiverUrl}${path}`, { method: path.startsWith('/_reset') ? 'POST' : 'GET' });
  return response.status === 204 ? undefined : response.json();
}

const sampleDelivery = JSON.stringify({
  id: randomUUID(),
  type: 'agent.message',
  timestamp: new Date().toISOString(),
  webhook: { id: randomUUID(), name: 'bench' },
  data: { content: 'Hello from the benchmark' },
});

async function rawPost(c: number, durationS: number): Promise<Figures> {
  await receiverControl('/_reset?fail_every=0');
  const result = await httpLoad({ url: `${stack!.receiverUrl}/hook`, connections: c, durationS, body: sampleDelivery, okStatus: 200 });
  return { rate: result.rate, p50: result.p50, p99: result.p99 };
}

interface DeliveryFigures extends Figures {
  events: number;
  attempts: number;
  /** The most first deliveries the receiver got within any 1 s window. */
  busiest1s: number;
}

/** The most timestamps (ms) within any window of `windowMs`. */
function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((x, y) => x - y);
  let best = 0;
  for (let start = 0, end = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end]! < sorted[start]! + windowMs) end++;
    best = Math.max(best, end - start);
  }
  return best;
}

/**
 * Delivery alone: the bench stores events and starts their delivery workflows with the
 * production functions (storeEvent + dispatchEvent, what the worker does after each run step),
 * to one endpoint on the local receiver — `concurrency` at a time, or `paced`: one at a time,
 * each once the previous one arrived. Latency = receiver hit − events.created_at (the body's
 * timestamp); rate = events ÷ (last success − start). Without a database connection (PGlite)
 * the events come from runs (run.completed).
 */
async function delivery(
  org: { id: string; key: string },
  agentId: string,
  endpointId: string,
  load: { events: number; concurrency: number; failEvery: number; paced?: boolean },
  keepEventIds: string[],
): Promise<DeliveryFigures> {
  await receiverControl(`/_reset?fail_every=${load.failEvery}`);
  const t0 = Date.now();
  let events = load.events;
  const arrived = async (n: number) => {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while ((await receiverControl('/_count')).ok < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, load.paced ? 5 : 100));
  };
  const concurrency = load.paced ? 1 : load.concurrency;
  if (stack!.db) {
    const db = stack!.db;
    await closedLoop(concurrency, { amount: events }, async (i) => {
      const stored = await storeEvent(db, {
        orgId: org.id,
        agentId,
        runId: null,
        type: 'agent.message',
        data: { content: `bench event ${i}` },
        dedupeKey: `bench:${randomUUID()}`,
        at: new Date(),
      });
      await dispatchEvent({ db, temporal: stack!.client, taskQueue: stack!.taskQueue }, stored.event);
      if (load.paced) await arrived(i + 1);
    });
  } else {
    const trigger = { url: `${stack!.apiUrl}/v1/agents/${agentId}/runs`, headers: { authorization: `Bearer ${org.key}` }, body: triggerBody, okStatus: 202 };
    if (load.paced) {
      for (let i = 0; i < events; i++) {
        await httpLoad({ ...trigger, connections: 1, amount: 1 });
        await arrived(i + 1);
      }
    } else {
      events = (await httpLoad({ ...trigger, connections: concurrency, amount: events })).ok;
    }
  }
  await arrived(events);
  if (stack!.db) {
    // Let the last attempts be recorded before the next round starts.
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const pending = await sql<{ n: string }>`select count(*) as n from deliveries where endpoint_id = ${endpointId} and status = 'pending'`.execute(stack!.db);
      if (Number(pending.rows[0]!.n) === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const hits = (await receiverControl('/_hits')) as Array<[string, number, number, 0 | 1]>;
  const firstOk = new Map<string, { storedAt: number; at: number }>();
  for (const [id, storedAt, at, ok] of hits) if (ok && !firstOk.has(id)) firstOk.set(id, { storedAt, at });
  if (firstOk.size < events) notes.push(`delivery (fail every ${load.failEvery}): only ${firstOk.size} of ${events} events delivered in time`);
  for (const id of firstOk.keys()) if (keepEventIds.length < 5) keepEventIds.push(id);
  const latencies = [...firstOk.values()].map((h) => h.at - h.storedAt);
  const lastAt = Math.max(...[...firstOk.values()].map((h) => h.at));
  const busiest1s = busiestWindow([...firstOk.values()].map((h) => h.at), 1_000);
  return { rate: firstOk.size / ((lastAt - t0) / 1000), p50: percentile(latencies, 50), p99: percentile(latencies, 99), events: firstOk.size, attempts: hits.length, busiest1s };
}

// ---- footprint ------------------------------------------------------------------------------------------
/** CPU ms used so far by each process of the stack, and by each Postgres backend on the bench database. */
type CpuSnapshot = Record<string, number>;
async function cpuSnapshot(): Promise<CpuSnapshot> {
  const snap: CpuSnapshot = {};
  for (const [name, pid] of Object.entries(stack!.pids)) snap[name] = cpuMsOf(pid);
  if (stack!.db) {
    const backends = await sql<{ pid: number }>`select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()`.execute(stack!.db);
    for (const { pid } of backends.rows) snap[`pg:${pid}`] = cpuMsOf(pid);
  }
  return snap;
}

interface CpuUse {
  api: number;
  worker: number;
  temporal: number;
  noopWorker: number;
  /** Backends present before and after (pooled connections); approximate. */
  postgres: number;
}

function cpuUse(before: CpuSnapshot, after: CpuSnapshot): CpuUse {
  const d = (k: string) => Math.max(0, (after[k] ?? 0) - (before[k] ?? 0));
  const postgres = Object.keys(after)
    .filter((k) => k.startsWith('pg:') && k in before)
    .reduce((a, k) => a + d(k), 0);
  // In the PGlite fallback the API and the worker are one process: count it once.
  return { api: d('api'), worker: stack!.pids.worker === stack!.pids.api ? 0 : d('worker'), temporal: d('temporal'), noopWorker: d('noopWorker'), postgres };
}

function addCpu<T extends CpuUse>(total: T, more: Partial<T>): void {
  for (const k of Object.keys(more) as Array<keyof T & string>) (total[k] as number) += more[k] as number;
}

/** The database's footprint (bench/lib/footprint.ts, the measure test/integration/runFootprint.test.ts takes too); none on PGlite. */
async function tableSizes(): Promise<DatabaseFootprint | undefined> {
  return stack!.db ? databaseFootprint(stack!.db) : undefined;
}

async function historyOf(workflowIds: string[]): Promise<{ bytes: number; events: number }> {
  const described = await Promise.all(workflowIds.map((id) => stack!.client.workflow.getHandle(id).describe().catch(() => undefined)));
  const ok = described.filter((d) => d !== undefined);
  return { bytes: median(ok.map((d) => d.historySize ?? Number.NaN)), events: median(ok.map((d) => d.historyLength)) };
}

// ---- the run ------------------------------------------------------------------------------------------------
/** The measured code: HEAD, and whether the app's folders differ from it. */
function codeVersion(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'workflows', 'activities'], { encoding: 'utf8' }).trim();
    return dirty ? `${head} + uncommitted changes in src/workflows/activities` : head;
  } catch {
    return 'unknown (no git)';
  }
}

// ---- soak -------------------------------------------------------------------------------------------------
/**
 * `--soak`: async triggers at half the measured capacity (runs completed per second at c=16)
 * for `soakSeconds`, open loop (one request every 1/rate s whatever the answers do). Reports per
 * process whether RSS stays within ±10 % of its value after warm-up (the first fifth), the p99 of
 * accept and of trigger → completed per tenth of the run (drift = last ÷ first), and whether every
 * accepted run completed (nothing lost).
 */
async function soak(org: { key: string }): Promise<Record<string, unknown>> {
  const capacity = await ingestion(org, 16, 96, 'soak capacity');
  const rate = capacity.completionRate / 2;
  log(`[soak] capacity ${fmt(capacity.completionRate)} runs/s at c=16 → ${fmt(rate)} triggers/s for ${soakSeconds} s`);
  const agentId = await newAgent(org.key, 'soak');
  const t0 = Date.now();
  const accepts: Array<{ at: number; ms: number; status: number }> = [];
  const rss: Array<{ at: number } & Record<string, number>> = [];
  const sampler = setInterval(() => {
    const sample: { at: number } & Record<string, number> = { at: Date.now() - t0 };
    for (const [name, pid] of Object.entries(stack!.pids)) sample[name] = memoryOf(pid)?.rss ?? Number.NaN;
    rss.push(sample);
  }, 5_000);
  const inFlight = new Set<Promise<void>>();
  const fire = async () => {
    const begun = performance.now();
    try {
      const response = await fetch(`${stack!.apiUrl}/v1/agents/${agentId}/runs`, { method: 'POST', headers: { authorization: `Bearer ${org.key}`, 'content-type': 'application/json' }, body: triggerBody });
      await response.arrayBuffer();
      accepts.push({ at: Date.now() - t0, ms: performance.now() - begun, status: response.status });
    } catch {
      accepts.push({ at: Date.now() - t0, ms: performance.now() - begun, status: 0 });
    }
  };
  for (let i = 0; ; i++) {
    const due = t0 + (i * 1000) / rate;
    if (due - t0 > soakSeconds * 1000) break;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    const p = fire().finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (i % 100 === 0) log(`[soak] ${Math.round((Date.now() - t0) / 1000)} s: ${accepts.length} answered`);
  }
  await Promise.all(inFlight);
  clearInterval(sampler);
  const accepted = accepts.filter((a) => a.status === 202).length;
  const settled = await runsSettled(agentId, org.key, accepted);
  const windows = 10;
  const span = (soakSeconds * 1000) / windows;
  const acceptP99 = Array.from({ length: windows }, (_, w) => percentile(accepts.filter((a) => a.at >= w * span && a.at < (w + 1) * span).map((a) => a.ms), 99));
  let runP99: number[] = [];
  let completed = Number.NaN;
  if (stack!.db) {
    const rows = await sql<{ created: Date; done: Date | null; status: string }>`select created_at as created, completed_at as done, status from runs where agent_id = ${agentId}`.execute(stack!.db);
    completed = rows.rows.filter((r) => r.status === 'completed').length;
    runP99 = Array.from({ length: windows }, (_, w) =>
      percentile(
        rows.rows.filter((r) => r.done && r.created.getTime() - t0 >= w * span && r.created.getTime() - t0 < (w + 1) * span).map((r) => r.done!.getTime() - r.created.getTime()),
        99,
      ),
    );
  }
  const warm = rss.filter((x) => x.at >= (soakSeconds * 1000) / 5);
  const flatness = Object.fromEntries(
    Object.keys(stack!.pids).map((name) => {
      const values = warm.map((x) => x[name]!).filter((v) => Number.isFinite(v));
      const first = values[0] ?? Number.NaN;
      const max = Math.max(...values);
      const min = Math.min(...values);
      const last = values[values.length - 1] ?? Number.NaN;
      return [name, { afterWarmUpMiB: first / 2 ** 20, minMiB: min / 2 ** 20, maxMiB: max / 2 ** 20, lastMiB: last / 2 ** 20, flatWithin10pc: max <= first * 1.1 && min >= first * 0.9 }];
    }),
  );
  const report = {
    seconds: soakSeconds,
    capacityRunsPerS: capacity.completionRate,
    triggersPerS: rate,
    sent: accepts.length,
    accepted,
    otherAnswers: accepts.length - accepted,
    completed,
    notCompleted: settled.notCompleted,
    nothingLost: Number.isFinite(completed) ? completed === accepted && settled.notCompleted === 0 : settled.notCompleted === 0,
    acceptP99PerWindowMs: acceptP99,
    acceptP99Drift: acceptP99[windows - 1]! / acceptP99[0]!,
    runP99PerWindowMs: runP99,
    runP99Drift: runP99.length ? runP99[windows - 1]! / runP99[0]! : Number.NaN,
    rssFlatness: flatness,
    rssSamples: rss,
  };
  log(`[soak] sent ${report.sent}, accepted ${accepted}, completed ${completed} (nothing lost: ${report.nothingLost})`);
  log(`[soak] accept p99 per tenth (ms): ${acceptP99.map((v) => fmt(v)).join(' ')} (drift ${fmt(report.acceptP99Drift)}×)`);
  log(`[soak] trigger → completed p99 per tenth (ms): ${runP99.map((v) => fmt(v)).join(' ')} (drift ${fmt(report.runP99Drift)}×)`);
  for (const [name, f] of Object.entries(flatness)) log(`[soak] RSS ${name}: ${fmt(f.afterWarmUpMiB)} MiB after warm-up, ${fmt(f.minMiB)}–${fmt(f.maxMiB)} MiB after, ${fmt(f.lastMiB)} at the end: ${f.flatWithin10pc ? 'flat within ±10 %' : 'NOT flat'}`);
  return report;
}

async function main() {
  const startedAt = new Date();
  const machine = {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    code: codeVersion(),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
  log(`Agent Webhooks benchmark (${quick ? 'quick' : 'full'}, code ${machine.code}): ${machine.nproc} CPUs, ${machine.memoryGiB} GiB, Node ${machine.node}, load average ${machine.loadAverageAtStart.join(' ')}`);

  stack = await startStack({ forcePglite: args.has('--pglite'), retrySchedule: RETRY_SCHEDULE, logLevel: 'info', log, register: (close) => (closeStack = close) });
  notes.push(...stack.notes);
  for (const note of stack.notes) log(`NOTE: ${note}`);
  log(`stack up: ${stack.mode === 'postgres' ? `api and worker as separate processes, compiled (dist/), NODE_OPTIONS=${stack.nodeOptions}` : 'single dev process'}; ${stack.databaseLabel}; ${stack.versions.temporal}`);
  const sampler = new RssSampler(stack.pids);
  sampler.start();
  const temporalIdle = memoryOf(stack.pids.temporal);
  const zeroCpu = (): CpuUse => ({ api: 0, worker: 0, temporal: 0, noopWorker: 0, postgres: 0 });
  const cpuIngest = zeroCpu();
  const cpuNoop = zeroCpu();
  let noopWorkflows = 0;

  const ingestOrg = await newOrg('bench ingestion');
  if (soakMode) {
    await ingestion(ingestOrg, 4, 20, 'warm-up');
    const report = await soak(ingestOrg);
    const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
    mkdirSync(resolve('bench/results'), { recursive: true });
    const file = join(resolve('bench/results'), `${stamp}-soak.json`);
    writeFileSync(file, `${JSON.stringify({ startedAt: startedAt.toISOString(), machine: { ...machine, loadAverageAtEnd: loadavg() }, versions: { node: process.version, ...stack.versions }, notes, soak: report }, null, 2)}\n`);
    log(`results written to ${file}`);
    return;
  }
  const syncOrg = await newOrg('bench sync');
  const deliveryOrg = await newOrg('bench delivery');
  const deliveryAgent = await newAgent(deliveryOrg.key, 'bench delivery');
  const endpoint = await must('/v1/endpoints', { key: deliveryOrg.key, body: { url: `${stack.receiverUrl}/hook`, events: [stack.db ? 'agent.message' : 'run.completed'], name: 'bench receiver' } }, 201);
  // A receiver protected by rate_limit_per_second (its own org, so the other rounds never reach it).
  const limitedOrg = await newOrg('bench rate-limited delivery');
  const limitedAgent = await newAgent(limitedOrg.key, 'bench rate-limited delivery');
  const limitedEndpoint = await must(
    '/v1/endpoints',
    { key: limitedOrg.key, body: { url: `${stack.receiverUrl}/hook`, events: [stack.db ? 'agent.message' : 'run.completed'], name: 'bench limited receiver', rate_limit_per_second: RATE_LIMIT } },
    201,
  );

  // Warm-up: connections, JIT, the workers' first workflow tasks. Not measured.
  log('warm-up …');
  await rawTemporal(4, { amount: 20 });
  await rawHttp(4, 0.5);
  await rawPost(4, 0.5);
  await ingestion(ingestOrg, 4, 20, 'warm-up');
  await syncWebhook(syncOrg, 2, 0.5, 'warm-up');
  await syncWait(syncOrg, 'update', 2, 4, 'warm-up', []);
  await syncWait(syncOrg, 'result', 2, 4, 'warm-up', []);
  await delivery(deliveryOrg, deliveryAgent, endpoint.id, { events: 10, concurrency: 4, failEvery: 0 }, []);

  const R = profile.rounds;
  const per = <T>() => Object.fromEntries(profile.levels.map((c) => [c, [] as T[]])) as Record<number, T[]>;

  // A. Async trigger ingestion vs raw HTTP, round by round (interleaved so drift hits both).
  const koaRounds = per<Figures>();
  const startRounds = per<Figures>();
  const ingestRounds = per<IngestFigures>();
  const asyncRunIds: string[] = [];
  const dbBefore = await tableSizes();
  for (let r = 1; r <= R; r++) {
    for (const c of profile.levels) {
      const koa = await rawHttp(c, profile.koaS);
      koaRounds[c]!.push(koa);
      const starts = await rawTemporalStarts(c, profile.ingest[c]!);
      startRounds[c]!.push(starts);
      const cpuBefore = await cpuSnapshot();
      const ours = await ingestion(ingestOrg, c, profile.ingest[c]!, `c=${c} r${r}`, asyncRunIds);
      addCpu(cpuIngest, cpuUse(cpuBefore, await cpuSnapshot()));
      ingestRounds[c]!.push(ours);
      log(`[A r${r}/${R} c=${c}] raw Koa ${fmt(koa.rate)}/s p50 ${fmt(koa.p50)} ms | raw Temporal starts ${fmt(starts.rate)}/s | trigger ${fmt(ours.rate)} 202/s p50 ${fmt(ours.p50)} ms p99 ${fmt(ours.p99)} ms; ${ours.accepted} runs all completed after ${fmt(ours.completeS)} s (${fmt(ours.completionRate)} runs/s)`);
    }
  }
  const dbAfter = await tableSizes();

  // A'. The same, with what is accepted not run meanwhile: on two cores the runs executing
  // during the load take CPU from accepting, on both sides. Each side's worker is held still
  // while its side is measured (separate processes only; in PGlite mode API and worker are one).
  const heldStartRounds = per<Figures>();
  const heldIngestRounds = per<IngestFigures>();
  const separateWorker = stack.pids.worker !== stack.pids.api;
  const heldRaw: Held = { pid: stack.pids.noopWorker, cpu: { ...zeroCpu(), client: 0, count: 0 } };
  const heldOurs: Held = { pid: stack.pids.worker, cpu: { ...zeroCpu(), client: 0, count: 0 } };
  if (separateWorker) {
    for (let r = 1; r <= R; r++) {
      for (const c of profile.levels) {
        const order = r % 2 ? ['raw', 'ours'] : ['ours', 'raw'];
        for (const side of order) {
          if (side === 'raw') heldStartRounds[c]!.push(await rawTemporalStarts(c, profile.ingest[c]!, heldRaw));
          else heldIngestRounds[c]!.push(await ingestion(ingestOrg, c, profile.ingest[c]!, `c=${c} r${r} held`, undefined, heldOurs));
        }
        log(`[A' r${r}/${R} c=${c}] workers held: raw Temporal starts ${fmt(heldStartRounds[c]!.at(-1)!.rate)}/s | trigger ${fmt(heldIngestRounds[c]!.at(-1)!.rate)} 202/s p50 ${fmt(heldIngestRounds[c]!.at(-1)!.p50)} ms`);
      }
    }
  } else notes.push("A': not measured in PGlite mode (the API and the worker are one process)");
  const ingestedRuns = profile.levels.reduce((a, c) => a + ingestRounds[c]!.reduce((b, x) => b + x.accepted, 0), 0);

  // B. Raw Temporal (a) vs the sync webhook, interleaved.
  const temporalRounds = per<Figures & { count: number }>();
  const syncRounds = Object.fromEntries(profile.syncLevels.map((c) => [c, [] as Array<Figures & { calls: number }>])) as Record<number, Array<Figures & { calls: number }>>;
  const noopIds: string[] = [];
  for (let r = 1; r <= R; r++) {
    for (const c of profile.levels) {
      const cpuBefore = await cpuSnapshot();
      const raw = await rawTemporal(c, { durationMs: profile.temporalS * 1000 }, noopIds);
      addCpu(cpuNoop, cpuUse(cpuBefore, await cpuSnapshot()));
      noopWorkflows += raw.count;
      temporalRounds[c]!.push(raw);
      let line = `[B r${r}/${R} c=${c}] raw Temporal ${fmt(raw.rate)} wf/s p50 ${fmt(raw.p50)} ms p99 ${fmt(raw.p99)} ms`;
      if (profile.syncLevels.includes(c)) {
        const ours = await syncWebhook(syncOrg, c, profile.syncS, `c=${c} r${r}`);
        syncRounds[c]!.push(ours);
        line += ` | sync webhook ${fmt(ours.rate)}/s p50 ${fmt(ours.p50)} ms p99 ${fmt(ours.p99)} ms`;
      }
      log(line);
    }
  }

  // C. How to wait for a synchronous answer: update (the app) vs result(), alternating order.
  const waitRounds: Record<'update' | 'result', Record<number, WaitFigures[]>> = { update: {}, result: {} };
  const agentRunIds: string[] = [];
  for (let r = 1; r <= R; r++) {
    for (const c of profile.syncLevels) {
      const order: Array<'update' | 'result'> = r % 2 ? ['update', 'result'] : ['result', 'update'];
      for (const mode of order) {
        const figures = await syncWait(syncOrg, mode, c, profile.wait[c]!, `c=${c} r${r}`, agentRunIds);
        (waitRounds[mode][c] ??= []).push(figures);
        log(`[C r${r}/${R} c=${c}] ${mode.padEnd(6)} trigger→answer p50 ${fmt(figures.p50)} ms p99 ${fmt(figures.p99)} ms (wait alone p50 ${fmt(figures.waitP50)} ms)`);
      }
    }
  }

  // D. Delivery vs a raw POST loop to the same receiver.
  const postRounds: Record<number, Figures[]> = { 1: [], [DELIVERY_CONCURRENCY]: [] };
  const pacedRounds: DeliveryFigures[] = [];
  const deliveryRounds: DeliveryFigures[] = [];
  const failingRounds: DeliveryFigures[] = [];
  const limitedRounds: DeliveryFigures[] = [];
  const eventIds: string[] = [];
  const cpuDelivery = zeroCpu();
  let deliveredEvents = 0;
  for (let r = 1; r <= R; r++) {
    const raw1 = await rawPost(1, profile.rawPostS);
    postRounds[1]!.push(raw1);
    const paced = await delivery(deliveryOrg, deliveryAgent, endpoint.id, { events: profile.pacedDeliveries, concurrency: 1, failEvery: 0, paced: true }, eventIds);
    pacedRounds.push(paced);
    const raw = await rawPost(DELIVERY_CONCURRENCY, profile.rawPostS);
    postRounds[DELIVERY_CONCURRENCY]!.push(raw);
    const cpuBefore = await cpuSnapshot();
    const ok = await delivery(deliveryOrg, deliveryAgent, endpoint.id, { events: profile.deliveries, concurrency: DELIVERY_CONCURRENCY, failEvery: 0 }, eventIds);
    addCpu(cpuDelivery, cpuUse(cpuBefore, await cpuSnapshot()));
    deliveredEvents += ok.events;
    deliveryRounds.push(ok);
    const failing = await delivery(deliveryOrg, deliveryAgent, endpoint.id, { events: profile.deliveries, concurrency: DELIVERY_CONCURRENCY, failEvery: FAIL_EVERY }, []);
    failingRounds.push(failing);
    const limited = await delivery(limitedOrg, limitedAgent, limitedEndpoint.id, { events: profile.deliveries, concurrency: DELIVERY_CONCURRENCY, failEvery: 0 }, []);
    limitedRounds.push(limited);
    log(`[D r${r}/${R}] rate-limited endpoint (${RATE_LIMIT}/s): ${fmt(limited.rate)}/s, busiest 1 s window ${limited.busiest1s}`);
    log(
      `[D r${r}/${R}] one at a time: p50 ${fmt(paced.p50)} ms (raw POST ${fmt(raw1.p50)} ms) | ${profile.deliveries} at c=${DELIVERY_CONCURRENCY}: ${fmt(ok.rate)}/s p50 ${fmt(ok.p50)} ms p99 ${fmt(ok.p99)} ms (raw POST ${fmt(raw.rate)}/s) | ` +
        `10 % failing: ${fmt(failing.rate)}/s p99 ${fmt(failing.p99)} ms (${failing.attempts} attempts for ${failing.events})`,
    );
  }

  // E. Footprint.
  const memory = sampler.stop();
  const history = {
    noop: await historyOf(noopIds),
    agentRun: await historyOf((asyncRunIds.length ? asyncRunIds : agentRunIds).map((id) => `run-${id}`)),
    agentRunSync: await historyOf(agentRunIds.map((id) => `run-${id}`)),
    eventDelivery: await historyOf(eventIds.map((id) => `event-${id}`)) };

  // ---- the table -----------------------------------------------------------------------------------------
  const rows: Row[] = [];
  const add = (section: string, figure: string, ours: number, unit: string, baselineName: string, baseline: number, better: 'higher' | 'lower') =>
    rows.push({ section, figure, ours, unit, baselineName, baseline, ratio: ratio(ours, baseline), better });
  const med = <T>(list: T[], pick: (x: T) => number) => median(list.map(pick));

  const A = '1. Async trigger (POST /v1/agents/{id}/runs → 202) vs raw Koa (b) and raw Temporal (a)';
  for (const c of profile.levels) {
    const ours = ingestRounds[c]!;
    const koa = koaRounds[c]!;
    const raw = temporalRounds[c]!;
    add(A, `c=${c}: accepted 202/s`, med(ours, (x) => x.rate), '/s', `raw Koa req/s c=${c}`, med(koa, (x) => x.rate), 'higher');
    add(A, `c=${c}: accepted 202/s vs the engine's start rate (goal ≥ 0.8×)`, med(ours, (x) => x.rate), '/s', `raw Temporal workflow starts/s c=${c}`, med(startRounds[c]!, (x) => x.rate), 'higher');
    if (separateWorker) {
      add(
        A,
        `c=${c}: accepted 202/s vs the engine's start rate, both workers held (accepting alone)`,
        med(heldIngestRounds[c]!, (x) => x.rate),
        '/s',
        `raw Temporal starts/s c=${c}, its worker held`,
        med(heldStartRounds[c]!, (x) => x.rate),
        'higher',
      );
    }
    add(A, `c=${c}: 202 latency p50`, med(ours, (x) => x.p50), ' ms', `raw Koa p50 c=${c}`, med(koa, (x) => x.p50), 'lower');
    add(A, `c=${c}: 202 latency p99`, med(ours, (x) => x.p99), ' ms', `raw Koa p99 c=${c}`, med(koa, (x) => x.p99), 'lower');
    add(A, `c=${c}: runs completed/s (first request → last run completed; goal ≥ 0.75×)`, med(ours, (x) => x.completionRate), '/s', `raw Temporal wf/s c=${c}`, med(raw, (x) => x.rate), 'higher');
    const accepted = med(ours, (x) => x.accepted);
    add(A, `c=${c}: time until all ${accepted} accepted runs completed`, med(ours, (x) => x.completeS), ' s', `${accepted} no-op wf at raw Temporal rate`, accepted / med(raw, (x) => x.rate), 'lower');
  }
  const B = '2. Sync webhook (POST /api/webhook/{token} → 200 with the reply) vs raw Temporal execute (a)';
  for (const c of profile.syncLevels) {
    const ours = syncRounds[c]!;
    const raw = temporalRounds[c]!;
    add(B, `c=${c}: p50 end-to-end${c === 16 ? ' (goal ≤ 1.3×)' : ''}`, med(ours, (x) => x.p50), ' ms', `raw Temporal p50 c=${c}`, med(raw, (x) => x.p50), 'lower');
    add(B, `c=${c}: p99 end-to-end`, med(ours, (x) => x.p99), ' ms', `raw Temporal p99 c=${c}`, med(raw, (x) => x.p99), 'lower');
    add(B, `c=${c}: answers/s`, med(ours, (x) => x.rate), '/s', `raw Temporal wf/s c=${c}`, med(raw, (x) => x.rate), 'higher');
    add(B, `c=${c}: overhead = ours p50 − raw Temporal p50`, med(ours, (x) => x.p50) - med(raw, (x) => x.p50), ' ms', `raw Temporal p50 c=${c}`, med(raw, (x) => x.p50), 'lower');
  }
  const C = '3. Waiting for a synchronous answer: (i) workflow update runOutcome (the app) vs (ii) handle.result()';
  for (const c of profile.syncLevels) {
    const u = waitRounds.update[c]!;
    const res = waitRounds.result[c]!;
    add(C, `c=${c}: (i) update, trigger → answer p50`, med(u, (x) => x.p50), ' ms', `(ii) result() p50`, med(res, (x) => x.p50), 'lower');
    add(C, `c=${c}: (i) update, trigger → answer p99`, med(u, (x) => x.p99), ' ms', `(ii) result() p99`, med(res, (x) => x.p99), 'lower');
    add(C, `c=${c}: (i) update, wait alone (after the 202) p50`, med(u, (x) => x.waitP50), ' ms', `(ii) result() wait alone p50`, med(res, (x) => x.waitP50), 'lower');
  }
  const source = stack.db ? 'the bench stores + dispatches events' : 'run.completed events of triggered runs';
  const D = `4. Delivery to a local receiver (${source}) vs raw POST loop (c) to the same receiver`;
  const post1 = postRounds[1]!;
  const postN = postRounds[DELIVERY_CONCURRENCY]!;
  add(D, 'one event at a time: stored → receiver hit p50', med(pacedRounds, (x) => x.p50), ' ms', 'raw POST p50 c=1', med(post1, (x) => x.p50), 'lower');
  add(D, 'one event at a time: stored → receiver hit p99', med(pacedRounds, (x) => x.p99), ' ms', 'raw POST p99 c=1', med(post1, (x) => x.p99), 'lower');
  const n = `${profile.deliveries} events, ${DELIVERY_CONCURRENCY} dispatched at a time`;
  add(D, `${n}: events delivered/s`, med(deliveryRounds, (x) => x.rate), '/s', `raw POST req/s c=${DELIVERY_CONCURRENCY}`, med(postN, (x) => x.rate), 'higher');
  add(D, `${n}: stored → hit p50 (queueing included)`, med(deliveryRounds, (x) => x.p50), ' ms', `raw POST p50 c=${DELIVERY_CONCURRENCY}`, med(postN, (x) => x.p50), 'lower');
  add(D, `${n}: stored → hit p99 (queueing included)`, med(deliveryRounds, (x) => x.p99), ' ms', `raw POST p99 c=${DELIVERY_CONCURRENCY}`, med(postN, (x) => x.p99), 'lower');
  add(D, `${n}, 10 % failing receiver (retry after 1 s): delivered/s`, med(failingRounds, (x) => x.rate), '/s', `raw POST req/s c=${DELIVERY_CONCURRENCY}`, med(postN, (x) => x.rate), 'higher');
  add(D, `${n}, 10 % failing receiver: stored → delivered p50`, med(failingRounds, (x) => x.p50), ' ms', `raw POST p50 c=${DELIVERY_CONCURRENCY}`, med(postN, (x) => x.p50), 'lower');
  add(D, `${n}, 10 % failing receiver: stored → delivered p99`, med(failingRounds, (x) => x.p99), ' ms', `raw POST p99 c=${DELIVERY_CONCURRENCY}`, med(postN, (x) => x.p99), 'lower');
  // The limit is the baseline here: the rate should approach it and the busiest second never pass it.
  add(D, `${n}, endpoint limited to ${RATE_LIMIT}/s: delivered/s`, med(limitedRounds, (x) => x.rate), '/s', 'rate_limit_per_second', RATE_LIMIT, 'higher');
  add(D, `${n}, endpoint limited to ${RATE_LIMIT}/s: busiest 1 s window`, Math.max(...limitedRounds.map((x) => x.busiest1s)), ' deliveries', 'rate_limit_per_second', RATE_LIMIT, 'lower');
  const E = '5. Footprint';
  const mb = (bytes: number) => bytes / 2 ** 20;
  const same = stack.pids.api === stack.pids.worker;
  add(E, same ? 'dev process (api + worker) peak RSS (VmHWM)' : 'api peak RSS (VmHWM)', mb(memory.api!.vmHwm), ' MiB', 'raw Koa process peak RSS', mb(memory.koaBaseline!.vmHwm), 'lower');
  if (!same) add(E, 'worker peak RSS (VmHWM)', mb(memory.worker!.vmHwm), ' MiB', 'no-op worker process peak RSS', mb(memory.noopWorker!.vmHwm), 'lower');
  add(E, 'Temporal dev server peak RSS (VmHWM)', mb(memory.temporal!.vmHwm), ' MiB', 'its RSS idle, after start-up', mb(temporalIdle?.rss ?? Number.NaN), 'lower');
  const perRun = (ms: number) => ms / ingestedRuns;
  const perNoop = (ms: number) => ms / noopWorkflows;
  const noopCpu = perNoop(cpuNoop.noopWorker + cpuNoop.temporal);
  add(
    E,
    same
      ? `CPU per async run (dev process ${fmt(perRun(cpuIngest.api))} + Temporal ${fmt(perRun(cpuIngest.temporal))} ms)`
      : `CPU per async run, all processes (api ${fmt(perRun(cpuIngest.api))} + worker ${fmt(perRun(cpuIngest.worker))} + Temporal ${fmt(perRun(cpuIngest.temporal))} + Postgres ≈${fmt(perRun(cpuIngest.postgres))} ms)`,
    perRun(cpuIngest.api + cpuIngest.worker + cpuIngest.temporal + cpuIngest.postgres),
    ' ms',
    `CPU per no-op wf (worker ${fmt(perNoop(cpuNoop.noopWorker))} + Temporal ${fmt(perNoop(cpuNoop.temporal))} ms)`,
    noopCpu,
    'lower',
  );
  if (!same && heldOurs.cpu.count && heldRaw.cpu.count) {
    // Section A' (workers held): what accepting alone costs, every process but the held worker.
    const o = heldOurs.cpu;
    const w = heldRaw.cpu;
    const per = (ms: number, n: number) => ms / n;
    add(
      E,
      `CPU per accepted run, workers held (api ${fmt(per(o.api, o.count))} + Temporal ${fmt(per(o.temporal, o.count))} + Postgres ≈${fmt(per(o.postgres, o.count))} + bench client ${fmt(per(o.client, o.count))} ms)`,
      per(o.api + o.temporal + o.postgres + o.client, o.count),
      ' ms',
      `CPU per raw start, its worker held (Temporal ${fmt(per(w.temporal, w.count))} + bench client ${fmt(per(w.client, w.count))} ms)`,
      per(w.temporal + w.client, w.count),
      'lower',
    );
  }
  if (!same) add(E, 'CPU per async run, worker + Temporal only (goal ≤ 1.3×)', perRun(cpuIngest.worker + cpuIngest.temporal), ' ms', 'CPU per no-op wf (worker + Temporal)', noopCpu, 'lower');
  const perEvent = (ms: number) => ms / deliveredEvents;
  add(
    E,
    same
      ? `CPU per delivered event (dev process ${fmt(perEvent(cpuDelivery.api))} + Temporal ${fmt(perEvent(cpuDelivery.temporal))} ms)`
      : `CPU per delivered event (worker ${fmt(perEvent(cpuDelivery.worker))} + Temporal ${fmt(perEvent(cpuDelivery.temporal))} + Postgres ≈${fmt(perEvent(cpuDelivery.postgres))} ms)`,
    perEvent(cpuDelivery.api + cpuDelivery.worker + cpuDelivery.temporal + cpuDelivery.postgres),
    ' ms',
    'CPU per no-op wf (worker + Temporal)',
    noopCpu,
    'lower',
  );
  if (dbBefore && dbAfter && ingestedRuns) {
    add(E, 'DB rows per async run', (dbAfter.rows - dbBefore.rows) / ingestedRuns, '', 'Temporal history events, no-op wf', history.noop.events, 'lower');
    const dbPerRun = perRunDelta(dbBefore, dbAfter, ingestedRuns);
    // The figure the footprint test holds to its budget (issue 19's ≤ 5 KB): heap pages' free space is room, not cost.
    add(E, 'DB bytes per async run (pg_total_relation_size Δ − heap free space; goal ≤ 5 KB)', dbPerRun.usedBytes, ' B', 'Temporal history bytes, no-op wf', history.noop.bytes, 'lower');
    add(E, 'DB bytes per async run (pg_total_relation_size Δ, free space included)', dbPerRun.bytes, ' B', 'Temporal history bytes, no-op wf', history.noop.bytes, 'lower');
    add(E, 'DB bytes per async run (row data, pg_column_size Δ)', (dbAfter.dataBytes - dbBefore.dataBytes) / ingestedRuns, ' B', 'Temporal history bytes, no-op wf', history.noop.bytes, 'lower');
  }
  add(E, 'Temporal history bytes per agentRun', history.agentRun.bytes, ' B', 'Temporal history bytes, no-op wf', history.noop.bytes, 'lower');
  add(E, 'Temporal history events per async agentRun (goal ≤ 16)', history.agentRun.events, '', 'Temporal history events, no-op wf', history.noop.events, 'lower');
  add(E, 'Temporal history events per agentRun awaited with the runOutcome update', history.agentRunSync.events, '', 'Temporal history events, no-op wf', history.noop.events, 'lower');
  add(E, 'Temporal history bytes per eventDelivery', history.eventDelivery.bytes, ' B', 'Temporal history bytes, no-op wf', history.noop.bytes, 'lower');

  const finishedAt = new Date();
  const durationS = (finishedAt.getTime() - startedAt.getTime()) / 1000;
  const loadEnd = loadavg().map((l) => Math.round(l * 100) / 100);
  process.stdout.write(`\n${renderText(rows)}\n\n`);
  for (const note of notes) process.stdout.write(`NOTE: ${note}\n`);

  const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z');
  const resultsDir = resolve('bench/results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${stamp}${quick ? '-quick' : ''}.json`);
  const perTableDelta =
    dbBefore && dbAfter
      ? Object.fromEntries(
          Object.keys(dbAfter.perTable).map((t) => {
            const a = dbAfter.perTable[t]!;
            const b = dbBefore.perTable[t] ?? { rows: 0, bytes: 0, dataBytes: 0 };
            return [t, { rows: a.rows - b.rows, bytes: a.bytes - b.bytes, dataBytes: a.dataBytes - b.dataBytes }];
          }),
        )
      : undefined;
  const results = {
    startedAt: startedAt.toISOString(),
    durationS,
    profile: quick ? 'quick' : 'full',
    mode: stack.mode,
    machine: { ...machine, loadAverageAtEnd: loadEnd },
    versions: { node: process.version, ...stack.versions },
    database: stack.databaseLabel,
    settings: { ...profile, deliveryConcurrency: DELIVERY_CONCURRENCY, failEvery: FAIL_EVERY, retrySchedule: RETRY_SCHEDULE, logLevel: 'info' },
    notes,
    table: rows,
    raw: {
      rawKoa: koaRounds,
      rawTemporalStarts: startRounds,
      rawTemporalStartsWorkerHeld: heldStartRounds,
      ingestionWorkerHeld: heldIngestRounds,
      cpuWorkersHeld: { ours: heldOurs.cpu, raw: heldRaw.cpu },
      rawTemporal: temporalRounds,
      rawPost: postRounds,
      ingestion: ingestRounds,
      syncWebhook: syncRounds,
      syncWait: waitRounds,
      deliveryOneAtATime: pacedRounds,
      delivery: deliveryRounds,
      deliveryFailing: failingRounds,
      deliveryRateLimited: limitedRounds,
      memory,
      temporalIdleRss: temporalIdle?.rss,
      cpu: { ingestion: { ...cpuIngest, runs: ingestedRuns }, noop: { ...cpuNoop, workflows: noopWorkflows }, delivery: { ...cpuDelivery, events: deliveredEvents } },
      history,
      db:
        dbBefore && dbAfter
          ? {
              ingestedRuns,
              before: { rows: dbBefore.rows, bytes: dbBefore.bytes, freeBytes: dbBefore.freeBytes, dataBytes: dbBefore.dataBytes },
              after: { rows: dbAfter.rows, bytes: dbAfter.bytes, freeBytes: dbAfter.freeBytes, dataBytes: dbAfter.dataBytes },
              perTableDelta,
              perRelationPerRun: perRunDelta(dbBefore, dbAfter, ingestedRuns || 1).relations,
            }
          : undefined,
    },
  };
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  log(`results written to ${file}`);

  if (!args.has('--no-md') && (!quick || args.has('--md'))) {
    const v = stack.versions;
    const md = [
      `Generated by \`npm run bench${quick ? ' -- --quick' : ''}\` on ${startedAt.toISOString()} in ${fmt(durationS)} s (raw figures: \`bench/results/${file.split('/').pop()}\`).`,
      '',
      `Machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.memoryGiB} GiB RAM, Linux ${machine.kernel}; Node ${process.version}; ${v.postgres === 'n/a (PGlite)' ? 'PGlite' : `PostgreSQL ${v.postgres}`}; ${v.temporal}; Temporal TypeScript SDK ${v.sdk}. ` +
        `Load average ${machine.loadAverageAtStart.join(' / ')} at start, ${loadEnd.join(' / ')} at the end (other work shared the machine).`,
      '',
      `Stack: ${stack.mode === 'postgres' ? `the compiled build (\`npm run build\`), \`node dist/src/main.js\` and \`node dist/src/worker.js\` as separate processes with the image's NODE_OPTIONS (${stack.nodeOptions}) and prebuilt workflow bundle, on a fresh PostgreSQL database (created and dropped by the bench)` : 'the single-process dev launcher `src/dev.ts` (tsx) on PGlite'}, ` +
        `Temporal dev server (SQLite file + WAL), LOG_LEVEL=info, DELIVERY_RETRY_SCHEDULE=${RETRY_SCHEDULE}, echo agent; code at ${machine.code}. Every figure is the median of ${R} rounds.`,
      '',
      renderMarkdown(rows),
      ...(notes.length ? ['', 'Notes from this run:', '', ...notes.map((n) => `- ${n}`)] : []),
    ].join('\n');
    updateBenchmarksMd(resolve('BENCHMARKS.md'), md);
    log('BENCHMARKS.md updated');
  }
}

try {
  await main();
  log('done: stopping the stack');
  await shutdown(0);
} catch (err) {
  if (!interrupted) log(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await shutdown(1);
}
