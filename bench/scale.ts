import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { computeDatabaseTotals } from '../src/db/metrics.js';
import { encodeCursor } from '../src/db/pagination.js';
import { closedLoop } from './lib/load.js';
import { databaseBytes, growRuns, settle, type ScaleOrg } from './lib/scaleSeed.js';
import { startStack, type Stack } from './lib/stack.js';
import { fmt } from './lib/stats.js';

/**
 * `npm run bench -- --scale [--scale-runs N] [--no-md]`: the "data at scale" section (#19.6).
 * Grows one org to 10k, 100k, … N runs (default 1,000,000) with their events, deliveries,
 * attempts and ledger rows (bench/lib/scaleSeed.ts, generate_series) beside a tiny org, and at
 * each size times the issue's requests (p50/p99 ms over a closed loop at concurrency 4) and the
 * run acceptance rate; at the largest size the tiny org too. Writes bench/results/scale-*.json
 * and the "Data at scale" section of BENCHMARKS.md (before = the issue's measurement).
 */
const argv = process.argv.slice(2);
const optionValue = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const TARGET = Number(optionValue('--scale-runs') ?? 1_000_000);
if (!Number.isInteger(TARGET) || TARGET < 1_000) throw new Error('--scale-runs must be a whole number ≥ 1000');
const STEPS = [...new Set([10_000, 100_000, 1_000_000].filter((s) => s < TARGET).concat(TARGET))].sort((a, b) => a - b);
const CONCURRENCY = 4;
const GET_MS = 4_000;
const POST_MS = 8_000;
const SMALL_RUNS = 200;

const began = performance.now();
const log = (line: string) => process.stdout.write(`[${((performance.now() - began) / 1000).toFixed(1).padStart(7)}s] ${line}\n`);
const load = () => loadavg().map((l) => Math.round(l * 100) / 100);

let stack: Stack | undefined;
let closing: Promise<void> | undefined;
const close = () =>
  (closing ??= (stack?.close() ?? Promise.resolve()).catch((err: unknown) => {
    log(`cleanup failed: ${String(err)}`);
  }));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping the scale stack …`);
    void close().then(() => process.exit(130));
  });
}

async function call(path: string, key: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${stack!.apiUrl}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
async function must(path: string, key: string, body: unknown, status: number): Promise<any> {
  const answer = await call(path, key, body);
  if (answer.status !== status) throw new Error(`${path}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

interface Org extends ScaleOrg {
  key: string;
}
async function newOrg(name: string): Promise<Org> {
  const created = await must('/v1/admin/orgs', stack!.adminToken, { name, credits: 100_000_000 }, 201);
  const key = created.api_key.key as string;
  const agentId = (await must('/v1/agents', key, { name: `${name} agent`, provider: { kind: 'echo' } }, 201)).id as string;
  const endpointUrl = `${stack!.receiverUrl}/scale`;
  const endpointId = (await must('/v1/endpoints', key, { url: endpointUrl, events: ['run.completed'] }, 201)).id as string;
  return { orgId: created.org.id, agentId, endpointId, endpointUrl, key };
}

interface Timing {
  p50: number;
  p99: number;
  n: number;
  rate: number;
  errors: number;
}
async function timeRequest(path: string, key: string, method: 'GET' | 'POST' = 'GET', durationMs = method === 'GET' ? GET_MS : POST_MS): Promise<Timing> {
  const ok = method === 'GET' ? 200 : 202;
  const result = await closedLoop(CONCURRENCY, { durationMs }, async () => {
    const response = await fetch(`${stack!.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: method === 'POST' ? JSON.stringify({ message: 'Scale bench: summarise ticket #1' }) : undefined,
    });
    await response.arrayBuffer();
    if (response.status !== ok) throw new Error(`${path} answered ${response.status}`);
  });
  if (result.firstError) log(`  ${path}: ${result.errors} errors, first: ${result.firstError}`);
  return { p50: result.p50, p99: result.p99, n: result.values.length, rate: result.rate, errors: result.errors };
}

/** The cursor naming the run at position `offset` (0-based, newest first): what following next_cursor that deep yields. */
async function cursorAt(orgId: string, offset: number): Promise<string> {
  const row = await sql<{ at: string; id: string }>`
    select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, id from runs where org_id = ${orgId}::uuid
    order by created_at desc, id desc offset ${offset} limit 1`.execute(stack!.db!);
  const found = row.rows[0];
  if (found) return encodeCursor(found);
  const last = await sql<{ at: string; id: string }>`
    select to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at, id from runs where org_id = ${orgId}::uuid
    order by created_at asc, id asc limit 1`.execute(stack!.db!);
  return encodeCursor(last.rows[0]!);
}

const REQUESTS = [
  { label: 'GET /v1/runs?limit=20', path: () => '/v1/runs?limit=20' },
  { label: 'GET /v1/runs?page=1000 (deepest page number: item 9,991)', path: () => '/v1/runs?page=1000' },
  { label: 'GET /v1/runs?cursor=… (item 19,991, where page=2000 was)', path: (_o: Org, deep: string) => `/v1/runs?cursor=${encodeURIComponent(deep)}` },
  { label: 'GET /v1/runs?status=completed&agent_id=…', path: (o: Org) => `/v1/runs?status=completed&agent_id=${o.agentId}` },
  { label: 'GET /v1/events?limit=20', path: () => '/v1/events?limit=20' },
  { label: 'GET /v1/endpoints/{id}/deliveries', path: (o: Org) => `/v1/endpoints/${o.endpointId}/deliveries` },
  { label: 'GET /v1/credits', path: () => '/v1/credits' },
] as const;

interface Measured {
  runs: number;
  loadAverage: number[];
  bytes: number;
  requests: Record<string, Timing>;
  trigger: Timing;
  metricsScrapeMs: number[];
  gaugeRecomputeMs: number;
}

async function measure(org: Org, runs: number): Promise<Measured> {
  const deep = await cursorAt(org.orgId, 19_990);
  const requests: Record<string, Timing> = {};
  for (const request of REQUESTS) {
    requests[request.label] = await timeRequest(request.path(org, deep), org.key);
    log(`  ${request.label}: p50 ${fmt(requests[request.label]!.p50)} ms, p99 ${fmt(requests[request.label]!.p99)} ms (${requests[request.label]!.n} requests)`);
  }
  const trigger = await timeRequest(`/v1/agents/${org.agentId}/runs`, org.key, 'POST');
  log(`  POST /v1/agents/{id}/runs: p50 ${fmt(trigger.p50)} ms, p99 ${fmt(trigger.p99)} ms, ${fmt(trigger.rate)} accepted/s`);
  const metricsScrapeMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await (await fetch(`${stack!.apiUrl}/metrics`)).text();
    metricsScrapeMs.push(performance.now() - t0);
  }
  const t0 = performance.now();
  await computeDatabaseTotals(stack!.db!);
  const gaugeRecomputeMs = performance.now() - t0;
  log(`  GET /metrics: ${metricsScrapeMs.map((m) => fmt(m)).join(', ')} ms; the interval's one recompute (one process, background): ${fmt(gaugeRecomputeMs)} ms`);
  return { runs, loadAverage: load(), bytes: await databaseBytes(stack!.db!), requests, trigger, metricsScrapeMs, gaugeRecomputeMs };
}

/** The issue's measurement (#19), before this work: p50/p99 ms at 10k, 100k, 1M and the small org at 1M. */
const BEFORE: [string, string, string, string, string][] = [
  ['GET /v1/runs?limit=20', '7.7/29', '15/39', '96/153', '3.8/18'],
  ['GET /v1/runs?page=2000', '17/31', '60/89', '141/189', '4.3/14'],
  ['GET /v1/runs?status=completed&agent_id=…', '10/33', '26/44', '310/470', '4.9/14'],
  ['GET /v1/events?limit=20', '15/48', '83/121', '577/759', '3.8/20'],
  ['GET /v1/endpoints/{id}/deliveries', '25/50', '138/207', '860/1307', '5.4/15'],
  ['GET /v1/credits', '12/43', '28/60', '348/545', '3.8/17'],
  ['POST /v1/agents/{id}/runs', '202/662', '152/416', '566/1390 (6 req/s)', '141/303 (26 req/s)'],
  ['GET /metrics (one scrape)', '41–44', '102–118', '597–821', '—'],
];

/**
 * Run acceptance of the big org against the small one in interleaved rounds (big, small, small,
 * big, …), so the shared machine's load swings weigh on both alike: accepted runs / seconds.
 */
interface Interleaved {
  big: number;
  small: number;
  rounds: { org: 'big' | 'small'; rate: number }[];
}
async function interleavedAcceptance(big: Org, small: Org, rounds = 3): Promise<Interleaved> {
  const order: ('big' | 'small')[] = [];
  for (let i = 0; i < rounds; i++) order.push(...(i % 2 ? (['small', 'big'] as const) : (['big', 'small'] as const)));
  const done: Interleaved['rounds'] = [];
  const totals = { big: { n: 0, s: 0 }, small: { n: 0, s: 0 } };
  for (const which of order) {
    const org = which === 'big' ? big : small;
    const t0 = performance.now();
    const timing = await timeRequest(`/v1/agents/${org.agentId}/runs`, org.key, 'POST', 4_000);
    const seconds = (performance.now() - t0) / 1000;
    totals[which].n += timing.n;
    totals[which].s += seconds;
    done.push({ org: which, rate: timing.n / seconds });
  }
  return { big: totals.big.n / totals.big.s, small: totals.small.n / totals.small.s, rounds: done };
}

const cell = (t: Timing) => `${fmt(t.p50)}/${fmt(t.p99)}`;
const sizeLabel = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1_000}k`);

function render(steps: Measured[], small: Measured, interleaved: Interleaved, startedAt: Date, durationS: number, file: string): string {
  const head = ['request', ...steps.map((s) => sizeLabel(s.runs)), `small org at ${sizeLabel(steps.at(-1)!.runs)}`];
  const rows: string[][] = REQUESTS.map((r) => [r.label, ...steps.map((s) => cell(s.requests[r.label]!)), cell(small.requests[r.label]!)]);
  rows.push(['POST /v1/agents/{id}/runs', ...steps.map((s) => `${cell(s.trigger)} (${fmt(s.trigger.rate)} req/s)`), `${cell(small.trigger)} (${fmt(small.trigger.rate)} req/s)`]);
  const scrape = (m: Measured) => `${fmt(Math.min(...m.metricsScrapeMs))}–${fmt(Math.max(...m.metricsScrapeMs))}`;
  rows.push(['GET /metrics (one scrape)', ...steps.map(scrape), scrape(small)]);
  rows.push(['(the one background recompute per interval, one process)', ...steps.map((s) => fmt(s.gaugeRecomputeMs)), '—']);
  const first = steps[0]!;
  const last = steps.at(-1)!;
  const checks = REQUESTS.map((r) => {
    const ratio = last.requests[r.label]!.p50 / first.requests[r.label]!.p50;
    return `- ${r.label}: p50 at ${sizeLabel(last.runs)} is ${ratio.toFixed(2)}× its ${sizeLabel(first.runs)} figure (${ratio <= 2 ? 'within' : 'NOT within'} 2×)`;
  });
  const triggerRatio = last.trigger.p50 / first.trigger.p50;
  checks.push(`- POST /v1/agents/{id}/runs: p50 at ${sizeLabel(last.runs)} is ${triggerRatio.toFixed(2)}× its ${sizeLabel(first.runs)} figure (${triggerRatio <= 2 ? 'within' : 'NOT within'} 2×)`);
  const rateRatio = interleaved.big / interleaved.small;
  checks.push(
    `- run acceptance, ${interleaved.rounds.length} interleaved rounds of 4 s (${interleaved.rounds.map((r) => `${r.org} ${fmt(r.rate)}/s`).join(', ')}): ` +
      `the big org at ${sizeLabel(last.runs)} accepts ${fmt(interleaved.big)} runs/s against the small org's ${fmt(interleaved.small)} (${rateRatio.toFixed(2)}×; target ≥ 0.8×)`,
  );
  const table = (h: string[], body: string[][]) => [`| ${h.join(' | ')} |`, `|${h.map((_, i) => (i ? '---:' : '---')).join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  return [
    '## Data at scale',
    '',
    `Generated by \`npm run bench -- --scale${TARGET === 1_000_000 ? '' : ` --scale-runs ${TARGET}`}\` on ${startedAt.toISOString()} in ${fmt(durationS)} s (raw figures: \`bench/results/${file}\`). ` +
      `One org grown to ${steps.map((s) => sizeLabel(s.runs)).join(', ')} runs by \`bench/lib/scaleSeed.ts\` (generate_series; per run: the run, 2 run events, 1 event, its delivery with 1 attempt, 1 ledger charge; no conversation messages) ` +
      `beside a tiny org of ${SMALL_RUNS} runs; API and worker as separate processes on PostgreSQL, echo agent. p50/p99 ms of a closed loop at concurrency ${CONCURRENCY} ` +
      `(${GET_MS / 1000} s per GET, ${POST_MS / 1000} s of POSTs while the worker completes them); ${availableParallelism()} CPUs shared with other work: ` +
      `load average ${steps.map((s) => `${s.loadAverage[0]} at ${sizeLabel(s.runs)}`).join(', ')}, ${small.loadAverage[0]} for the small org. Database size at ${sizeLabel(last.runs)}: ${fmt(last.bytes / 2 ** 30)} GiB.`,
    '',
    'Absolute figures follow the machine\'s load (load averages above 20 on 2 cores make even the 10k column several times the issue\'s): compare each column with the 10k column of the same run, ' +
      'and the big org\'s run acceptance with the small org\'s in the interleaved rounds below rather than in the table\'s single windows.',
    '',
    '**Before** (the measurement of issue #19, exact `count(*)` per list, OFFSET pages, ledger SUMs, per-scrape aggregates):',
    '',
    table(['request', '10k', '100k', '1M', 'small org at 1M'], BEFORE.map((r) => [...r])),
    '',
    '**After** (keyset pagination with the total counted up to 10,000, `(created_at, id)` indexes per filter, kept balance, gauges computed by one process per interval):',
    '',
    table(head, rows),
    '',
    '`page=2000` (offset 19,990 at the default limit 10) now answers 422: page numbers reach the first 10,000 items; the same position is read by following `next_cursor` (the `cursor=…` row). ' +
      '`page=1000` is the deepest page a number reaches.',
    '',
    'Acceptance (#19):',
    '',
    ...checks,
  ].join('\n');
}

const START = '<!-- bench:scale:start -->';
const END = '<!-- bench:scale:end -->';
function updateScaleSection(path: string, generated: string): void {
  const block = `${START}\n${generated.trim()}\n${END}`;
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const from = text.indexOf(START);
  const to = text.indexOf(END);
  writeFileSync(path, from >= 0 && to > from ? `${text.slice(0, from)}${block}${text.slice(to + END.length)}` : `${text.trimEnd()}\n\n${block}\n`);
}

async function main() {
  const startedAt = new Date();
  log(`data at scale: steps ${STEPS.map(sizeLabel).join(' → ')}, load average ${load().join(' ')}`);
  stack = await startStack({ forcePglite: false, retrySchedule: '1s,1s,1s', logLevel: 'info', log });
  if (stack.mode !== 'postgres' || !stack.db) throw new Error('the scale bench needs PostgreSQL (DATABASE_URL or a local server)');
  const big = await newOrg('Scale big org');
  const small = await newOrg('Scale small org');
  // The seeded history ends an hour ago: runs the bench creates sort first, as new runs do.
  const newest = new Date(Date.now() - 3_600_000);
  await growRuns(stack.db, small, 0, SMALL_RUNS, newest, log);
  const measured: Measured[] = [];
  let seeded = 0;
  for (const step of STEPS) {
    const t0 = performance.now();
    await growRuns(stack.db, big, seeded, step, newest, log);
    seeded = step;
    await settle(stack.db);
    log(`big org at ${sizeLabel(step)} runs (seeded and vacuumed in ${fmt((performance.now() - t0) / 1000)} s, database ${fmt((await databaseBytes(stack.db)) / 2 ** 30)} GiB); load average ${load().join(' ')}`);
    measured.push(await measure(big, step));
  }
  log(`small org (${SMALL_RUNS} runs) beside the big one at ${sizeLabel(seeded)}:`);
  const smallMeasured = await measure(small, SMALL_RUNS);
  const interleaved = await interleavedAcceptance(big, small);
  log(`run acceptance, interleaved: big ${fmt(interleaved.big)}/s, small ${fmt(interleaved.small)}/s`);
  const durationS = (performance.now() - began) / 1000;
  mkdirSync(resolve('bench/results'), { recursive: true });
  const file = `scale-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`;
  writeFileSync(join(resolve('bench/results'), file), `${JSON.stringify({ startedAt, target: TARGET, steps: measured, small: smallMeasured, interleaved }, null, 2)}\n`);
  const md = render(measured, smallMeasured, interleaved, startedAt, durationS, file);
  process.stdout.write(`\n${md}\n`);
  if (!argv.includes('--no-md')) {
    updateScaleSection(resolve('BENCHMARKS.md'), md);
    log('BENCHMARKS.md: "Data at scale" updated');
  }
}

try {
  await main();
  await close();
} catch (err) {
  log(`scale bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  await close();
  process.exitCode = 1;
}
